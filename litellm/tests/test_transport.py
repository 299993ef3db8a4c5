"""Transport failures, HTTP answers and secrets: each case is played by a real server on 127.0.0.1.

Every test runs the check the way the Agent does (`check.run()`), with the log captured at DEBUG, and the
`no_leak` teardown then proves the key appears in no log line, error, traceback, tag or service-check message.
"""

import gzip
import json
import logging
import re
import threading

import pytest

from datadog_checks.base.constants import ServiceCheck
from datadog_checks.litellm import LitellmCheck

from . import misbehaving_server as raw
from .common import NEWEST, read_fixture
from .http_server import Response

TOKEN = 'sk-SECRET-7f3a9c0d2b6e4a81'
AUTH = {'Authorization': f'Bearer {TOKEN}'}
HEALTH = 'litellm.openmetrics.health'
CLOCK_METRICS = {'litellm.process.uptime.seconds'}  # now - start time: differs between any two scrapes
BODY = read_fixture('real', NEWEST, 'metrics.txt')
HTML = b'<!DOCTYPE html>\n<html><head><title>Sign in - Example SSO</title></head><body>Log in</body></html>\n'
# What LiteLLM (1.99 and later) answers on /metrics without a key: a JSON string, status 401.
UNAUTHORIZED = json.dumps('Unauthorized access to metrics endpoint: No api key passed in.').encode()


class Outcome:
    def __init__(self, check, error, aggregator):
        self.check = check
        self.error = error  # the run's error report (message + traceback), '' when the run succeeded
        health = aggregator.service_checks(HEALTH)
        assert len(health) == 1, [(h.status, h.message) for h in health]  # exactly one verdict per run
        self.status = health[0].status
        self.message = health[0].message
        self.scraper = next(iter(check.scrapers.values()))


class LogLines(logging.Handler):
    """Every log line of any logger, formatted as a handler would write it (exception text included)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter('%(levelname)s %(name)s %(message)s'))
        self.lines = []

    def emit(self, record):
        self.lines.append(self.format(record))


@pytest.fixture
def no_leak(aggregator, caplog):
    """Yields `scrape(instance)`; afterwards, the key must be nowhere the check wrote to."""
    caplog.set_level(logging.DEBUG)
    logs = LogLines()
    logging.getLogger().addHandler(logs)
    errors = []

    def scrape(instance, check=None):
        check = check or LitellmCheck('litellm', {}, [{'collect_readiness': False, **instance}])
        report = check.run()
        error = ''
        if report:
            error = json.loads(report)[0]
            error = error['message'] + '\n' + error['traceback']
        errors.append(error)
        return Outcome(check, error, aggregator)

    yield scrape

    logging.getLogger().removeHandler(logs)
    assert any(line.startswith('DEBUG') for line in logs.lines)  # the capture did see DEBUG lines
    written = logs.lines + errors
    for name in aggregator.metric_names:
        written.extend(tag for m in aggregator.metrics(name) for tag in m.tags)
    for checks in aggregator._service_checks.values():
        written.extend(sc.message or '' for sc in checks)
        written.extend(tag for sc in checks for tag in sc.tags)
    for text in written:
        assert TOKEN not in text and TOKEN[-16:] not in text, text


@pytest.fixture
def raw_server():
    servers = []

    def start(play, tls=None):
        server = raw.RawServer(play, tls=tls).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


@pytest.fixture(autouse=True)
def scrape_only(monkeypatch):
    """Only the scrape talks to the servers here: the version lookup (metadata) and readiness stay quiet."""
    monkeypatch.setattr(LitellmCheck, 'is_metadata_collection_enabled', staticmethod(lambda: False))


@pytest.fixture
def release():
    """Set at the end of the test: stalled plays give up."""
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture(scope='module')
def reference():
    """{(metric, tags without endpoint): value} of a clean scrape of BODY: what a partial scrape may submit."""
    from datadog_checks.base.stubs import aggregator as stub

    stub.reset()
    with raw.RawServer(raw.send(raw.http_response(BODY))) as server:
        check = LitellmCheck(
            'litellm', {}, [{'openmetrics_endpoint': f'{server.base_url}/metrics/', 'collect_readiness': False}]
        )
        assert not check.run()
    values = submitted(stub)
    stub.reset()
    assert len(values) > 500
    return values


def submitted(aggregator):
    values = {}
    for name in aggregator.metric_names:
        if name.startswith('litellm.scrape.') or name in CLOCK_METRICS:
            continue
        for m in aggregator.metrics(name):
            key = (name, tuple(sorted(t for t in m.tags if not t.startswith('endpoint:'))))
            values.setdefault(key, []).append(m.value)
    return values


def assert_only_true_values(aggregator, reference):
    """Every series submitted carries exactly the value a complete scrape gives it."""
    got = submitted(aggregator)
    for key, values in got.items():
        assert key in reference, key
        assert values == reference[key], key
    return got


def instance(url, **options):
    return {'openmetrics_endpoint': url, 'headers': dict(AUTH), **options}


def assert_failed(outcome, *phrases):
    """CRITICAL with a message that says what to do, and the same words in the run's error."""
    assert outcome.status == ServiceCheck.CRITICAL
    for phrase in phrases:
        assert phrase in outcome.message, outcome.message
        assert phrase in outcome.error, outcome.error
    assert outcome.scraper.flush_first_value is not True  # the base's restart protection holds


