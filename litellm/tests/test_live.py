"""The check against a real LiteLLM proxy on 127.0.0.1 (tools/live_env.py): what captured payloads cannot prove.

Each test computes its own deltas between two runs of one check, so the traffic of other tests does not matter.
The restart test stops the shared proxy: it stays last in this file.
"""

import json
import secrets

import pytest

from datadog_checks.base.constants import ServiceCheck
from datadog_checks.dev.utils import get_metadata_metrics
from datadog_checks.litellm import LitellmCheck
from tools import live_env
from tools.harness import proxy as harness

pytestmark = pytest.mark.live

HEALTH = 'litellm.openmetrics.health'
MASTER = 'hashed_api_key:litellm_proxy_master_key'


def submitted(aggregator):
    """{(name, tags): value} of everything submitted since the last reset (values of equal tag sets added)."""
    series = {}
    for name in aggregator.metric_names:
        for m in aggregator.metrics(name):
            key = (name, frozenset(m.tags))
            series[key] = series.get(key, 0) + m.value
    return series


def total(series, name, *tags):
    """Sum over the series of `name` that carry all of `tags`, whatever other tags they have."""
    return sum(value for (n, t), value in series.items() if n == name and t.issuperset(tags))


def delta(before, after, name, *tags):
    return total(after, name, *tags) - total(before, name, *tags)


def counters(aggregator):
    return [
        m for name in aggregator.metric_names for m in aggregator.metrics(name) if m.type == aggregator.MONOTONIC_COUNT
    ]


def chat(stack, model, n):
    """n non-streaming chats with unique prompts, so the cache answers none of them."""
    responses = []
    for _ in range(n):
        body = {'model': model, 'max_tokens': 32, 'messages': [{'role': 'user', 'content': secrets.token_hex(8)}]}
        responses.append(harness.request(stack, 'POST', '/v1/chat/completions', body))
    return responses


def run_failing(check):
    """Run the check once, expecting the run to fail; returns the error message the Agent would show."""
    error = check.run()
    assert error, 'the run should have failed'
    return json.loads(error)[0]['message']


def assert_statuses(aggregator, status):
    checks = aggregator.service_checks(HEALTH)
    assert checks and {sc.status for sc in checks} == {status}, checks


def assert_key_not_leaked(aggregator, key):
    for m in [m for name in aggregator.metric_names for m in aggregator.metrics(name)]:
        assert not any(key in tag for tag in m.tags), m.name
    for sc in aggregator.service_checks(HEALTH):
        assert key not in (sc.message or '') and not any(key in tag for tag in sc.tags)


def test_proxy_is_set_up_as_users_run_it(litellm_stack):
    """The behaviours the check must live with: the redirect, the key on /metrics, a public readiness route."""
    redirect = harness.scrape(litellm_stack, '/metrics')
    assert redirect.status == 307
    assert redirect.headers['location'] == f'{litellm_stack.base_url}/metrics/'
    assert harness.scrape(litellm_stack, '/metrics/', auth=False).status == 401
    assert harness.scrape_readiness(litellm_stack).status == 200
    assert harness.scrape_metrics(litellm_stack).status == 200


