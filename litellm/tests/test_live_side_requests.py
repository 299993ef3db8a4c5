"""Readiness, version, unlicensed proxies and model health against real LiteLLM proxies on 127.0.0.1.

Two proxies, one per module-scoped fixture: the pinned release and 1.79.3 (before Prometheus left the
enterprise licence). The harness config has two deployments of `gpt-ok` and models the fake upstream fails.
"""

import logging

import pytest

from datadog_checks.base.constants import ServiceCheck
from datadog_checks.litellm import LitellmCheck
from tools import live_env

from .common import LITELLM_VERSION
from .fake_proxy import expected_deployments

pytestmark = pytest.mark.live
CHECK_ID = 'litellm:live-side-requests'
UNLICENSED = '1.79.3'


def start(version):
    try:
        live_env.install(version)
    except live_env.Unavailable as exc:
        if live_env.in_ci():
            raise
        pytest.skip(f'live LiteLLM proxy unavailable: {exc}')
    return live_env.running(version, traffic=False)


@pytest.fixture(scope='module')
def pinned():
    with start(LITELLM_VERSION) as stack:
        yield stack


@pytest.fixture(scope='module')
def unlicensed():
    with start(UNLICENSED) as stack:
        yield stack


def make_check(stack, key=True, **options):
    instance = {
        'openmetrics_endpoint': f'{stack.base_url}/metrics/',
        'litellm_health_endpoint': f'{stack.base_url}/health',
        **options,
    }
    if key:
        instance['headers'] = {'Authorization': f'Bearer {stack.master_key}'}
    check = LitellmCheck('litellm', {}, [instance])
    check.check_id = CHECK_ID
    return check


class RecordingHttp:
    """The check's HTTP wrapper, noting the path of each side request."""

    def __init__(self, http):
        self.http = http
        self.paths = []

    def get(self, url, **options):
        self.paths.append(url.split('/', 3)[3])
        return self.http.get(url, **options)


def record_urls(check):
    check._http = RecordingHttp(check.http)
    return check._http.paths


def semver(version):
    major, minor, patch = version.split('.')
    return {'version.raw': version, 'version.major': major, 'version.minor': minor, 'version.patch': patch}


def assert_model_health(aggregator, stack):
    expected = expected_deployments(stack.config['model_list'])
    healthy = sum(n for (_, health, _), n in expected.items() if health == 'healthy')
    assert aggregator.metrics('litellm.endpoint.healthy_count')[0].value == healthy
    assert aggregator.metrics('litellm.endpoint.unhealthy_count')[0].value == sum(expected.values()) - healthy
    found = {}
    for m in aggregator.metrics('litellm.endpoint.info'):
        tags = dict(t.split(':', 1) for t in m.tags)
        assert tags['custom_llm_provider'] == 'openai'
        found[(tags['llm_model'], tags['endpoint_health'], tags.get('endpoint_error'))] = m.value
    assert found == expected
    assert found[('openai/fake-ok', 'healthy', None)] == 2
    aggregator.assert_service_check('litellm.health_endpoint.can_connect', ServiceCheck.OK)


def test_pinned_proxy(dd_run_check, aggregator, datadog_agent, pinned, caplog):
    caplog.set_level(logging.DEBUG)
    check = make_check(pinned)
    urls = record_urls(check)
    dd_run_check(check)
    dd_run_check(check)

    aggregator.assert_service_check('litellm.readiness', ServiceCheck.OK, count=2)
    aggregator.assert_service_check('litellm.prometheus.licensed', ServiceCheck.OK, count=2)
    datadog_agent.assert_metadata(CHECK_ID, semver(LITELLM_VERSION))
    # Readiness every run, its details and /health once.
    assert urls == ['health/readiness', 'health/readiness/details', 'health', 'health/readiness']
    assert_model_health(aggregator, pinned)
    assert pinned.master_key not in caplog.text


def test_pinned_proxy_without_a_key(dd_run_check, aggregator, datadog_agent, pinned):
    """Readiness is public; the version (details) and /health need the key: quiet and CRITICAL respectively."""
    check = make_check(pinned, key=False)
    with pytest.raises(Exception, match='401'):
        dd_run_check(check)  # /metrics needs the key too since LiteLLM 1.84
    aggregator.assert_service_check('litellm.readiness', ServiceCheck.OK)
    datadog_agent.assert_metadata_count(0)
    (sc,) = aggregator.service_checks('litellm.health_endpoint.can_connect')
    assert sc.status == ServiceCheck.CRITICAL and 'HTTP 401' in sc.message and 'Authorization' in sc.message
    assert not [n for n in aggregator.metric_names if n.startswith('litellm.endpoint.')]


def test_unlicensed_proxy(dd_run_check, aggregator, datadog_agent, unlicensed, caplog):
    caplog.set_level(logging.DEBUG)
    check = make_check(unlicensed)
    urls = record_urls(check)
    dd_run_check(check)

    (sc,) = aggregator.service_checks('litellm.prometheus.licensed')
    assert sc.status == ServiceCheck.WARNING and 'LITELLM_LICENSE' in sc.message
    assert [r for r in caplog.records if r.levelno == logging.WARNING and 'LITELLM_LICENSE' in r.getMessage()]
    aggregator.assert_service_check('litellm.readiness', ServiceCheck.OK)
    # The version is in the public readiness answer: no details asked.
    datadog_agent.assert_metadata(CHECK_ID, semver(UNLICENSED))
    assert 'health/readiness/details' not in urls
    # 1.79.3 echoes the upstream key in /health: it reaches no tag, message or log line.
    assert_model_health(aggregator, unlicensed)
    upstream_key = unlicensed.config['model_list'][0]['litellm_params']['api_key']
    everything = [m.tags for n in aggregator.metric_names for m in aggregator.metrics(n)]
    everything += [(s.message, s.tags) for n in aggregator.service_check_names for s in aggregator.service_checks(n)]
    assert upstream_key not in repr(everything) + caplog.text


def test_pinned_proxy_stopped(dd_run_check, aggregator, pinned):
    """Last in the module: it stops the shared proxy. Readiness goes CRITICAL, the last model health is still sent."""
    check = make_check(pinned)
    urls = record_urls(check)
    dd_run_check(check)
    pinned.proxy.stop()
    with pytest.raises(Exception, match='error scraping'):
        dd_run_check(check)

    first, stopped = aggregator.service_checks('litellm.readiness')
    assert (first.status, stopped.status) == (ServiceCheck.OK, ServiceCheck.CRITICAL)
    assert stopped.message.startswith(f'cannot reach {pinned.base_url}/health/readiness: ConnectionError')
    unhealthy = sum(
        n for (_, health, _), n in expected_deployments(pinned.config['model_list']).items() if health != 'healthy'
    )
    assert [m.value for m in aggregator.metrics('litellm.endpoint.unhealthy_count')] == [unhealthy, unhealthy]
    # Nothing asked of a proxy that is gone but readiness: no version, no /health before its interval.
    assert urls == ['health/readiness', 'health/readiness/details', 'health', 'health/readiness']