# Transport


def test_connection_refused(no_leak, aggregator):
    outcome = no_leak(instance(f'http://127.0.0.1:{raw.unused_port()}/metrics/'))
    assert_failed(outcome, 'Connection refused by 127.0.0.1:', 'Check that the LiteLLM proxy is running')
    assert not aggregator.metric_names


def test_ignore_connection_errors_keeps_the_health_but_not_the_run_error(no_leak, aggregator):
    outcome = no_leak(instance(f'http://127.0.0.1:{raw.unused_port()}/metrics/', ignore_connection_errors=True))
    assert outcome.status == ServiceCheck.CRITICAL and 'Connection refused by 127.0.0.1:' in outcome.message
    assert not outcome.error


def test_unknown_host(no_leak, aggregator):
    outcome = no_leak(instance('http://litellm-proxy.invalid:4000/metrics/'))
    assert_failed(outcome, 'Cannot resolve the host name in `http://litellm-proxy.invalid:4000/metrics/`')
    assert not aggregator.metric_names


def test_connect_timeout_honours_the_instance_timeout(no_leak, aggregator):
    with raw.FullBacklog() as server:
        outcome = no_leak(instance(f'{server.base_url}/metrics/', timeout=0.5))
    assert_failed(outcome, 'No TCP connection to 127.0.0.1:', 'within 0.5 s')
    assert not aggregator.metric_names


def test_read_timeout_honours_the_instance_timeout(no_leak, aggregator, raw_server, release):
    # The server answers after 5 s: with the default timeout (10 s) this scrape would succeed.
    server = raw_server(raw.stall(release, then=raw.send(raw.http_response(BODY))))
    outcome = no_leak(instance(f'{server.base_url}/metrics/', timeout=0.5))
    assert_failed(outcome, 'accepted the connection but sent no response within 0.5 s')
    assert not aggregator.metric_names


