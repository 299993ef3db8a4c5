"""`litellm.readiness` and the LiteLLM version, on the real proxies' answers and on the faults around them."""

import logging

import pytest

from datadog_checks.base.constants import ServiceCheck
from datadog_checks.litellm import LitellmCheck
from datadog_checks.litellm.side.readiness import VERSION_REFRESH_SECONDS, derive_readiness_url, details_url

from .common import NEWEST, read_fixture, real_fixture_dirs
from .fake_proxy import AUTH, KEY, Clock, Stall, captured_version, json_response, paths, real_proxy_routes
from .http_server import Response

CHECK_ID = 'litellm:readiness-test'
# LiteLLM's public readiness answer names the version up to ~1.82; from 1.85 only the details do.
DETAILS_FROM = (1, 85)
METRICS = Response(read_fixture('real', NEWEST, 'metrics.txt'))


def make_check(instance, clock=None):
    check = LitellmCheck('litellm', {}, [instance])
    check.check_id = CHECK_ID
    if clock:
        check.readiness.clock = clock
    return check


def instance_for(server, **options):
    return {'openmetrics_endpoint': f'{server.base_url}/metrics/', 'headers': dict(AUTH), **options}


def readiness(aggregator):
    return aggregator.service_checks('litellm.readiness')


def semver(version):
    major, minor, patch = version.split('.')
    return {
        'version.scheme': 'semver',
        'version.raw': version,
        'version.major': major,
        'version.minor': minor,
        'version.patch': patch,
    }


@pytest.mark.parametrize('version', real_fixture_dirs())
def test_real_proxy_is_ready_and_names_its_version(dd_run_check, aggregator, datadog_agent, serve, version):
    server = serve(real_proxy_routes(version))
    instance = instance_for(server)
    check = make_check(instance)
    dd_run_check(check)
    dd_run_check(check)

    endpoint = f'endpoint:{instance["openmetrics_endpoint"]}'
    aggregator.assert_service_check('litellm.readiness', ServiceCheck.OK, tags=[endpoint], count=2)
    aggregator.assert_service_check('litellm.openmetrics.health', ServiceCheck.OK, count=2)
    datadog_agent.assert_metadata(CHECK_ID, semver(captured_version(version)))
    requested = paths(server)
    assert requested.count('/health/readiness') == 2
    # The details need the key and are asked only when readiness keeps the version to itself, and only once.
    release = tuple(int(part) for part in captured_version(version).split('.'))
    assert requested.count('/health/readiness/details') == (1 if release >= DETAILS_FROM else 0)
    assert '/openapi.json' not in requested and '/health' not in requested


@pytest.mark.parametrize(
    'metrics_url, expected',
    [
        ('http://127.0.0.1:4000/metrics/', 'http://127.0.0.1:4000/health/readiness'),
        ('http://127.0.0.1:4000/metrics', 'http://127.0.0.1:4000/health/readiness'),
        ('https://gw.example/litellm/metrics/?x=1', 'https://gw.example/litellm/health/readiness'),
        ('http://127.0.0.1:4000/', 'http://127.0.0.1:4000/health/readiness'),
        ('http://127.0.0.1:4000/custom-scrape', 'http://127.0.0.1:4000/health/readiness'),
    ],
)
def test_readiness_url_is_derived_from_the_metrics_url(metrics_url, expected):
    assert derive_readiness_url(metrics_url) == expected


def test_details_url_keeps_the_query():
    assert (
        details_url('https://gw.example/health/readiness/?tenant=a')
        == 'https://gw.example/health/readiness/details?tenant=a'
    )


