"""The check inside a real Agent (`ddev env start litellm py3.13`, then `ddev env test litellm py3.13`).

The Agent runs in a Docker container on the host network, so it reaches the live proxy on 127.0.0.1. Where no
Docker engine answers, the test is skipped (a docker client without an engine is not enough).
"""

import shutil
import subprocess

import pytest

from datadog_checks.base.constants import ServiceCheck


def docker_engine_answers():
    if not shutil.which('docker'):
        return False
    try:
        return subprocess.run(['docker', 'info'], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not docker_engine_answers(), reason='no Docker engine (`docker info` failed): the e2e Agent runs in one'
    ),
]


def test_agent_collects_from_the_live_proxy(dd_agent_check):
    aggregator = dd_agent_check(rate=True)

    aggregator.assert_service_check('litellm.openmetrics.health', ServiceCheck.OK)
    for name in (
        'litellm.proxy.total_requests.metric.count',
        'litellm.input.tokens.count',
        'litellm.spend.metric.count',
        'litellm.request.total_latency.metric.sum',
        'litellm.deployment.success_responses.count',
        'litellm.deployment.successful_fallbacks.count',
    ):
        aggregator.assert_metric(name)
        aggregator.assert_metric_has_tag(name, 'hashed_api_key:litellm_proxy_master_key')
    aggregator.assert_metric_has_tag('litellm.proxy.total_requests.metric.count', 'requested_model:gpt-ok')