def test_counters_advance_by_what_was_sent(dd_run_check, aggregator, dd_environment, litellm_stack):
    check = LitellmCheck('litellm', {}, [dd_environment])
    dd_run_check(check)
    assert_statuses(aggregator, ServiceCheck.OK)
    before = submitted(aggregator)
    aggregator.reset()

    plain = chat(litellm_stack, 'gpt-plain', 3)  # one deployment, no x-ratelimit headers
    rescued = chat(litellm_stack, 'gpt-500', 2)  # always 500 (or cooled down), falls back to gpt-ok
    lost = chat(litellm_stack, 'gpt-500b', 2)  # falls back to gpt-500c, which fails too
    assert [r.status for r in plain + rescued] == [200] * 5
    assert all(r.status >= 400 for r in lost)
    live_env.wait_settled(litellm_stack)

    dd_run_check(check)
    assert_statuses(aggregator, ServiceCheck.OK)
    after = submitted(aggregator)

    n = len(plain)
    prompt = sum(r.json()['usage']['prompt_tokens'] for r in plain)
    completion = sum(r.json()['usage']['completion_tokens'] for r in plain)
    requested = ('requested_model:gpt-plain', 'model_id:gpt-plain-a', 'api_provider:openai', MASTER)
    assert delta(before, after, 'litellm.proxy.total_requests.metric.count', *requested, 'status_code:200') == n
    assert delta(before, after, 'litellm.requests.metric.count', *requested, 'model:fake-plain') == n
    deployment = ('model_id:gpt-plain-a', 'model_group:gpt-plain', 'litellm_model_name:fake-plain')
    assert delta(before, after, 'litellm.deployment.success_responses.count', *deployment) == n
    assert delta(before, after, 'litellm.deployment.total_requests.count', *deployment) == n

    # Tokens and spend follow the upstream's usage and the configured prices (dollars).
    assert delta(before, after, 'litellm.input.tokens.count', *requested) == prompt
    assert delta(before, after, 'litellm.output.tokens.count', *requested) == completion
    assert delta(before, after, 'litellm.total.tokens.count', *requested) == prompt + completion
    spend = prompt * harness.INPUT_COST_PER_TOKEN + completion * harness.OUTPUT_COST_PER_TOKEN
    assert delta(before, after, 'litellm.spend.metric.count', *requested) == pytest.approx(spend, rel=1e-6)

    # Latencies are seconds: the upstream sleeps at least 20 ms, and the proxy answers within the client's wait.
    assert delta(before, after, 'litellm.request.total_latency.metric.count', *requested) == n
    proxy_seconds = delta(before, after, 'litellm.request.total_latency.metric.sum', *requested)
    assert 0 < proxy_seconds <= sum(r.elapsed for r in plain)
    assert delta(before, after, 'litellm.llm.api.latency.metric.count', *requested) == n
    assert n * 0.02 <= delta(before, after, 'litellm.llm.api.latency.metric.sum', *requested) <= proxy_seconds

    # Fallbacks, whatever the exception (a 500, or a 429 once the deployment is cooled down).
    rescued_tags = ('requested_model:gpt-500', 'fallback_model:gpt-ok', MASTER)
    lost_tags = ('requested_model:gpt-500b', 'fallback_model:gpt-500c', MASTER)
    assert delta(before, after, 'litellm.deployment.successful_fallbacks.count', *rescued_tags) == len(rescued)
    assert delta(before, after, 'litellm.deployment.failed_fallbacks.count', *lost_tags) == len(lost)
    for m in aggregator.metrics('litellm.deployment.successful_fallbacks.count'):
        assert any(t.startswith('exception_status:') for t in m.tags), m

    # Deployment health: the failing deployment is in outage (2) and was cooled down; the plain one is healthy.
    assert total(after, 'litellm.deployment.cooled_down.count', 'model_id:gpt-500-a', 'exception_status:500') >= 1
    states = {m.value for m in aggregator.metrics('litellm.deployment.state') if 'model_id:gpt-500-a' in m.tags}
    assert 2 in states
    assert {m.value for m in aggregator.metrics('litellm.deployment.state') if 'model_id:gpt-plain-a' in m.tags} == {0}

    # A second successful run submits counters as usual, every one documented with its type, and no key anywhere.
    assert counters(aggregator) and all(m.flush_first_value for m in counters(aggregator))
    aggregator.assert_metrics_using_metadata(get_metadata_metrics(), check_submission_type=True)
    assert_key_not_leaked(aggregator, litellm_stack.master_key)