# Answers LiteLLM gives when it is not (fully) ready, per its source: 1.85+ keeps `status`/`db`, earlier versions
# put the database error in `detail`, and up to ~1.82 a proxy with a database spreads the database's status
# over `status` (200 with `allow_requests_on_db_unavailable`).
FAULTS = [
    (503, {'status': 'shutting_down'}, ServiceCheck.CRITICAL, 'shutting down'),
    (503, {'status': 'healthy', 'db': 'disconnected'}, ServiceCheck.CRITICAL, 'database disconnected'),
    (503, {'status': 'healthy', 'db': 'stalled'}, ServiceCheck.CRITICAL, 'database stalled'),
    (503, {'detail': "Service Unhealthy (Can't reach database server at `db:5432`)"}, ServiceCheck.CRITICAL, 'db:5432'),
    (503, b'', ServiceCheck.CRITICAL, 'no reason given'),
    (200, {'status': 'healthy', 'db': 'disconnected'}, ServiceCheck.CRITICAL, 'database as disconnected'),
    (200, {'status': 'disconnected', 'db': 'connected', 'last_updated': 'x'}, ServiceCheck.CRITICAL, 'disconnected'),
    (200, {'status': 'healthy', 'db': 'stalled'}, ServiceCheck.WARNING, 'stalled'),
    (200, {'status': 'unknown', 'db': 'connected'}, ServiceCheck.WARNING, "unexpected readiness status 'unknown'"),
    (200, {'status': 'healthy', 'db': 'connected'}, ServiceCheck.OK, ''),
    (200, {'status': 'connected', 'db': 'connected', 'litellm_version': '1.74.0'}, ServiceCheck.OK, ''),
    (200, {'status': 'healthy', 'db': 'Not connected'}, ServiceCheck.OK, ''),
    (200, b'<html>LiteLLM UI</html>', ServiceCheck.CRITICAL, "without LiteLLM's readiness JSON"),
    (404, {'detail': 'Not Found'}, ServiceCheck.CRITICAL, 'set `readiness_endpoint`'),
    (401, {'error': 'no'}, ServiceCheck.CRITICAL, 'HTTP 401'),
    (500, b'Internal Server Error', ServiceCheck.CRITICAL, 'HTTP 500'),
]


@pytest.mark.parametrize('status, body, expected, fragment', FAULTS)
def test_readiness_answers(dd_run_check, aggregator, serve, status, body, expected, fragment):
    server = serve(
        {
            '/metrics/': METRICS,
            '/health/readiness': json_response(body, status),
        }
    )
    dd_run_check(make_check(instance_for(server)))
    (sc,) = readiness(aggregator)
    assert sc.status == expected
    assert fragment in (sc.message or '')
    if expected == ServiceCheck.OK:
        assert not sc.message
    # The scrape does not care.
    aggregator.assert_service_check('litellm.openmetrics.health', ServiceCheck.OK)
    assert aggregator.metrics('litellm.proxy.total_requests.metric.count')


def test_database_credentials_in_a_refusal_are_not_repeated(dd_run_check, aggregator, serve):
    detail = "Service Unhealthy (Can't reach postgresql://litellm:hunter2@db:5432/litellm)"
    server = serve({'/metrics/': METRICS, '/health/readiness': json_response({'detail': detail}, 503)})
    dd_run_check(make_check(instance_for(server)))
    (sc,) = readiness(aggregator)
    assert 'hunter2' not in sc.message and 'postgresql://***@db:5432' in sc.message


def test_unreachable_proxy_is_critical_and_the_scrape_still_runs(dd_run_check, aggregator, serve):
    closed = serve({})
    url = closed.base_url
    closed.__exit__(None, None, None)
    server = serve({'/metrics/': Response(read_fixture('real', NEWEST, 'metrics.txt'))})
    dd_run_check(make_check(instance_for(server, readiness_endpoint=f'{url}/health/readiness')))
    (sc,) = readiness(aggregator)
    assert sc.status == ServiceCheck.CRITICAL
    assert sc.message.startswith(f'cannot reach {url}/health/readiness: ConnectionError')
    aggregator.assert_service_check('litellm.openmetrics.health', ServiceCheck.OK)


