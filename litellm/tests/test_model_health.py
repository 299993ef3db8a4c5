"""Model health from `/health`: opt-in, rate-limited, every deployment counted, nothing of the body leaked."""

import json
import logging
from collections import Counter

import pytest

from datadog_checks.base.constants import ServiceCheck
from datadog_checks.dev.utils import get_metadata_metrics
from datadog_checks.litellm import LitellmCheck
from datadog_checks.litellm.side.model_health import DEFAULT_MIN_INTERVAL, error_class, provider_of

from .common import NEWEST, read_fixture, real_fixture_dirs
from .fake_proxy import AUTH, KEY, Clock, Stall, expected_deployments, json_response, paths, real_proxy_routes
from .http_server import Response

SERVICE_CHECK = 'litellm.health_endpoint.can_connect'
ENDPOINT_METRICS = ('litellm.endpoint.healthy_count', 'litellm.endpoint.unhealthy_count', 'litellm.endpoint.info')
ALLOWED_TAG_KEYS = {
    'endpoint',
    'health_endpoint',
    'llm_model',
    'custom_llm_provider',
    'endpoint_health',
    'endpoint_error',
}


def expected_info(version):
    return expected_deployments(json.loads(read_fixture('real', version, 'capture.json'))['proxy_config']['model_list'])


def expected_counts(version):
    info = expected_info(version)
    return tuple(sum(n for (_, health, _), n in info.items() if health == h) for h in ('healthy', 'unhealthy'))


def make_check(server, clock=None, **options):
    instance = {
        'openmetrics_endpoint': f'{server.base_url}/metrics/',
        'headers': dict(AUTH),
        'litellm_health_endpoint': f'{server.base_url}/health',
        'collect_readiness': False,
        **options,
    }
    check = LitellmCheck('litellm', {}, [instance])
    if check.model_health:
        check.model_health.clock = clock or Clock()
    return check


def info(aggregator):
    """{(model, health, error class): value} of `litellm.endpoint.info`, checking each series' provider tag."""
    found = {}
    for m in aggregator.metrics('litellm.endpoint.info'):
        tags = dict(t.split(':', 1) for t in m.tags if not t.startswith(('endpoint:', 'health_endpoint:')))
        assert tags['custom_llm_provider'] == 'openai', tags
        found[(tags['llm_model'], tags['endpoint_health'], tags.get('endpoint_error'))] = m.value
    return found


def gauge(aggregator, name):
    (m,) = aggregator.metrics(name)
    return m.value


def health_checks(aggregator):
    return aggregator.service_checks(SERVICE_CHECK)


def test_off_by_default(dd_run_check, aggregator, serve):
    server = serve(real_proxy_routes(NEWEST))
    check = make_check(server, litellm_health_endpoint=None)
    dd_run_check(check)
    assert '/health' not in paths(server)
    assert not [n for n in aggregator.metric_names if n.startswith('litellm.endpoint.')]
    assert not health_checks(aggregator)


@pytest.mark.parametrize('version', real_fixture_dirs())
def test_real_health_bodies(dd_run_check, aggregator, serve, caplog, version):
    caplog.set_level(logging.DEBUG)
    server = serve(real_proxy_routes(version))
    dd_run_check(make_check(server))

    healthy, unhealthy = expected_counts(version)
    assert gauge(aggregator, 'litellm.endpoint.healthy_count') == healthy
    assert gauge(aggregator, 'litellm.endpoint.unhealthy_count') == unhealthy
    assert info(aggregator) == expected_info(version)
    # The harness runs two deployments of `gpt-ok` on the same upstream model: both are counted.
    assert info(aggregator)[('openai/fake-ok', 'healthy', None)] == 2
    assert gauge(aggregator, 'litellm.endpoint.health_age') == 0
    aggregator.assert_service_check(SERVICE_CHECK, ServiceCheck.OK, count=1)
    aggregator.assert_metrics_using_metadata(get_metadata_metrics(), check_submission_type=True)
    aggregator.assert_metric_has_tag('litellm.endpoint.healthy_count', f'health_endpoint:{server.base_url}/health')

    # /health was called with the key; nothing of its body but the five fields went anywhere.
    (headers,) = [h for p, h in server.requests if p == '/health']
    assert headers['Authorization'] == AUTH['Authorization']
    for name in ENDPOINT_METRICS:
        for m in aggregator.metrics(name):
            assert {t.split(':', 1)[0] for t in m.tags} <= ALLOWED_TAG_KEYS
            assert not [t for t in m.tags if 'sk-' in t or '127.0.0.2' in t]
    for secret in ('sk-fake-upstream', KEY, 'raw_request', 'api_base', 'Traceback', 'Rate limit reached'):
        assert secret not in caplog.text