def test_cache_hits_and_redis_service_metrics(dd_run_check, aggregator, dd_environment, litellm_stack):
    if litellm_stack.redis is None:
        pytest.skip(live_env.NO_REDIS)
    check = LitellmCheck('litellm', {}, [dd_environment])
    dd_run_check(check)
    before = submitted(aggregator)
    aggregator.reset()

    body = {'model': 'text-embedding-fake', 'input': f'cache me {secrets.token_hex(8)}'}
    first, second = (harness.request(litellm_stack, 'POST', '/v1/embeddings', body) for _ in range(2))
    assert (first.status, second.status) == (200, 200)
    live_env.wait_settled(litellm_stack)
    dd_run_check(check)
    after = submitted(aggregator)

    cached = ('model_id:embed-a', MASTER)
    assert delta(before, after, 'litellm.cache_hits.metric.count', *cached) == 1
    assert delta(before, after, 'litellm.cached_tokens.metric.count', *cached) == first.json()['usage']['total_tokens']
    # The lookups and the write went through Redis, which LiteLLM's own service metrics count.
    assert delta(before, after, 'litellm.redis.total_requests.count') >= 2
    assert delta(before, after, 'litellm.redis.latency.count') >= 2


def test_missing_key_is_critical(aggregator, litellm_stack):
    check = LitellmCheck('litellm', {}, [live_env.instance(litellm_stack, auth=False)])
    run_failing(check)
    assert_statuses(aggregator, ServiceCheck.CRITICAL)
    assert not aggregator.metric_names


def test_key_read_from_a_file(dd_run_check, aggregator, litellm_stack, tmp_path):
    """The README's alternative to a key in conf.yaml: the check reads the bare key from a file."""
    key_file = tmp_path / 'metrics-key'
    key_file.write_text(litellm_stack.master_key + '\n')
    reader = {'type': 'file', 'path': str(key_file)}
    writer = {'type': 'header', 'name': 'Authorization', 'value': 'Bearer <TOKEN>'}
    instance = {**live_env.instance(litellm_stack, auth=False), 'auth_token': {'reader': reader, 'writer': writer}}
    dd_run_check(LitellmCheck('litellm', {}, [instance]))
    assert_statuses(aggregator, ServiceCheck.OK)
    assert total(submitted(aggregator), 'litellm.proxy.total_requests.metric.count', MASTER) > 0
    assert_key_not_leaked(aggregator, litellm_stack.master_key)


def test_restart_is_critical_then_ok_without_a_spike(dd_run_check, aggregator, dd_environment, litellm_stack):
    check = LitellmCheck('litellm', {}, [dd_environment])
    dd_run_check(check)
    aggregator.reset()
    dd_run_check(check)
    assert counters(aggregator) and all(m.flush_first_value for m in counters(aggregator))
    before_restart = submitted(aggregator)
    aggregator.reset()

    litellm_stack.proxy.stop()
    try:
        error = run_failing(check)
        assert_statuses(aggregator, ServiceCheck.CRITICAL)
        assert not counters(aggregator)
        assert litellm_stack.master_key not in error
        assert_key_not_leaked(aggregator, litellm_stack.master_key)
    finally:
        litellm_stack.proxy.start()  # waits for /health/readiness; the session's later tests need the proxy
    live_env.wait_ready(litellm_stack)
    aggregator.reset()

    sent = chat(litellm_stack, 'gpt-plain', 2)
    assert [r.status for r in sent] == [200, 200]
    live_env.wait_settled(litellm_stack)
    dd_run_check(check)
    assert_statuses(aggregator, ServiceCheck.OK)
    # The counters started again from zero in a new process (a new start time): the check's totals grow by what it
    # counted, so the Agent counts the 2 requests, no spike and no loss.
    after_restart = submitted(aggregator)
    name = 'litellm.proxy.total_requests.metric.count'
    assert delta(before_restart, after_restart, name, 'requested_model:gpt-plain') == 2
    assert counters(aggregator) and not any(m.flush_first_value for m in counters(aggregator))

    aggregator.reset()
    dd_run_check(check)
    assert counters(aggregator) and all(m.flush_first_value for m in counters(aggregator))