def test_slow_readiness_is_critical_after_its_own_timeout(dd_run_check, aggregator, serve):
    stall = Stall()
    server = serve({'/metrics/': METRICS, '/health/readiness': stall})
    try:
        dd_run_check(make_check(instance_for(server, readiness_timeout=0.2)))
    finally:
        stall.released.set()
    (sc,) = readiness(aggregator)
    assert sc.status == ServiceCheck.CRITICAL
    assert sc.message == f'{server.base_url}/health/readiness did not answer within 0.2 s'


def test_readiness_runs_when_the_scrape_fails(dd_run_check, aggregator, datadog_agent, serve):
    routes = real_proxy_routes(NEWEST)
    routes['/metrics/'] = Response(b'boom', status=500, content_type='text/plain')
    server = serve(routes)
    with pytest.raises(Exception, match='500'):
        dd_run_check(make_check(instance_for(server)))
    aggregator.assert_service_check('litellm.openmetrics.health', ServiceCheck.CRITICAL)
    aggregator.assert_service_check('litellm.readiness', ServiceCheck.OK)
    datadog_agent.assert_metadata(CHECK_ID, semver(NEWEST))


def test_separate_metrics_port_needs_readiness_endpoint(dd_run_check, aggregator, serve):
    """LiteLLM's `--prometheus_metrics_port` server has /metrics and its own /health, not the proxy's routes."""
    proxy = serve(real_proxy_routes(NEWEST))
    metrics = serve({'/metrics/': Response(read_fixture('real', NEWEST, 'metrics.txt'))})
    dd_run_check(make_check(instance_for(metrics)))
    (sc,) = readiness(aggregator)
    assert sc.status == ServiceCheck.CRITICAL and '`readiness_endpoint`' in sc.message

    aggregator.reset()
    dd_run_check(make_check(instance_for(metrics, readiness_endpoint=f'{proxy.base_url}/health/readiness')))
    (sc,) = readiness(aggregator)
    assert sc.status == ServiceCheck.OK
    assert sc.tags == [f'endpoint:{metrics.base_url}/metrics/']


def test_readiness_can_be_turned_off(dd_run_check, aggregator, datadog_agent, serve):
    server = serve(real_proxy_routes(NEWEST))
    check = make_check(instance_for(server, collect_readiness=False, tags=['team:llm']))
    dd_run_check(check)
    dd_run_check(check)
    assert not readiness(aggregator)
    # The version is still looked for, once: readiness first (cheap), then its details.
    assert [p for p in paths(server) if p != '/metrics/'] == ['/health/readiness', '/health/readiness/details']
    datadog_agent.assert_metadata(CHECK_ID, semver(NEWEST))


def test_version_is_not_asked_when_metadata_collection_is_off(dd_run_check, datadog_agent, serve, monkeypatch):
    monkeypatch.setattr(LitellmCheck, 'is_metadata_collection_enabled', staticmethod(lambda: False))
    server = serve(real_proxy_routes(NEWEST))
    dd_run_check(make_check(instance_for(server)))
    assert '/health/readiness/details' not in paths(server)
    datadog_agent.assert_metadata_count(0)


def test_version_refresh_policy(dd_run_check, aggregator, datadog_agent, serve):
    """Details are asked once, again after the proxy was unready (a restart), and again after an hour."""
    server = serve(real_proxy_routes(NEWEST))
    routes = server.routes
    ready = routes['/health/readiness']
    clock = Clock()
    check = make_check(instance_for(server), clock)

    def details_asked():
        return paths(server).count('/health/readiness/details')

    dd_run_check(check)
    clock.now += 60
    dd_run_check(check)
    assert details_asked() == 1

    # Down for a while (a restart): no version asked while unready ...
    routes['/health/readiness'] = json_response({'status': 'shutting_down'}, 503)
    dd_run_check(check)
    assert details_asked() == 1
    # ... and asked again once it is back, maybe upgraded.
    routes['/health/readiness/details'] = json_response({'status': 'healthy', 'litellm_version': '1.111.0'})
    routes['/health/readiness'] = ready
    dd_run_check(check)
    assert details_asked() == 2
    datadog_agent.assert_metadata(CHECK_ID, semver('1.111.0'))

    clock.now += VERSION_REFRESH_SECONDS - 1
    dd_run_check(check)
    assert details_asked() == 2
    clock.now += 1
    dd_run_check(check)
    assert details_asked() == 3
    assert [sc.status for sc in readiness(aggregator)] == [0, 0, 2, 0, 0, 0]


