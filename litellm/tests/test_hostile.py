"""Hostile and broken endpoints, each played by a server on 127.0.0.1: a run is bounded in time and memory
whatever answers, no form of a configured secret shows anywhere, every failure is named in the user's terms,
and a wrong option fails naming it. The `no_leak` teardown (test_transport.py) checks every output for the key."""

import base64
import gzip
import json
import logging
import os
import re
import subprocess
import sys
import time
import zlib
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datadog_checks.base.constants import ServiceCheck
from datadog_checks.base.errors import ConfigurationError
from datadog_checks.litellm import LitellmCheck
from datadog_checks.litellm.transport.fetch import MAX_RETRY_AFTER, retry_after_seconds

from . import misbehaving_server as raw
from . import test_transport as transport_tests
from .common import REAL_FIXTURES, real_fixture_dirs
from .http_server import LocalServer, Response
from .test_transport import (
    BODY,
    HEALTH,
    TOKEN,
    LogLines,
    assert_cut_short,
    assert_failed,
    assert_only_true_values,
    instance,
)

# The transport tests' fixtures: the leak check, the raw servers, the release event, the reference scrape.
no_leak = transport_tests.no_leak
raw_server = transport_tests.raw_server
reference = transport_tests.reference
release = transport_tests.release
scrape_only = transport_tests.scrape_only

HERE = os.path.dirname(os.path.abspath(__file__))
# A key whose URL-encoded forms differ from it: `/`, `+`, `=` and `~` are quoted differently by quote and quote_plus.
ODD_KEY = 'sk-7f3a/9c0d+2b6e=4a81~QzX'
PASSWORD = 'pa55/word+with=odd~chars'


def fragments(secret, size=10):
    return {secret[i : i + size] for i in range(len(secret) - size + 1)}


def forms(secret):
    return {secret, quote(secret, safe=''), quote(secret), quote_plus(secret)}


def run_check(inst, aggregator):
    """Run the check once with the log captured at every level (every logger); return (lines, error, health)."""
    logs = LogLines()
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(logs)
    try:
        check = LitellmCheck('litellm', {}, [{'collect_readiness': False, **inst}])
        report = check.run()
    finally:
        root.removeHandler(logs)
        root.setLevel(level)
    error = ''
    if report:
        error = json.loads(report)[0]
        error = error['message'] + '\n' + error['traceback']
    return check, logs.lines, error


def everything_written(aggregator, lines, error):
    written = list(lines) + [error]
    for name in aggregator.metric_names:
        written.extend(tag for m in aggregator.metrics(name) for tag in m.tags)
    for checks in aggregator._service_checks.values():
        written.extend(sc.message or '' for sc in checks)
        written.extend(tag for sc in checks for tag in sc.tags)
    return written


def assert_nothing_of(secrets, written):
    """No form of any secret, and no 10-character piece of one, in anything written."""
    pieces = set()
    for secret in secrets:
        for form in forms(secret):
            pieces |= fragments(form)
    for text in written:
        for piece in pieces:
            assert piece not in text, (piece, text)


# Bounds: time and memory, whatever the endpoint sends.


