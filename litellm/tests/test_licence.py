"""Unlicensed proxies (before 1.80): `litellm.prometheus.licensed` WARNING and an hourly log warning."""

import logging

import pytest

from datadog_checks.base.constants import ServiceCheck
from datadog_checks.litellm import LitellmCheck
from datadog_checks.litellm.licence import WARN_EVERY_SECONDS

from .common import read_fixture, real_fixture_dirs
from .fake_proxy import Clock
from .http_server import Response

UNLICENSED = '1.79.3'


def licence_warnings(caplog):
    return [r for r in caplog.records if r.levelno == logging.WARNING and 'LITELLM_LICENSE' in r.getMessage()]


@pytest.mark.parametrize('payload', ['metrics.txt', 'metrics_before_traffic.txt'])
def test_unlicensed_proxy_warns(dd_run_check, aggregator, serve, caplog, payload):
    server = serve({'/metrics/': Response(read_fixture('real', UNLICENSED, payload))})
    instance = {'openmetrics_endpoint': f'{server.base_url}/metrics/', 'tags': ['team:llm']}
    check = LitellmCheck('litellm', {}, [instance])
    clock = check.licence.clock = Clock()

    dd_run_check(check)
    clock.now += WARN_EVERY_SECONDS - 1
    dd_run_check(check)
    (first, second) = aggregator.service_checks('litellm.prometheus.licensed')
    for sc in (first, second):
        assert sc.status == ServiceCheck.WARNING
        assert sorted(sc.tags) == sorted(['team:llm', f'endpoint:{instance["openmetrics_endpoint"]}'])
        assert '1.80' in sc.message and 'LITELLM_LICENSE' in sc.message
    assert len(licence_warnings(caplog)) == 1

    clock.now += 1
    dd_run_check(check)
    assert len(licence_warnings(caplog)) == 2
    # The counter itself stays, at its real value 0: it is not the signal.
    assert {m.value for m in aggregator.metrics('litellm.not_a_premium_user.metric.count')} <= {0}


@pytest.mark.parametrize('version', [v for v in real_fixture_dirs() if v != UNLICENSED])
def test_licensed_or_recent_proxies_are_ok(dd_run_check, aggregator, serve_fixture, caplog, version):
    dd_run_check(LitellmCheck('litellm', {}, [serve_fixture('real', version, 'metrics.txt')]))
    aggregator.assert_service_check('litellm.prometheus.licensed', ServiceCheck.OK, count=1)
    assert not licence_warnings(caplog)


def test_licence_becomes_ok_once_the_proxy_is_upgraded(dd_run_check, aggregator, serve):
    server = serve({'/metrics/': Response(read_fixture('real', UNLICENSED, 'metrics.txt'))})
    check = LitellmCheck('litellm', {}, [{'openmetrics_endpoint': f'{server.base_url}/metrics/'}])
    dd_run_check(check)
    server.routes['/metrics/'] = Response(read_fixture('real', '1.80.17', 'metrics.txt'))
    dd_run_check(check)
    statuses = [sc.status for sc in aggregator.service_checks('litellm.prometheus.licensed')]
    assert statuses == [ServiceCheck.WARNING, ServiceCheck.OK]


def test_no_licence_verdict_without_a_scrape(dd_run_check, aggregator, serve):
    server = serve({'/metrics/': Response(b'boom', status=500, content_type='text/plain')})
    with pytest.raises(Exception, match='500'):
        dd_run_check(LitellmCheck('litellm', {}, [{'openmetrics_endpoint': f'{server.base_url}/metrics/'}]))
    assert not aggregator.service_checks('litellm.prometheus.licensed')