def test_version_stays_quiet_without_a_key(dd_run_check, datadog_agent, serve, caplog):
    caplog.set_level(logging.DEBUG)
    server = serve(real_proxy_routes(NEWEST))
    check = make_check({'openmetrics_endpoint': f'{server.base_url}/metrics/'})
    check.readiness.clock = Clock()
    for _ in range(3):
        dd_run_check(check)
    datadog_agent.assert_metadata_count(0)
    assert paths(server).count('/health/readiness/details') == 1
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and 'version' in r.getMessage().lower()]


def test_odd_versions_keep_their_raw_form(dd_run_check, datadog_agent, serve):
    server = serve(
        {
            '/metrics/': METRICS,
            '/health/readiness': json_response(
                {'status': 'healthy', 'db': 'Not connected', 'litellm_version': '1.67.0.post1'}
            ),
        }
    )
    dd_run_check(make_check(instance_for(server)))
    datadog_agent.assert_metadata(CHECK_ID, {'version.raw': '1.67.0.post1', 'version.major': '1', 'version.patch': '0'})


@pytest.mark.parametrize('version', ['', 'unknown', None, 17])
def test_no_version_without_a_version_string(dd_run_check, datadog_agent, serve, version):
    server = serve(
        {'/metrics/': METRICS, '/health/readiness': json_response({'status': 'healthy', 'litellm_version': version})}
    )
    dd_run_check(make_check(instance_for(server)))
    datadog_agent.assert_metadata_count(0)


def test_the_key_never_leaves_the_headers(dd_run_check, aggregator, serve, caplog):
    caplog.set_level(logging.DEBUG)
    for routes in (
        {'/metrics/': METRICS, '/health/readiness': json_response({'detail': 'x'}, 503)},
        {'/metrics/': METRICS, '/health/readiness': json_response({'detail': 'x'}, 401)},
        real_proxy_routes(NEWEST),
    ):
        server = serve(routes)
        dd_run_check(make_check(instance_for(server)))
    assert [h['Authorization'] for p, h in server.requests if p.endswith('/details')] == [AUTH['Authorization']]
    assert KEY not in caplog.text
    assert not [sc for sc in readiness(aggregator) if KEY in (sc.message or '') or KEY in str(sc.tags)]


def test_a_key_requests_refuses_to_send_is_not_quoted(dd_run_check, aggregator, serve, caplog):
    """`requests` quotes an invalid header value (a key read from a file with its newline) in its error."""
    caplog.set_level(logging.DEBUG)
    server = serve(real_proxy_routes(NEWEST))
    instance = instance_for(server, headers={'Authorization': f'Bearer {KEY}\n'})
    with pytest.raises(Exception, match='header value is invalid'):
        dd_run_check(make_check(instance))
    (sc,) = readiness(aggregator)
    assert sc.status == ServiceCheck.CRITICAL and 'InvalidHeader' in sc.message
    # Newer requests quote the value (masked here); older ones let http.client's error through, named, unquoted.
    assert '********' in sc.message or 'a header value in `headers` is invalid' in sc.message
    assert KEY not in sc.message and KEY not in caplog.text


def test_credentials_in_the_readiness_url_are_masked(dd_run_check, aggregator, serve):
    server = serve({'/metrics/': METRICS})
    dd_run_check(make_check(instance_for(server, readiness_endpoint=f'{server.base_url}/ready?token=s3cr3t-value')))
    (sc,) = readiness(aggregator)
    assert sc.status == ServiceCheck.CRITICAL and 's3cr3t-value' not in sc.message and 'token=********' in sc.message