@pytest.mark.parametrize(
    'scenario, timeout',
    [('bomb', 2), ('line-bomb', 2), ('trickle', 2), ('big', 10), ('family', 10), ('family-combined', 10)],
)
def test_a_run_is_bounded_in_time_and_memory(scenario, timeout):
    """In a fresh process, so that the peak RSS is this run's: a 500 MB gzip bomb (zeros, or one endless family),
    a body trickled a line at a time, and a 60 MB body, with default options but `timeout`."""
    out = subprocess.run(
        [sys.executable, '-m', 'tests.hostile_run', scenario, str(timeout)],
        cwd=os.path.dirname(HERE),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result['seconds'] < 2 * timeout, result
    assert result['rss_growth_mb'] < 100, result
    if scenario == 'big':
        # Within the default size limit: read whole (OK), or, on a machine too busy to read it in time, cut at the
        # deadline; never refused for its size.
        assert result['status'] == ServiceCheck.OK or 'did not arrive within' in result['message'], result
    elif scenario.startswith('family'):
        # One 60 MB family of new series: read until the run's memory budget or the deadline, whichever first.
        assert result['status'] == ServiceCheck.WARNING or 'did not arrive within' in result['message'], result
    elif scenario == 'trickle':
        assert result['status'] == ServiceCheck.WARNING, result
        assert f'did not arrive within {timeout} s (`timeout`)' in result['message']
    else:
        assert 'Unexpected error' not in result['error']
        # Whichever bound comes first on a busy machine: the size limit or the deadline.
        assert 'max_body_size' in result['message'] or 'did not arrive within' in result['message'], result


def test_a_trickled_body_is_cut_at_the_deadline(no_leak, aggregator, raw_server, release, reference):
    server = raw_server(raw.trickle(BODY, release, lines_per_step=40, interval=0.1))
    start = time.monotonic()
    outcome = no_leak(instance(f'{server.base_url}/metrics/', timeout=1))
    assert time.monotonic() - start < 2
    got = assert_cut_short(outcome, aggregator, reference, 'the whole body did not arrive within 1 s (`timeout`)')
    assert 0 < len(got) < len(reference)
    assert 'raise `timeout`' in outcome.message


def test_a_body_over_max_body_size_is_cut(no_leak, aggregator, raw_server, reference):
    server = raw_server(raw.send(raw.http_response(BODY)))
    outcome = no_leak(instance(f'{server.base_url}/metrics/', max_body_size=0.2))
    got = assert_cut_short(outcome, aggregator, reference, 'it exceeds `max_body_size` (0.2 MiB after decompression)')
    assert 0 < len(got) < len(reference)
    assert f'cut short after {int(0.2 * 1024 * 1024)} bytes' in outcome.message


def test_a_gzip_bomb_is_cut_at_max_body_size_not_inflated(no_leak, aggregator, raw_server, release):
    server = raw_server(raw.gzip_bomb(release, 64))
    start = time.monotonic()
    outcome = no_leak(instance(f'{server.base_url}/metrics/', max_body_size=8))
    assert time.monotonic() - start < 5
    assert_failed(outcome, 'cut short after 8388608 bytes (it exceeds `max_body_size` (8 MiB', 'decompression bomb')
    assert not aggregator.metric_names


# Strict gzip: a stream without its end, or corrupt, is a cut, never a complete body.


def gzip_of(body):
    return gzip.compress(body, mtime=0)


@pytest.mark.parametrize(
    'damage, why',
    [
        pytest.param(lambda z: z[:-8], 'ended before the end of its gzip stream', id='no-trailer'),
        pytest.param(lambda z: z[: len(z) * 2 // 3], 'ended before the end of its gzip stream', id='half'),
        pytest.param(
            lambda z: z[: len(z) // 2]
            + bytes(b ^ 0x5A for b in z[len(z) // 2 : len(z) // 2 + 64])
            + z[len(z) // 2 + 64 :],
            'the compressed body is corrupt: it does not decompress',
            id='corrupt',
        ),
    ],
)
def test_an_incomplete_or_corrupt_gzip_stream_is_cut(no_leak, aggregator, raw_server, reference, damage, why):
    body = damage(gzip_of(BODY))
    # A correct Content-Length: the HTTP framing is complete, only the gzip stream says the body is not.
    server = raw_server(raw.send(raw.http_response(body, headers={'Content-Encoding': 'gzip'})))
    outcome = no_leak(instance(f'{server.base_url}/metrics/'))
    got = assert_cut_short(outcome, aggregator, reference, why)
    assert 'The compressed body (Content-Encoding) was incomplete or corrupt' in outcome.message
    assert 0 < len(got) < len(reference)  # the family the stream stopped in is never submitted


def test_deflate_and_multi_member_gzip_are_read(no_leak, aggregator, raw_server, reference):
    half = len(BODY) // 2
    split = BODY.rindex(b'\n# HELP ', 0, half) + 1
    two_members = gzip_of(BODY[:split]) + gzip_of(BODY[split:])
    server = raw_server(raw.send(raw.http_response(two_members, headers={'Content-Encoding': 'gzip'})))
    outcome = no_leak(instance(f'{server.base_url}/metrics/'))
    assert outcome.status == ServiceCheck.OK, outcome.message
    assert assert_only_true_values(aggregator, reference) == reference


# Diagnosis: what was received, in the user's terms, never the path reserved for bugs.


@pytest.mark.parametrize(
    'content_type, headers, phrases',
    [
        (
            'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited',
            {},
            ['Prometheus protobuf format', 'does not read', '`Accept: text/plain`'],
        ),
        (raw.PROMETHEUS_CONTENT_TYPE, {'Content-Encoding': 'br'}, ['compressed with `br`', 'gzip or deflate only']),
        (raw.PROMETHEUS_CONTENT_TYPE, {'Content-Encoding': 'zstd'}, ['compressed with `zstd`']),
        (raw.PROMETHEUS_CONTENT_TYPE, {'Content-Encoding': 'x-snappy'}, ['compressed with `x-snappy`']),
        ('text/plain; version=0.0.4; charset=klingon-8', {}, ['names the charset `klingon-8`', 'UTF-8']),
        ('text/plain; charset=utf-16', {}, ['names the charset `utf-16`']),
    ],
)
def test_formats_encodings_and_charsets_are_named(no_leak, aggregator, raw_server, content_type, headers, phrases):
    body = b'\x1f\x8b\x08\x00 binary \xff\xfe not text' * 50
    server = raw_server(raw.send(raw.http_response(body, content_type=content_type, headers=headers)))
    outcome = no_leak(instance(f'{server.base_url}/metrics/'))
    assert_failed(outcome, *phrases)
    assert 'cut short' not in outcome.message and 'Unexpected error' not in outcome.error
    assert not aggregator.metric_names


def test_a_304_is_named_not_called_a_redirect(no_leak, aggregator, raw_server):
    server = raw_server(raw.send(raw.http_response(b'', status=304, reason='Not Modified', content_type=None)))
    outcome = no_leak(instance(f'{server.base_url}/metrics/'))
    assert_failed(outcome, 'HTTP 304 Not Modified', 'the check sends no conditional request')
    assert 'redirect' not in outcome.message


@pytest.mark.parametrize('status, reason', [(300, 'Multiple Choices'), (418, "I'm a teapot"), (451, 'Unavailable')])
def test_other_statuses_are_named(no_leak, aggregator, raw_server, status, reason):
    server = raw_server(raw.send(raw.http_response(b'no', status=status, reason=reason, content_type='text/plain')))
    outcome = no_leak(instance(f'{server.base_url}/metrics/'))
    assert_failed(outcome, f'HTTP {status} {reason}')
    assert 'redirect' not in outcome.message


def test_429_waits_for_retry_after_then_scrapes_again(no_leak, aggregator, monkeypatch):
    server = LocalServer({'/metrics/': Response(b'slow down', status=429, headers={'Retry-After': '120'})}).__enter__()
    try:
        check = LitellmCheck('litellm', {}, [instance(f'{server.base_url}/metrics/', collect_readiness=False)])
        outcome = no_leak({}, check=check)
        assert_failed(outcome, 'HTTP 429 Too Many Requests', 'the next scrape waits 120 s (Retry-After)')
        assert 'openmetrics_endpoint' not in outcome.message
        aggregator.reset()
        outcome = no_leak({}, check=check)
        assert_failed(outcome, 'Not scraped: HTTP 429', 's left)')
        assert len(server.requests) == 1  # the second run sent nothing
        # Once the wait is over, the next run scrapes.
        scraper = outcome.scraper
        scraper.rate_limit.until = scraper.rate_limit.clock() - 1
        server.routes['/metrics/'] = Response(BODY)
        aggregator.reset()
        assert no_leak({}, check=check).status == ServiceCheck.OK
        assert len(server.requests) == 2
    finally:
        server.__exit__(None, None, None)


def test_retry_after_forms_are_bounded():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_after_seconds('30', now) == 30
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90
    assert retry_after_seconds(format_datetime(now - timedelta(seconds=90), usegmt=True), now) == 0
    assert retry_after_seconds('999999', now) == MAX_RETRY_AFTER
    assert retry_after_seconds('soon', now) is None and retry_after_seconds(None, now) is None


# Secrets: every form, every position, every output.


def test_basic_auth_echoed_as_base64_is_masked(aggregator, raw_server):
    def echo(conn, path):
        # The server recorded the request head before this play: echo its Authorization line.
        auth = [line for line in server.request_heads[-1].split(b'\r\n') if line.lower().startswith(b'authorization')]
        body = b'x' * 50 + b' you sent ' + auth[0] + b' and ' + PASSWORD.encode()
        conn.sendall(raw.http_response(body, status=500, reason='Internal Server Error', content_type='text/plain'))

    server = raw_server(echo)
    inst = {'openmetrics_endpoint': f'{server.base_url}/metrics/', 'username': 'datadog', 'password': PASSWORD}
    check, lines, error = run_check(inst, aggregator)
    basic = base64.b64encode(f'datadog:{PASSWORD}'.encode()).decode()
    assert basic.encode() in server.request_heads[0]  # it was sent, and echoed
    health = aggregator.service_checks(HEALTH)[0]
    assert 'HTTP 500' in health.message and '********' in health.message
    assert_nothing_of([basic, PASSWORD], everything_written(aggregator, lines, error))


@pytest.mark.parametrize('offset', [0, 40, 55, 70, 110, 119])
@pytest.mark.parametrize('kind', ['error body', 'html title', 'json'])
def test_an_echoed_key_is_masked_before_the_excerpt_is_cut(aggregator, raw_server, offset, kind):
    key = ODD_KEY
    echoed = ('e' * offset + key + ' tail').encode()
    if kind == 'error body':
        response = raw.http_response(echoed, status=502, reason='Bad Gateway', content_type='text/plain')
    elif kind == 'html title':
        response = raw.http_response(b'<html><head><title>' + echoed + b'</title></head></html>\n', content_type=None)
    else:
        response = raw.http_response(json.dumps({'detail': echoed.decode()}).encode(), content_type='application/json')
    server = raw_server(raw.send(response))
    inst = {'openmetrics_endpoint': f'{server.base_url}/metrics/', 'headers': {'x-litellm-api-key': key}}
    check, lines, error = run_check(inst, aggregator)
    assert aggregator.service_checks(HEALTH)[0].status == ServiceCheck.CRITICAL
    assert_nothing_of([key], everything_written(aggregator, lines, error))


@pytest.mark.parametrize('form', [lambda k: quote(k, safe=''), quote, quote_plus], ids=['quote-all', 'quote', 'plus'])
def test_a_url_encoded_echo_is_masked(aggregator, raw_server, form):
    body = f'upstream said: token={form(ODD_KEY)} rejected'.encode()
    server = raw_server(raw.send(raw.http_response(body, status=500, content_type='text/plain')))
    inst = {'openmetrics_endpoint': f'{server.base_url}/metrics/', 'headers': {'x-api-key': ODD_KEY}}
    check, lines, error = run_check(inst, aggregator)
    assert 'token=********' in aggregator.service_checks(HEALTH)[0].message
    assert_nothing_of([ODD_KEY], everything_written(aggregator, lines, error))


def test_a_key_in_the_query_string_is_not_in_urllib3_debug_lines(aggregator, raw_server):
    server = raw_server(raw.send(raw.http_response(BODY)))
    url = f'http://datadog:{quote(PASSWORD, safe="")}@127.0.0.1:{server.port}/metrics/?api_key={ODD_KEY}'
    # log_requests: the base logs each request's URL too.
    check, lines, error = run_check({'openmetrics_endpoint': url, 'log_requests': True}, aggregator)
    assert any(line.startswith('DEBUG urllib3.connectionpool') and 'GET /metrics/?api_key=' in line for line in lines)
    assert any('Sending GET request to' in line for line in lines)
    assert_nothing_of([ODD_KEY, PASSWORD], everything_written(aggregator, lines, error))
    endpoint = {t for m in aggregator.metrics('litellm.scrape.series') for t in m.tags if t.startswith('endpoint:')}
    assert endpoint == {f'endpoint:http://127.0.0.1:{server.port}/metrics/?api_key=********'}  # no user info


def test_the_readiness_db_field_is_masked_before_it_is_cut(aggregator):
    payload = {'status': 'unhealthy', 'db': 'x' * 45 + TOKEN}
    with LocalServer(
        {
            '/metrics/': Response(BODY),
            '/health/readiness': Response(json.dumps(payload), status=503, content_type='application/json'),
        }
    ) as server:
        inst = {**instance(f'{server.base_url}/metrics/'), 'collect_readiness': True}
        check, lines, error = run_check(inst, aggregator)
    readiness = aggregator.service_checks('litellm.readiness')[0]
    assert (
        readiness.status == ServiceCheck.CRITICAL and 'LiteLLM is not ready (HTTP 503): database x' in readiness.message
    )
    assert_nothing_of([TOKEN], everything_written(aggregator, lines, error))


@pytest.mark.parametrize(
    'key_option',
    [
        {'headers': {'x-litellm-api-key': TOKEN}},
        {'headers': {'X-API-Key': TOKEN}},
        {'extra_headers': {'x-litellm-api-key': TOKEN}},
        {'headers': {'X-Custom-Thing': f'Bearer {TOKEN}', 'Authorization': f'Bearer {TOKEN}'}},
        {'username': 'datadog', 'password': TOKEN},
    ],
    ids=['x-litellm-api-key', 'x-api-key', 'extra_headers', 'any-name', 'basic-auth'],
)
def test_a_redirect_to_another_origin_carries_no_secret(aggregator, key_option):
    with LocalServer({'/metrics/': Response(BODY)}) as other:
        with LocalServer(
            {'/metrics': Response(b'', status=307, headers={'Location': f'{other.base_url}/metrics/'})}
        ) as first:
            check, lines, error = run_check(
                {'openmetrics_endpoint': f'{first.base_url}/metrics', **key_option}, aggregator
            )
        sent_to_first = json.dumps(first.requests[0][1])
        sent_to_other = json.dumps(other.requests)
    basic = base64.b64encode(f'datadog:{TOKEN}'.encode()).decode()
    assert TOKEN in sent_to_first or basic in sent_to_first  # the key went to the configured origin
    assert TOKEN not in sent_to_other and basic not in sent_to_other, sent_to_other
    assert [path for path, _ in other.requests] == ['/metrics/']  # still followed, without the key
    assert aggregator.service_checks(HEALTH)[0].status == ServiceCheck.OK
    assert_nothing_of([TOKEN], everything_written(aggregator, lines, error))


def test_an_auth_token_header_is_not_sent_to_another_origin(aggregator, tmp_path):
    token_file = tmp_path / 'token'
    token_file.write_text(TOKEN)
    auth_token = {
        'reader': {'type': 'file', 'path': str(token_file)},
        'writer': {'type': 'header', 'name': 'X-Proxy-Token', 'value': '<TOKEN>'},
    }
    with LocalServer({'/metrics/': Response(BODY)}) as other:
        with LocalServer(
            {'/metrics/': Response(b'', status=302, headers={'Location': f'{other.base_url}/metrics/'})}
        ) as first:
            run_check({'openmetrics_endpoint': f'{first.base_url}/metrics/', 'auth_token': auth_token}, aggregator)
        assert first.requests[0][1].get('X-Proxy-Token') == TOKEN
        assert TOKEN not in json.dumps(other.requests)


def test_a_same_origin_redirect_keeps_a_custom_key_header(aggregator):
    with LocalServer({'/metrics/': Response(BODY)}) as server:
        server.routes['/metrics'] = Response(b'', status=307, headers={'Location': f'{server.base_url}/metrics/'})
        run_check(
            {'openmetrics_endpoint': f'{server.base_url}/metrics', 'headers': {'x-litellm-api-key': TOKEN}}, aggregator
        )
        assert [headers.get('x-litellm-api-key') for _, headers in server.requests] == [TOKEN, TOKEN]
    assert aggregator.service_checks(HEALTH)[0].status == ServiceCheck.OK


def test_side_requests_do_not_follow_the_key_to_another_origin(aggregator):
    with LocalServer({'/health/readiness': Response(json.dumps({'status': 'healthy'}))}) as other:
        with LocalServer(
            {
                '/metrics/': Response(BODY),
                '/health/readiness': Response(
                    b'', status=302, headers={'Location': f'{other.base_url}/health/readiness'}
                ),
            }
        ) as first:
            inst = {'openmetrics_endpoint': f'{first.base_url}/metrics/', 'headers': {'x-litellm-api-key': TOKEN}}
            run_check({**inst, 'collect_readiness': True}, aggregator)
        assert TOKEN not in json.dumps(other.requests)
    assert aggregator.service_checks('litellm.readiness')[0].status == ServiceCheck.OK


def test_a_side_answer_trickled_or_huge_is_bounded(aggregator, raw_server, release):
    huge = raw.gzip_bomb(release, 64)
    slow = json.dumps({'status': 'healthy', **{f'k{i}': i for i in range(100)}}, indent=1).encode() + b'\n'
    trickled = raw.trickle(slow, release, 1, 0.1)
    for play, phrase in (
        (huge, 'exceeds the size limit of this answer (1 MiB'),
        (trickled, 'did not answer within 1 s'),
    ):
        aggregator.reset()
        side = raw_server(play)
        with LocalServer({'/metrics/': Response(BODY)}) as server:
            inst = {
                'openmetrics_endpoint': f'{server.base_url}/metrics/',
                'readiness_endpoint': f'{side.base_url}/health/readiness',
                'readiness_timeout': 1,
                'collect_readiness': True,
            }
            start = time.monotonic()
            run_check(inst, aggregator)
            assert time.monotonic() - start < 4
        readiness = aggregator.service_checks('litellm.readiness')[0]
        assert readiness.status == ServiceCheck.CRITICAL and phrase in readiness.message, readiness.message


# Configuration: a wrong value fails naming its option.


@pytest.mark.parametrize(
    'options, phrase',
    [
        ({'openmetrics_endpoint': 4000}, '`openmetrics_endpoint` must be the URL of the proxy'),
        ({'openmetrics_endpoint': ['http://a/metrics/']}, '`openmetrics_endpoint` must be the URL'),
        ({'openmetrics_endpoint': True}, '`openmetrics_endpoint` must be the URL'),
        ({'openmetrics_endpoint': 'localhost:4000/metrics'}, 'must be an http:// or https:// URL'),
        ({'timeout': 'abc'}, '`timeout` must be a number of seconds'),
        ({'timeout': 0}, '`timeout` must be a number of seconds greater than 0'),
        ({'timeout': -3}, '`timeout` must be a number of seconds greater than 0'),
        ({'read_timeout': 'x'}, '`read_timeout` must be a number of seconds'),
        ({'headers': ['Authorization: Bearer x']}, '`headers` must be a mapping of header names to values'),
        ({'extra_headers': 'x'}, '`extra_headers` must be a mapping'),
        ({'raw_line_filters': ['(unclosed']}, '`raw_line_filters`: entry #1 is not a valid regular expression'),
        ({'raw_line_filters': '^python_'}, '`raw_line_filters` must be a list'),
        ({'raw_line_filters': [3]}, '`raw_line_filters`: entry #1 must be a string'),
        ({'max_body_size': 0}, '`max_body_size` must be a number of MiB greater than 0'),
        ({'max_body_size': 'big'}, '`max_body_size` must be a number of MiB'),
        ({'readiness_timeout': 'abc'}, '`readiness_timeout` must be a number of seconds'),
        ({'readiness_timeout': 0}, '`readiness_timeout` must be a number of seconds greater than 0'),
        ({'litellm_health_timeout': -1}, '`litellm_health_timeout` must be a number of seconds greater than 0'),
        ({'readiness_endpoint': 5}, '`readiness_endpoint` must be the URL'),
    ],
)
def test_a_wrong_option_is_named(options, phrase):
    inst = {'openmetrics_endpoint': 'http://127.0.0.1:4000/metrics/', **options}
    with pytest.raises(ConfigurationError, match=re.escape(phrase)):
        LitellmCheck('litellm', {}, [inst])


def test_a_timeout_in_init_config_is_checked_too():
    with pytest.raises(ConfigurationError, match='`timeout` must be a number of seconds'):
        LitellmCheck('litellm', {'timeout': 'abc'}, [{'openmetrics_endpoint': 'http://127.0.0.1:4000/metrics/'}])


# Properties over the real captures: no secret shows, whatever the echo form and position.

CAPTURES = {
    version: open(os.path.join(REAL_FIXTURES, version, 'metrics.txt'), 'rb').read() for version in real_fixture_dirs()
}
ECHO_FORMS = {
    'raw': lambda key, basic: key,
    'quote': lambda key, basic: quote(key, safe=''),
    'quote_plus': lambda key, basic: quote_plus(key),
    'basic-header': lambda key, basic: f'Authorization: Basic {basic}',
}
KEY_PLACES = {
    'authorization': lambda key: {'headers': {'Authorization': f'Bearer {key}'}},
    'x-litellm-api-key': lambda key: {'headers': {'x-litellm-api-key': key}},
    'basic-auth': lambda key: {'username': 'datadog', 'password': key},
}
WHERE = ['status-500', 'html-title', 'json', 'label', 'help-text', 'after-cut']
KEYS = st.text(alphabet='abcdefghijkXYZ0123456789-_/+=~.', min_size=12, max_size=40).map(lambda s: 'sk-' + s)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    version=st.sampled_from(sorted(CAPTURES)),
    key=KEYS,
    place=st.sampled_from(sorted(KEY_PLACES)),
    form=st.sampled_from(sorted(ECHO_FORMS)),
    where=st.sampled_from(WHERE),
    offset=st.integers(0, 200),
    seed=st.integers(0, 10**6),
)
def test_no_form_of_the_key_shows_anywhere(version, key, place, form, where, offset, seed):
    from datadog_checks.base.stubs import aggregator

    aggregator.reset()
    body = CAPTURES[version]
    basic = base64.b64encode(f'datadog:{key}'.encode()).decode()
    echo = ('p' * offset + ECHO_FORMS[form](key, basic) + ' q').encode()
    if where == 'status-500':
        response = raw.http_response(echo + b'\n' + body[:300], status=500, reason='Oops', content_type='text/plain')
    elif where == 'html-title':
        response = raw.http_response(b'<html><title>' + echo + b'</title></html>', content_type='text/html')
    elif where == 'json':
        response = raw.http_response(json.dumps([echo.decode()]).encode(), content_type='application/json')
    else:
        lines = body.split(b'\n')
        at = (seed % max(1, len(lines) - 2)) + 1
        if where == 'label':
            lines.insert(at, b'litellm_requests_metric_total{hashed_api_key="' + echo.replace(b'"', b'') + b'"} 1.0')
        elif where == 'help-text':
            lines.insert(at, b'# HELP litellm_echo_metric ' + echo)
        damaged = b'\n'.join(lines)
        if where == 'after-cut':
            # The body is cut inside the echo: a partial key reaches the last line.
            damaged = body[: len(body) // 2] + b'\nlitellm_requests_metric_total{x="' + echo[: offset + len(key) // 2]
            response = raw.response_head(200, 'OK', {'Content-Type': raw.PROMETHEUS_CONTENT_TYPE}) + damaged
        else:
            response = raw.http_response(damaged)
    with raw.RawServer(raw.send(response)) as server:
        inst = {'openmetrics_endpoint': f'{server.base_url}/metrics/', **KEY_PLACES[place](key)}
        check, lines_logged, error = run_check(inst, aggregator)
    assert 'Unexpected error' not in error
    secrets = [key] + ([basic] if place == 'basic-auth' else [])
    written = everything_written(aggregator, lines_logged, error)
    for text in written:
        for secret in secrets:
            for shown in forms(secret):
                assert shown not in text, (shown, text)


def test_an_error_body_stalling_inside_an_echoed_key_shows_no_part_of_it(aggregator, raw_server, release):
    body = ('e' * 40 + ' key=' + ODD_KEY + ' end').encode()
    head = raw.response_head(500, 'Oops', {'Content-Type': 'text/plain', 'Content-Length': str(len(body))})

    def play(conn, path):
        conn.sendall(head + body[: 40 + 5 + 12])  # stops 12 characters into the key
        release.wait(5)

    server = raw_server(play)
    inst = {'openmetrics_endpoint': f'{server.base_url}/metrics/', 'headers': {'x-litellm-api-key': ODD_KEY}}
    check, lines, error = run_check(inst, aggregator)
    assert 'HTTP 500 Oops' in aggregator.service_checks(HEALTH)[0].message
    assert_nothing_of([ODD_KEY], everything_written(aggregator, lines, error))


def test_a_chain_of_slow_redirects_is_bounded_by_the_timeout(no_leak, aggregator, raw_server, release):
    def slow_hop(conn, path):
        # Each answer comes just under the read timeout: only a deadline over all of them ends the chain.
        if not release.wait(0.4):
            hop = int(path.strip('/').split('/')[-1] or 0) + 1 if path.strip('/').split('/')[-1].isdigit() else 1
            conn.sendall(raw.http_response(b'', status=302, reason='Found', headers={'Location': f'/hop/{hop}'}))

    server = raw_server(slow_hop)
    start = time.monotonic()
    outcome = no_leak(instance(f'{server.base_url}/metrics/', timeout=1))
    assert time.monotonic() - start < 2
    assert outcome.status == ServiceCheck.CRITICAL
    # The last hop's wait is cut to what is left of the deadline: its timeout or the deadline's ends the run.
    assert 'no response within 1 s' in outcome.message or 'the redirects took longer than 1 s' in outcome.message
    assert 2 <= len(server.paths) <= 4


# Properties over the real captures: however the compressed body is damaged or limited, the run ends, never on
# the path reserved for bugs, and every value it submits is the intact capture's.

_REFERENCES = {}


def capture_reference(version):
    """{(metric, tags without endpoint): values} of a clean scrape of one capture, computed once."""
    if version not in _REFERENCES:
        from datadog_checks.base.stubs import aggregator

        aggregator.reset()
        with raw.RawServer(raw.send(raw.http_response(CAPTURES[version]))) as server:
            check = LitellmCheck(
                'litellm', {}, [{'openmetrics_endpoint': f'{server.base_url}/', 'collect_readiness': False}]
            )
            assert not check.run()
        _REFERENCES[version] = transport_tests.submitted(aggregator)
        aggregator.reset()
    return _REFERENCES[version]


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    version=st.sampled_from(sorted(CAPTURES)),
    damage=st.sampled_from(['none', 'truncate', 'corrupt', 'no-trailer']),
    where=st.floats(0.05, 0.95),
    # Clear of 1: a limit equal to the body's size is met, not exceeded, up to float rounding.
    limit_share=st.one_of(st.none(), st.floats(0.1, 0.95), st.floats(1.05, 1.5)),
)
def test_a_damaged_or_limited_gzip_body_submits_only_true_values(version, damage, where, limit_share):
    from datadog_checks.base.stubs import aggregator

    reference = capture_reference(version)
    aggregator.reset()
    body = CAPTURES[version]
    z = gzip_of(body)
    at = max(10, int(len(z) * where))
    z = {
        'none': z,
        'truncate': z[:at],
        'corrupt': z[:at] + bytes(b ^ 0xA5 for b in z[at : at + 32]) + z[at + 32 :],
        'no-trailer': z[:-8],
    }[damage]
    options = {} if limit_share is None else {'max_body_size': len(body) * limit_share / (1024 * 1024)}
    with raw.RawServer(raw.send(raw.http_response(z, headers={'Content-Encoding': 'gzip'}))) as server:
        start = time.monotonic()
        check, lines, error = run_check(
            {'openmetrics_endpoint': f'{server.base_url}/', 'timeout': 5, **options}, aggregator
        )
        assert time.monotonic() - start < 10
    assert 'Unexpected error' not in error
    (health,) = aggregator.service_checks(HEALTH)
    complete = damage == 'none' and (limit_share is None or limit_share > 1)
    if complete:
        assert health.status == ServiceCheck.OK, health.message
    else:
        assert health.status != ServiceCheck.OK  # never taken as complete
        if health.status == ServiceCheck.WARNING:
            aggregator.assert_metric('litellm.scrape.truncated', value=1, count=1)
    for key, values in transport_tests.submitted(aggregator).items():
        assert key in reference and values == reference[key], key


@pytest.mark.parametrize('wbits', [15, -15], ids=['zlib', 'raw'])
def test_deflate_bodies_are_read(no_leak, aggregator, raw_server, reference, wbits):
    # `deflate` is zlib-wrapped by the RFC, but some servers send the raw stream: both are read.
    c = zlib.compressobj(6, zlib.DEFLATED, wbits)
    body = c.compress(BODY) + c.flush()
    server = raw_server(raw.send(raw.http_response(body, headers={'Content-Encoding': 'deflate'})))
    outcome = no_leak(instance(f'{server.base_url}/metrics/'))
    assert outcome.status == ServiceCheck.OK, outcome.message
    assert assert_only_true_values(aggregator, reference) == reference