def test_old_proxies_echo_the_upstream_key_and_it_goes_nowhere(dd_run_check, aggregator, serve, caplog):
    """1.79.3 repeats the upstream request headers (with the provider key) in unhealthy entries."""
    assert b'Bearer sk-fake-upstream-key' in read_fixture('real', '1.79.3', 'health.json')
    caplog.set_level(logging.DEBUG)
    server = serve(real_proxy_routes('1.79.3'))
    dd_run_check(make_check(server))
    everything = [m.tags for n in aggregator.metric_names for m in aggregator.metrics(n)]
    everything += [(sc.message, sc.tags) for sc in health_checks(aggregator)]
    assert 'sk-fake-upstream' not in repr(everything) + caplog.text


def test_polled_at_most_every_interval_and_resubmitted_in_between(dd_run_check, aggregator, serve):
    server = serve(real_proxy_routes(NEWEST))
    clock = Clock()
    check = make_check(server, clock)

    dd_run_check(check)
    for elapsed in (15, 150, DEFAULT_MIN_INTERVAL - 1):
        clock.now = 1000 + elapsed
        aggregator.reset()
        dd_run_check(check)
        assert paths(server).count('/health') == 1
        assert gauge(aggregator, 'litellm.endpoint.health_age') == elapsed
        assert gauge(aggregator, 'litellm.endpoint.unhealthy_count') == 5
        assert info(aggregator) == expected_info(NEWEST)
        aggregator.assert_service_check(SERVICE_CHECK, ServiceCheck.OK, count=1)

    clock.now = 1000 + DEFAULT_MIN_INTERVAL
    aggregator.reset()
    dd_run_check(check)
    assert paths(server).count('/health') == 2
    assert gauge(aggregator, 'litellm.endpoint.health_age') == 0


def test_custom_interval(dd_run_check, serve):
    server = serve(real_proxy_routes(NEWEST))
    clock = Clock()
    check = make_check(server, clock, litellm_health_min_interval=60)
    for step in range(5):
        clock.now = 1000 + 30 * step
        dd_run_check(check)
    assert paths(server).count('/health') == 3


def test_last_result_outlives_a_failed_poll_for_three_intervals(dd_run_check, aggregator, serve):
    server = serve(real_proxy_routes(NEWEST))
    clock = Clock()
    check = make_check(server, clock)
    dd_run_check(check)

    server.routes['/health'] = json_response({'error': 'no'}, 401)
    clock.now += DEFAULT_MIN_INTERVAL
    aggregator.reset()
    dd_run_check(check)
    (sc,) = health_checks(aggregator)
    assert sc.status == ServiceCheck.CRITICAL
    assert gauge(aggregator, 'litellm.endpoint.healthy_count') == 5
    assert gauge(aggregator, 'litellm.endpoint.health_age') == DEFAULT_MIN_INTERVAL

    clock.now += 2 * DEFAULT_MIN_INTERVAL
    aggregator.reset()
    dd_run_check(check)
    assert not aggregator.metrics('litellm.endpoint.healthy_count') and not aggregator.metrics('litellm.endpoint.info')
    assert gauge(aggregator, 'litellm.endpoint.health_age') == 3 * DEFAULT_MIN_INTERVAL
    aggregator.assert_service_check(SERVICE_CHECK, ServiceCheck.CRITICAL, count=1)
    assert paths(server).count('/health') == 3


def refused(server):
    server.__exit__(None, None, None)


