"""The check against a live proxy running the harness's budgets profile (what `make demo` runs): custom auth whose
test keys carry budgets and rate limits, and traffic through each key."""

import pytest

from datadog_checks.litellm import LitellmCheck
from tools import live_env
from tools.harness import budget_auth

from .conftest import require_live_env

pytestmark = pytest.mark.live


@pytest.fixture(scope='module')
def budget_stack():
    require_live_env()
    with live_env.running(profile='budgets') as stack:
        yield stack


def gauges(aggregator, name):
    return {frozenset(t for t in m.tags if not t.startswith('endpoint:')): m.value for m in aggregator.metrics(name)}


def test_budgets_and_rate_limits_live(dd_run_check, aggregator, budget_stack):
    check = LitellmCheck('litellm', {}, [live_env.instance(budget_stack)])
    dd_run_check(check)
    room, exhausted = budget_auth.CALLERS['room'], budget_auth.CALLERS['exhausted']
    remaining = gauges(aggregator, 'litellm.remaining.api_key.budget.metric')
    by_alias = {dict(t.split(':', 1) for t in tags)['api_key_alias']: v for tags, v in remaining.items()}
    assert by_alias['budget-room'] == pytest.approx(room['max_budget'] - room['spend'], abs=0.01)
    assert by_alias['budget-exhausted'] < 0
    assert 'budget-unlimited' not in by_alias
    # The key hashes are LiteLLM's sha256 of the random test keys, never the keys.
    keys = budget_stack.budget_keys.values()
    assert not any(key in tag for tags in remaining for tag in tags for key in keys)
    teams = gauges(aggregator, 'litellm.remaining.team_budget.metric')
    assert teams[frozenset({'team:team-exhausted', 'team_alias:Exhausted'})] == pytest.approx(
        exhausted['team_max_budget'] - exhausted['team_spend'], abs=0.01
    )

    # A second round: the limited key stays at its limit, the room key's per-model requests do not come back up
    # (unless its one-minute window ended in between).
    before = min(
        v
        for tags, v in gauges(aggregator, 'litellm.remaining.api_key.requests_for_model').items()
        if 'api_key_alias:budget-room' in tags
    )
    live_env.send_traffic(budget_stack)
    aggregator.reset()
    dd_run_check(check)
    used = gauges(aggregator, 'litellm.api.key.rate_limit_used.metric')
    limited = {tags: v for tags, v in used.items() if 'api_key_alias:rate-limited' in tags}
    assert (
        limited[next(t for t in limited if 'rate_limit_type:requests' in t)]
        == budget_auth.CALLERS['limited']['rpm_limit']
    )
    after = min(
        v
        for tags, v in gauges(aggregator, 'litellm.remaining.api_key.requests_for_model').items()
        if 'api_key_alias:budget-room' in tags
    )
    assert after <= before < budget_auth.CALLERS['room']['model_rpm_limit']['gpt-ok']