def test_body_stalling_mid_way_is_cut_and_keeps_only_true_values(no_leak, aggregator, raw_server, release, reference):
    # The timeout bounds the whole body: the stall ends the read as a cut, the complete families are kept.
    server = raw_server(raw.stall_mid_body(BODY, len(BODY) // 2, release))
    outcome = no_leak(instance(f'{server.base_url}/metrics/', timeout=0.5))
    assert 0 < len(assert_cut_short(outcome, aggregator, reference, 'did not arrive within 0.5 s')) < len(reference)


def test_body_stalling_past_the_read_timeout_is_cut(no_leak, aggregator, raw_server, release, reference):
    server = raw_server(raw.stall_mid_body(BODY, len(BODY) // 2, release))
    outcome = no_leak(instance(f'{server.base_url}/metrics/', timeout=4, read_timeout=0.5))
    assert_cut_short(outcome, aggregator, reference, 'the body stalled: nothing arrived for 0.5 s')


def test_tls_self_signed_certificate_without_its_ca(no_leak, aggregator, raw_server, tmp_path):
    cert, key = raw.self_signed_certificate(str(tmp_path))
    server = raw_server(raw.send(raw.http_response(BODY)), tls=raw.server_tls_context(cert, key))
    outcome = no_leak(instance(f'{server.base_url}/metrics/'))
    assert_failed(outcome, 'could not be verified (self-signed certificate)', 'Set `tls_ca_cert`')
    assert not aggregator.metric_names


def test_tls_with_its_ca_works(no_leak, aggregator, raw_server, tmp_path):
    cert, key = raw.self_signed_certificate(str(tmp_path))
    server = raw_server(raw.send(raw.http_response(BODY)), tls=raw.server_tls_context(cert, key))
    outcome = no_leak(instance(f'{server.base_url}/metrics/', tls_ca_cert=cert))
    assert outcome.status == ServiceCheck.OK and not outcome.error
    assert b'authorization: bearer' in server.request_heads[0].lower()


def test_tls_certificate_for_another_host(no_leak, aggregator, raw_server, tmp_path):
    cert, key = raw.self_signed_certificate(str(tmp_path), san_ip=None, san_dns='other.example')
    server = raw_server(raw.send(raw.http_response(BODY)), tls=raw.server_tls_context(cert, key))
    outcome = no_leak(instance(f'{server.base_url}/metrics/', tls_ca_cert=cert))
    assert_failed(outcome, 'does not name this host', '`tls_validate_hostname: false`')


def test_https_to_a_plain_http_port(no_leak, aggregator, serve):
    server = serve({'/metrics/': Response(BODY)})
    outcome = no_leak(instance(f'{server.base_url.replace("http:", "https:")}/metrics/'))
    assert_failed(outcome, 'the port does not speak TLS. Use `http://`')


def test_connection_closed_without_an_answer(no_leak, aggregator, raw_server):
    server = raw_server(raw.close_without_answer)
    outcome = no_leak(instance(f'{server.base_url}/metrics/'))
    assert_failed(outcome, 'closed the connection without a complete HTTP response', 'may be restarting')
    assert not aggregator.metric_names


def test_gzip_body_gives_the_same_values(no_leak, aggregator, raw_server, reference):
    server = raw_server(raw.gzipped(BODY))
    outcome = no_leak(instance(f'{server.base_url}/metrics/'))
    assert outcome.status == ServiceCheck.OK and not outcome.error
    assert assert_only_true_values(aggregator, reference) == reference


def test_corrupt_gzip_body(no_leak, aggregator, raw_server):
    corrupt = gzip.compress(BODY)[:20] + b'\x00' * 200
    server = raw_server(raw.send(raw.http_response(corrupt, headers={'Content-Encoding': 'gzip'})))
    outcome = no_leak(instance(f'{server.base_url}/metrics/'))
    assert_failed(outcome, 'does not decompress')
    assert not aggregator.metric_names


def test_redirect_to_the_trailing_slash_is_followed_with_the_key(no_leak, aggregator, serve, reference):
    def metrics_without_slash(handler):
        # LiteLLM 1.99+: the redirect only once the key passed.
        if handler.headers.get('Authorization') != AUTH['Authorization']:
            return Response(UNAUTHORIZED, status=401, content_type='application/json')(handler)
        Response(b'', status=307, headers={'Location': f'{server.base_url}/metrics/'})(handler)

    server = serve({'/metrics': metrics_without_slash, '/metrics/': Response(BODY)})
    outcome = no_leak(instance(f'{server.base_url}/metrics'))
    assert outcome.status == ServiceCheck.OK and not outcome.error
    assert [path for path, _ in server.requests] == ['/metrics', '/metrics/']
    assert server.requests[1][1].get('Authorization') == AUTH['Authorization']
    assert assert_only_true_values(aggregator, reference) == reference


def test_redirect_loop_is_stopped(no_leak, aggregator, serve):
    server = serve({'/metrics/': Response(b'', status=307, headers={'Location': '/metrics/'})})
    outcome = no_leak(instance(f'{server.base_url}/metrics/'))
    assert_failed(outcome, 'Too many redirects (a loop?)')
    assert len(server.requests) <= 31
    assert not aggregator.metric_names


# HTTP answers


def test_401_without_a_key_names_the_header_and_the_proxy_setting(no_leak, aggregator, serve):
    server = serve({'/metrics/': Response(UNAUTHORIZED, status=401, content_type='application/json')})
    outcome = no_leak({'openmetrics_endpoint': f'{server.base_url}/metrics/'})
    assert_failed(outcome, 'HTTP 401', 'Authorization: "Bearer <key>"', 'require_auth_for_metrics_endpoint: false')
    assert not aggregator.metric_names


@pytest.mark.parametrize('status', [401, 403])
def test_rejected_key(no_leak, aggregator, serve, status):
    body = json.dumps(f'Unauthorized access to metrics endpoint: Invalid key {TOKEN}').encode()
    server = serve({'/metrics/': Response(body, status=status, content_type='application/json')})
    outcome = no_leak(instance(f'{server.base_url}/metrics/'))
    assert_failed(outcome, f'HTTP {status}', 'rejected the key sent in `Authorization`', 'require_auth_for_metrics')
    assert not aggregator.metric_names


def test_404_suggests_the_metrics_path(no_leak, aggregator, serve):
    server = serve({'/metrics/': Response(BODY)})
    outcome = no_leak(instance(f'{server.base_url}/prometheus'))
    assert_failed(outcome, 'HTTP 404', 'LiteLLM serves metrics at `/metrics/`', 'includes `prometheus`')


@pytest.mark.parametrize(
    'status, reason, phrase',
    [
        (500, 'Internal Server Error', 'the proxy failed while answering'),
        (502, 'Bad Gateway', 'a load balancer or gateway in front of LiteLLM got no answer'),
        (503, 'Service Unavailable', 'the proxy is unavailable'),
        (504, 'Gateway Timeout', 'a load balancer or gateway in front of LiteLLM got no answer'),
    ],
)
def test_server_errors_quote_the_body_without_the_key(no_leak, aggregator, serve, status, reason, phrase):
    def error_page(handler):
        # A debug error page that echoes the request headers, key included.
        echoed = f'upstream failed; Authorization: {handler.headers["Authorization"]}; all: {dict(handler.headers)}'
        Response(echoed, status=status, content_type='text/plain')(handler)

    server = serve({'/metrics/': error_page})
    outcome = no_leak(instance(f'{server.base_url}/metrics/'))
    assert_failed(outcome, f'HTTP {status} {reason}', phrase, 'Body: "upstream failed', 'Authorization: ********;')
    assert not aggregator.metric_names


@pytest.mark.parametrize('content_type', ['text/html; charset=utf-8', 'text/plain', None])
def test_html_page_instead_of_metrics(no_leak, aggregator, serve, content_type):
    server = serve({'/metrics/': Response(HTML, content_type=content_type)})
    outcome = no_leak(instance(f'{server.base_url}/metrics/'))
    assert_failed(outcome, 'an HTML page titled "Sign in - Example SSO"', "at the LiteLLM proxy's `/metrics/`")
    assert not aggregator.metric_names


def test_login_page_after_a_redirect(no_leak, aggregator, serve):
    server = serve(
        {
            '/metrics/': Response(b'', status=302, headers={'Location': '/sso/login?next=/metrics/'}),
            '/sso/login': Response(HTML, content_type='text/html'),
        }
    )
    outcome = no_leak(instance(f'{server.base_url}/metrics/'))
    assert_failed(outcome, 'HTML page', f'after a redirect to `{server.base_url}/sso/login?next=********`')
    assert not aggregator.metric_names


@pytest.mark.parametrize('content_type', ['application/json', None])
def test_json_instead_of_metrics(no_leak, aggregator, serve, content_type):
    body = json.dumps({'data': [{'id': 'gpt-ok', 'object': 'model'}]}).encode()
    server = serve({'/v1/models': Response(body, content_type=content_type)})
    outcome = no_leak(instance(f'{server.base_url}/v1/models'))
    assert_failed(outcome, 'The response is JSON', 'is an API route')
    assert not aggregator.metric_names


@pytest.mark.parametrize('body', [b'', b'\n\n  \n'])
def test_empty_body(no_leak, aggregator, serve, body):
    server = serve({'/metrics/': Response(body)})
    outcome = no_leak(instance(f'{server.base_url}/metrics/'))
    assert_failed(outcome, 'has an empty body')
    assert not aggregator.metric_names


def test_text_that_is_not_metrics(no_leak, aggregator, serve):
    server = serve({'/metrics/': Response(b'upstream connect error or disconnect/reset before headers\n')})
    outcome = no_leak(instance(f'{server.base_url}/metrics/'))
    assert_failed(outcome, 'not in the Prometheus text format (line 1: "upstream connect error')
    assert not aggregator.metric_names


def test_health_is_decided_after_parsing(no_leak, aggregator, serve, reference):
    """A 200 whose body breaks half-way is CRITICAL, with no OK sent first; what came before is right.
    (The base library's parser, `fast_parser: false`; the strict parser skips the line: tests/test_parser.py.)"""
    lines = BODY.split(b'\n')
    broken = b'\n'.join(lines[: len(lines) // 2] + [b'<<garbage line>>'] + lines[len(lines) // 2 :])
    server = serve({'/metrics/': Response(broken)})
    outcome = no_leak(instance(f'{server.base_url}/metrics/', fast_parser=False))
    assert_failed(outcome, f'(line {len(lines) // 2 + 1}: "<<garbage line>>"')
    assert aggregator.service_checks(HEALTH)[0].status == ServiceCheck.CRITICAL  # the only one
    assert assert_only_true_values(aggregator, reference)
    assert 'litellm.scrape.series' not in aggregator.metric_names


def test_failed_scrape_stops_flushing_first_counter_values(no_leak, aggregator, serve):
    server = serve({'/metrics/': Response(BODY)})
    check = LitellmCheck('litellm', {}, [instance(f'{server.base_url}/metrics/', collect_readiness=False)])
    assert no_leak({}, check=check).scraper.flush_first_value is True
    aggregator.reset()
    server.routes['/metrics/'] = Response(HTML, content_type='text/html')
    assert no_leak({}, check=check).scraper.flush_first_value is False


# Bodies cut short: WARNING, the complete lines kept, the partial last line dropped, counted.


def cut_inside_a_value():
    """A cut point inside the value of the last spend sample: its front would parse as a smaller number."""
    matches = list(re.finditer(rb'\nlitellm_spend_metric_total\{[^\n]*\} (\d\.\d{3,}[^\n]*)\n', BODY))
    assert len(matches) > 1, 'the fixture has no spend samples with enough digits'
    return matches[-1].start(1) + 4


def assert_cut_short(outcome, aggregator, reference, why):
    assert outcome.status == ServiceCheck.WARNING
    assert 'The body was cut short after' in outcome.message and why in outcome.message, outcome.message
    # Cut inside a family, it is dropped whole; cut where a family had ended (inside lines the raw line filters
    # drop after a family declaration, or inside a `# HELP` line), nothing is dropped.
    assert (
        'the partial last one included) was dropped, so no series carries a partial value' in outcome.message
        or 'it stopped between two families' in outcome.message
    )
    assert not outcome.error  # partial, not failed
    assert outcome.message in outcome.check.warnings  # shown in the Agent's status page
    aggregator.assert_metric('litellm.scrape.truncated', value=1, count=1)
    return assert_only_true_values(aggregator, reference)


@pytest.mark.parametrize(
    'play_for',
    [
        pytest.param(lambda cut: raw.cut_body(BODY, cut), id='content-length'),
        pytest.param(lambda cut: raw.chunked([BODY[:cut]], finish=False), id='chunked'),
    ],
)
def test_connection_closed_mid_body(no_leak, aggregator, raw_server, reference, play_for):
    cut = cut_inside_a_value()
    server = raw_server(play_for(cut))
    outcome = no_leak(instance(f'{server.base_url}/metrics/'))
    # Every value submitted is the complete scrape's. The family the body stopped in (spend) is dropped whole:
    # neither the front of its cut line (a smaller number) nor a spend total missing its last series is sent.
    got = assert_cut_short(outcome, aggregator, reference, '')
    assert 0 < len(got) < len(reference)
    assert not [key for key in got if key[0] == 'litellm.spend.metric.count']
    assert [key for key in reference if key[0] == 'litellm.spend.metric.count']


def test_content_length_mismatch_names_the_missing_bytes(no_leak, aggregator, raw_server, reference):
    cut = cut_inside_a_value()
    server = raw_server(raw.cut_body(BODY, cut))
    outcome = no_leak(instance(f'{server.base_url}/metrics/'))
    assert_cut_short(
        outcome, aggregator, reference, f'closed {len(BODY) - cut} bytes before the announced Content-Length'
    )


def test_body_without_a_final_newline(no_leak, aggregator, raw_server, reference):
    # Without Content-Length or chunking the end of the body is the end of the connection: only the missing
    # newline betrays the cut.
    cut = cut_inside_a_value()
    server = raw_server(raw.close_delimited(BODY[:cut]))
    outcome = no_leak(instance(f'{server.base_url}/metrics/'))
    assert_cut_short(outcome, aggregator, reference, 'the body does not end with a newline')


def test_body_cut_before_any_line_fails(no_leak, aggregator, raw_server):
    server = raw_server(raw.cut_body(BODY, 10))
    outcome = no_leak(instance(f'{server.base_url}/metrics/'))
    assert_failed(outcome, 'The body was cut short after 10 bytes', 'no family arrived whole, nothing was submitted')
    assert not aggregator.metric_names


# Secrets: however the key is given, it never shows.


def test_a_key_with_a_trailing_newline_is_named_not_quoted(no_leak, aggregator, serve):
    """requests quotes the whole header value in this error: the message must not."""
    server = serve({'/metrics/': Response(BODY)})
    outcome = no_leak(
        {'openmetrics_endpoint': f'{server.base_url}/metrics/', 'headers': {'Authorization': f'Bearer {TOKEN}\n'}}
    )
    assert_failed(outcome, 'A request header value is invalid', 'the newline at the end of a secret file')


def test_a_bad_key_in_extra_headers(no_leak, aggregator, serve):
    server = serve({'/metrics/': Response(BODY)})
    outcome = no_leak(
        {'openmetrics_endpoint': f'{server.base_url}/metrics/', 'extra_headers': {'x-litellm-api-key': f' {TOKEN}'}}
    )
    assert_failed(outcome, 'A request header value is invalid')


def test_a_key_with_a_character_http_cannot_carry(no_leak, aggregator, serve):
    server = serve({'/metrics/': Response(BODY)})
    outcome = no_leak(
        {'openmetrics_endpoint': f'{server.base_url}/metrics/', 'headers': {'Authorization': f'Bearer {TOKEN}€'}}
    )
    assert_failed(outcome, 'A request header value holds a character HTTP cannot carry')


def test_auth_token_from_a_file(no_leak, aggregator, serve, tmp_path):
    """The token is read at request time; the writer's value (a stray leading space) makes requests quote the
    header in its error, and the HTTP wrapper logs that error at DEBUG before retrying with a fresh token."""
    token_file = tmp_path / 'token'
    token_file.write_text(TOKEN + '\n')
    server = serve({'/metrics/': Response(UNAUTHORIZED, status=401, content_type='application/json')})
    auth_token = {
        'reader': {'type': 'file', 'path': str(token_file)},
        'writer': {'type': 'header', 'name': 'Authorization', 'value': ' Bearer <TOKEN>'},
    }
    outcome = no_leak({'openmetrics_endpoint': f'{server.base_url}/metrics/', 'auth_token': auth_token})
    assert_failed(outcome, 'A request header value is invalid')


def test_auth_token_rejected(no_leak, aggregator, serve, tmp_path):
    token_file = tmp_path / 'token'
    token_file.write_text(TOKEN)
    server = serve({'/metrics/': Response(UNAUTHORIZED, status=401, content_type='application/json')})
    auth_token = {
        'reader': {'type': 'file', 'path': str(token_file)},
        'writer': {'type': 'header', 'name': 'Authorization', 'value': 'Bearer <TOKEN>'},
    }
    outcome = no_leak({'openmetrics_endpoint': f'{server.base_url}/metrics/', 'auth_token': auth_token})
    assert_failed(outcome, 'rejected the key sent in `Authorization`')
    assert server.requests[0][1]['Authorization'] == f'Bearer {TOKEN}'


def test_key_in_the_url_stays_out_of_tags_logs_and_errors(no_leak, aggregator):
    url = f'http://datadog:{TOKEN}@127.0.0.1:{raw.unused_port()}/metrics/?api_key={TOKEN}'
    outcome = no_leak({'openmetrics_endpoint': url})
    assert_failed(outcome, 'Connection refused')
    # User info never becomes a tag, even masked; a credential in the query is masked.
    endpoint = [tag for tag in outcome.scraper.static_tags if tag.startswith('endpoint:')]
    assert endpoint == [f'endpoint:http://127.0.0.1:{url.split(":")[3].split("/")[0]}/metrics/?api_key=********']


def test_key_echoed_in_a_label_is_masked(no_leak, aggregator, serve):
    """Custom auth can put a raw key in `hashed_api_key` (or any label): it is masked before parsing."""
    line = f'litellm_proxy_total_requests_metric_total{{hashed_api_key="{TOKEN}",user="{TOKEN}"}} 3.0\n'
    body = b'# TYPE litellm_proxy_total_requests_metric_total counter\n' + line.encode()
    server = serve({'/metrics/': Response(body)})
    outcome = no_leak(instance(f'{server.base_url}/metrics/', hash_unhashed_api_keys=False))
    assert outcome.status == ServiceCheck.OK
    aggregator.assert_metric('litellm.proxy.total_requests.metric.count', value=3)
    tags = aggregator.metrics('litellm.proxy.total_requests.metric.count')[0].tags
    assert 'user:********' in tags


def test_a_good_scrape_logs_nothing_secret_at_debug(no_leak, aggregator, serve):
    server = serve({'/metrics/': Response(BODY)})
    outcome = no_leak(instance(f'{server.base_url}/metrics/'))
    assert outcome.status == ServiceCheck.OK and outcome.message == ''