FAILURES = [
    (json_response({'error': {'message': 'Authentication Error'}}, 401), 'Authorization: Bearer <key>'),
    (json_response({'error': 'forbidden'}, 403), 'HTTP 403'),
    (json_response({'detail': {'error': 'Model list not initialized'}}, 500), 'HTTP 500'),
    (json_response({'detail': 'Not Found'}, 404), 'check `litellm_health_endpoint`'),
    (Response(b'<html>gateway</html>', content_type='text/html'), "without the JSON of LiteLLM's /health"),
    (json_response(b'{"healthy_endpoints": [', 200), "without the JSON of LiteLLM's /health"),
    # The separate metrics server's own /health.
    (json_response({'status': 'healthy', 'multiproc_dir': '/tmp/prom'}), 'not the separate metrics port'),
    (json_response({'healthy_endpoints': 'all of them'}), "without the JSON of LiteLLM's /health"),
    (json_response([1, 2]), "without the JSON of LiteLLM's /health"),
]


@pytest.mark.parametrize('response, fragment', FAILURES)
def test_poll_failures_go_to_the_service_check(dd_run_check, aggregator, serve, caplog, response, fragment):
    caplog.set_level(logging.DEBUG)
    routes = real_proxy_routes(NEWEST)
    routes['/health'] = response
    server = serve(routes)
    dd_run_check(make_check(server))
    (sc,) = health_checks(aggregator)
    assert sc.status == ServiceCheck.CRITICAL and fragment in sc.message
    assert not [n for n in aggregator.metric_names if n.startswith('litellm.endpoint.')]
    # The scrape did not notice.
    aggregator.assert_service_check('litellm.openmetrics.health', ServiceCheck.OK)
    assert aggregator.metrics('litellm.proxy.total_requests.metric.count')
    assert 'gateway' not in caplog.text and 'multiproc' not in caplog.text and KEY not in caplog.text


def test_unreachable_and_slow_health(dd_run_check, aggregator, serve):
    closed = serve({})
    closed_url = f'{closed.base_url}/health'
    closed.__exit__(None, None, None)
    stall = Stall()
    server = serve({'/metrics/': Response(read_fixture('real', NEWEST, 'metrics.txt')), '/health': stall})
    try:
        dd_run_check(make_check(server, litellm_health_endpoint=closed_url))
        dd_run_check(make_check(server, litellm_health_timeout=0.2))
    finally:
        stall.released.set()
    unreachable, slow = health_checks(aggregator)
    assert unreachable.status == ServiceCheck.CRITICAL and unreachable.message.startswith(f'cannot reach {closed_url}')
    assert slow.status == ServiceCheck.CRITICAL
    assert slow.message.startswith(f'{server.base_url}/health did not answer within 0.2 s')
    assert '`background_health_checks`' in slow.message
    aggregator.assert_service_check('litellm.openmetrics.health', ServiceCheck.OK, count=2)


def test_first_background_check_not_finished(dd_run_check, aggregator, serve):
    """`{}` until the proxy's first background cycle ends: no zeros, and asked again next run (it is cached)."""
    routes = real_proxy_routes(NEWEST)
    routes['/health'] = json_response({})
    server = serve(routes)
    clock = Clock()
    check = make_check(server, clock)
    dd_run_check(check)
    assert not [n for n in aggregator.metric_names if n.startswith('litellm.endpoint.')]
    (sc,) = health_checks(aggregator)
    assert sc.status == ServiceCheck.OK

    server.routes['/health'] = real_proxy_routes(NEWEST)['/health']
    clock.now += 15
    dd_run_check(check)
    assert paths(server).count('/health') == 2
    assert gauge(aggregator, 'litellm.endpoint.healthy_count') == 5


def test_targeted_model_with_no_healthy_deployment(dd_run_check, aggregator, serve):
    """LiteLLM 1.85+ answers `/health?model=...` with 503 and the usual body when no deployment is healthy."""
    body = json.loads(read_fixture('real', NEWEST, 'health.json'))
    flaky = [e for e in body['unhealthy_endpoints'] if e['model'] == 'openai/fake-500-flaky']
    routes = real_proxy_routes(NEWEST)
    routes['/health'] = json_response(
        {'healthy_endpoints': [], 'unhealthy_endpoints': flaky, 'healthy_count': 0, 'unhealthy_count': 1}, 503
    )
    server = serve(routes)
    dd_run_check(make_check(server, litellm_health_endpoint=f'{server.base_url}/health?model=gpt-500-flaky'))
    assert gauge(aggregator, 'litellm.endpoint.healthy_count') == 0
    assert gauge(aggregator, 'litellm.endpoint.unhealthy_count') == 1
    assert info(aggregator) == {('openai/fake-500-flaky', 'unhealthy', 'InternalServerError'): 1}
    aggregator.assert_service_check(SERVICE_CHECK, ServiceCheck.OK)


def test_counts_come_from_the_lists(dd_run_check, aggregator, serve):
    """Entries that are not objects still count; the body's own counts are not trusted over its lists."""
    routes = real_proxy_routes(NEWEST)
    routes['/health'] = json_response(
        {'healthy_endpoints': [{'model': 'gpt-4o'}, 'odd'], 'unhealthy_endpoints': None, 'healthy_count': 7}
    )
    server = serve(routes)
    dd_run_check(make_check(server))
    assert gauge(aggregator, 'litellm.endpoint.healthy_count') == 2
    assert gauge(aggregator, 'litellm.endpoint.unhealthy_count') == 0
    values = Counter()
    for m in aggregator.metrics('litellm.endpoint.info'):
        values[tuple(t for t in m.tags if t.startswith(('llm_model:', 'custom_llm_provider:')))] += m.value
    assert values == {
        ('llm_model:gpt-4o', 'custom_llm_provider:unknown'): 1,
        ('llm_model:unknown', 'custom_llm_provider:unknown'): 1,
    }


@pytest.mark.parametrize(
    'entry, expected',
    [
        ({'model': 'openai/gpt-4o'}, 'openai'),
        ({'model': 'bedrock/anthropic.claude-3-5-sonnet'}, 'bedrock'),
        ({'model': 'openrouter/anthropic/claude-3'}, 'openrouter'),
        ({'model': 'Azure/my-deployment'}, 'azure'),
        ({'model': 'meta-llama/Llama-3-8b', 'custom_llm_provider': 'hosted_vllm'}, 'hosted_vllm'),
        ({'model': 'gpt-3.5-turbo'}, 'unknown'),
        ({'model': 'http://10.0.0.1:8000/v1'}, 'unknown'),
        ({'model': None}, 'unknown'),
        ({}, 'unknown'),
    ],
)
def test_provider_from_model_prefix(entry, expected):
    assert provider_of(entry) == expected


@pytest.mark.parametrize(
    'error, expected',
    [
        ('litellm.RateLimitError: RateLimitError: OpenAIException - quota sk-abc', 'RateLimitError'),
        ('litellm.APIConnectionError: APIConnectionError: OpenAIException - Connection error.', 'APIConnectionError'),
        ('litellm.BadRequestError: ...\nstack trace: Traceback (most recent call last):', 'BadRequestError'),
        ('Timeout exceeded', 'Timeout'),
        ('ValueError: bad params', 'ValueError'),
        ('something went wrong with key sk-secret', 'unknown'),
        (None, 'unknown'),
    ],
)
def test_error_class_names_the_class_only(error, expected):
    assert error_class({'error': error}) == expected


def test_credentials_never_reach_tags_or_messages(dd_run_check, aggregator, serve, caplog):
    caplog.set_level(logging.DEBUG)
    server = serve(real_proxy_routes(NEWEST))
    url = f'http://user:pa55word@127.0.0.1:{server.port}/health?api_key=s3cr3t-value'
    dd_run_check(make_check(server, litellm_health_endpoint=url))
    (sc,) = health_checks(aggregator)
    assert sc.status == ServiceCheck.CRITICAL  # the fake proxy knows no such key
    tags = {t for n in aggregator.metric_names for m in aggregator.metrics(n) for t in m.tags} | set(sc.tags)
    assert f'health_endpoint:http://127.0.0.1:{server.port}/health?api_key=********' in tags
    # (urllib3's own debug line names the request path, query included: the check's log does not.)
    check_log = '\n'.join(r.getMessage() for r in caplog.records if r.name.startswith('datadog_checks'))
    for secret in ('s3cr3t-value', 'pa55word'):
        assert secret not in repr(tags) + sc.message + check_log

    aggregator.reset()
    routes = real_proxy_routes(NEWEST)
    server = serve(routes)
    with pytest.raises(Exception, match='header value is invalid'):
        dd_run_check(make_check(server, headers={'Authorization': f'Bearer {KEY}\n'}))
    (sc,) = health_checks(aggregator)
    assert sc.status == ServiceCheck.CRITICAL and 'InvalidHeader' in sc.message
    assert KEY not in sc.message + caplog.text
