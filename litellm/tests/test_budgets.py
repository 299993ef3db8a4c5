"""Budgets and rate limits on real captures of the harness's `budgets` profile (tests/fixtures/real/*-budgets).

Custom auth gave each test key a key, team, user, organization and end user with budgets and limits (capture.json
"budget_callers"); LiteLLM filled its budget and rate-limit families per request from that. These tests check what
the check submits from them: names, values (derived from what the custom auth set and the traffic sent) and tags.
"""

import json
import math
import os
import re

import pytest

from datadog_checks.litellm import LitellmCheck
from datadog_checks.litellm.tags import NO_LIMIT

from .common import REAL_FIXTURES, budget_fixture_dirs

VERSIONS = budget_fixture_dirs()
NEWEST_BUDGETS = VERSIONS[-1]

# Families LiteLLM fills per request from the auth object, by the first release (of the captured ones) that does.
# Org and customer hours stay empty: the per-request path passes them no reset time.
FILLED_SINCE = {
    (1, 80): {
        'litellm_remaining_api_key_budget_metric',
        'litellm_api_key_max_budget_metric',
        'litellm_remaining_team_budget_metric',
        'litellm_team_max_budget_metric',
    },
    # User budgets appear; per-model key limits are read back from the v3 rate limiter (1.80 reports no-limit).
    (1, 100): {
        'litellm_remaining_user_budget_metric',
        'litellm_user_max_budget_metric',
        'litellm_remaining_api_key_requests_for_model',
        'litellm_remaining_api_key_tokens_for_model',
    },
    (1, 110): {
        'litellm_api_key_budget_remaining_hours_metric',
        'litellm_team_budget_remaining_hours_metric',
        'litellm_user_budget_remaining_hours_metric',
        'litellm_remaining_org_budget_metric',
        'litellm_org_max_budget_metric',
        'litellm_remaining_customer_budget_metric',
        'litellm_customer_max_budget_metric',
        'litellm_api_key_rate_limit_allowed_metric',
        'litellm_api_key_rate_limit_used_metric',
        'litellm_team_rate_limit_allowed_metric',
        'litellm_team_rate_limit_used_metric',
    },
}
# A budget LiteLLM reports after the request's cost is added: the fake upstream's cost is well under a cent.
COST = 0.01
# Remaining hours are computed at request time; the capture is scraped seconds later.
HOURS = 0.05


def capture(version):
    with open(os.path.join(REAL_FIXTURES, version, 'capture.json')) as f:
        return json.load(f)


def release(version):
    return tuple(int(p) for p in capture(version)['litellm_version'].split('.')[:2])


def filled(version):
    return set().union(*(families for since, families in FILLED_SINCE.items() if release(version) >= since))


def raw_samples(version, name='metrics.txt'):
    """{family: [(labels, value)]} of the gauges in a capture, parsed by hand (values exactly as written)."""
    out = {}
    with open(os.path.join(REAL_FIXTURES, version, name)) as f:
        for line in f:
            if not line.startswith('litellm_') or '{' not in line:
                continue
            head, value = line.rstrip('\n').rsplit(' ', 1)
            family, labels = head.split('{', 1)
            pairs = dict(p.split('=', 1) for p in labels.rstrip('}').split('",') if p)
            out.setdefault(family, []).append(({k: v.strip('"') for k, v in pairs.items()}, float(value)))
    return out


def run(dd_run_check, aggregator, serve_fixture, version):
    dd_run_check(LitellmCheck('litellm', {}, [serve_fixture('real', version, 'metrics.txt')]))
    aggregator.assert_no_duplicate_metrics()
    series = {}
    for name in aggregator.metric_names:
        for m in aggregator.metrics(name):
            series[(name, frozenset(t for t in m.tags if not t.startswith('endpoint:')))] = m.value
    return series


def values(series, name, *tags):
    return [v for (n, t), v in series.items() if n == name and set(tags) <= t]


def one(series, name, *tags):
    found = values(series, name, *tags)
    assert len(found) == 1, (name, tags, found)
    return found[0]


def callers(version):
    return capture(version)['budget_callers']


def sent(version, caller, status=200):
    return sum(
        1 for r in capture(version)['traffic_records'] if r['category'] == f'budget_{caller}' and r['status'] == status
    )


def key_tags(version, caller):
    spec = callers(version)[caller]
    return f'hashed_api_key:{spec["hashed_api_key"]}', f'api_key_alias:{spec["key_alias"]}'


def test_three_releases_captured():
    assert len({capture(v)['litellm_version'] for v in VERSIONS}) >= 3
    assert {release(v)[:2] for v in VERSIONS} >= {(1, 80), (1, 100), (1, 110)}
    for version in VERSIONS:
        data = capture(version)
        assert data['profile'] == 'budgets' and data['proxy_config']['general_settings']['custom_auth']
        # the test keys and the master key (`sk-` and 48 hex digits, random per run) appear nowhere, only hashes
        for path in os.listdir(os.path.join(REAL_FIXTURES, version)):
            with open(os.path.join(REAL_FIXTURES, version, path)) as f:
                assert not re.search(r'sk-[0-9a-f]{48}', f.read()), path
        for caller in data['budget_callers'].values():
            assert re.fullmatch(r'[0-9a-f]{64}', caller['hashed_api_key'])


@pytest.mark.parametrize('version', VERSIONS)
def test_every_family_filled_per_request_has_finite_samples(version):
    samples = raw_samples(version)
    for family in sorted(filled(version)):
        finite = [v for _, v in samples.get(family, []) if math.isfinite(v) and v != NO_LIMIT]
        assert finite, f'{version}: {family} has no finite sample'


@pytest.mark.parametrize('version', VERSIONS)
def test_budgets_values_and_tags(dd_run_check, aggregator, serve_fixture, version):
    series = run(dd_run_check, aggregator, serve_fixture, version)
    spec = callers(version)
    room, exhausted, unlimited = spec['room'], spec['exhausted'], spec['unlimited']

    # Keys: max minus spend (and the request's cost); an exhausted key goes negative, it is not clamped at zero.
    for caller in ('room', 'exhausted', 'limited'):
        s = spec[caller]
        remaining = one(series, 'litellm.remaining.api_key.budget.metric', *key_tags(version, caller))
        assert remaining == pytest.approx(s['max_budget'] - s['spend'], abs=COST)
        assert remaining < s['max_budget'] - s['spend']
        assert one(series, 'litellm.api.key.max_budget.metric', *key_tags(version, caller)) == s['max_budget']
    assert one(series, 'litellm.remaining.api_key.budget.metric', *key_tags(version, 'exhausted')) < 0
    # No budget: LiteLLM writes +Inf, which is not submitted (nor a max budget).
    for name in ('litellm.remaining.api_key.budget.metric', 'litellm.api.key.max_budget.metric'):
        assert not values(series, name, key_tags(version, 'unlimited')[0])

    # Teams.
    for s in (room, exhausted):
        tags = (f'team:{s["team_id"]}', f'team_alias:{s["team_alias"]}')
        assert one(series, 'litellm.remaining.team_budget.metric', *tags) == pytest.approx(
            s['team_max_budget'] - s['team_spend'], abs=COST
        )
        assert one(series, 'litellm.team.max_budget.metric', *tags) == s['team_max_budget']
    assert one(series, 'litellm.remaining.team_budget.metric', 'team:team-exhausted') < 0
    assert not values(series, 'litellm.remaining.team_budget.metric', f'team:{unlimited["team_id"]}')

    if 'litellm_remaining_user_budget_metric' in filled(version):
        for s in (room, exhausted):
            assert one(series, 'litellm.remaining.user_budget.metric', f'user:{s["user_id"]}') == pytest.approx(
                s['user_max_budget'] - s['user_spend'], abs=COST
            )
            assert one(series, 'litellm.user.max_budget.metric', f'user:{s["user_id"]}') == s['user_max_budget']
        # The master key's default user has no budget: +Inf, not submitted.
        assert not values(series, 'litellm.remaining.user_budget.metric', 'user:default_user_id')


@pytest.mark.parametrize('version', [v for v in VERSIONS if release(v) >= (1, 110)])
def test_orgs_customers_and_reset_hours(dd_run_check, aggregator, serve_fixture, version):
    series = run(dd_run_check, aggregator, serve_fixture, version)
    spec = callers(version)
    room, exhausted = spec['room'], spec['exhausted']
    for s in (room, exhausted):
        org = (f'org_id:{s["org_id"]}', f'org_alias:{s["org_alias"]}')
        assert one(series, 'litellm.remaining.org_budget.metric', *org) == pytest.approx(
            s['org_max_budget'] - s['org_spend'], abs=2 * COST
        )
        assert one(series, 'litellm.org.max_budget.metric', *org) == s['org_max_budget']
        customer = f'end_user:{s["end_user"]}'
        assert one(series, 'litellm.remaining.customer_budget.metric', customer) == pytest.approx(
            s['end_user_max_budget'] - s['end_user_spend'], abs=COST
        )
        assert one(series, 'litellm.customer.max_budget.metric', customer) == s['end_user_max_budget']
    assert one(series, 'litellm.remaining.org_budget.metric', f'org_id:{exhausted["org_id"]}') < 0
    assert one(series, 'litellm.remaining.customer_budget.metric', f'end_user:{exhausted["end_user"]}') < 0

    # Hours until the reset, as of the request.
    hours = {
        'litellm.api.key.budget.remaining_hours.metric': (key_tags(version, 'room'), room['key_reset_hours']),
        'litellm.team.budget.remaining_hours.metric': ((f'team:{room["team_id"]}',), room['team_reset_hours']),
        'litellm.user.budget.remaining_hours.metric': ((f'user:{room["user_id"]}',), room['user_reset_hours']),
    }
    for name, (tags, expected) in hours.items():
        assert one(series, name, *tags) == pytest.approx(expected, abs=HOURS), name
    # A reset that is overdue (no reset job ran) is negative, not dropped.
    limited = spec['limited']
    overdue = one(series, 'litellm.api.key.budget.remaining_hours.metric', *key_tags(version, 'limited'))
    assert overdue == pytest.approx(limited['key_reset_hours'], abs=HOURS) and overdue < 0
    # Keys without a reset time have no hours series; org and customer hours never fill per request.
    assert not values(series, 'litellm.api.key.budget.remaining_hours.metric', key_tags(version, 'exhausted')[0])
    assert not values(series, 'litellm.org.budget.remaining_hours.metric')
    assert not values(series, 'litellm.customer.budget.remaining_hours.metric')


@pytest.mark.parametrize('version', [v for v in VERSIONS if release(v) >= (1, 110)])
def test_rate_limits_allowed_and_used(dd_run_check, aggregator, serve_fixture, version):
    series = run(dd_run_check, aggregator, serve_fixture, version)
    spec = callers(version)
    limited, room = spec['limited'], spec['room']
    # The limited key: rpm limit 3, six requests: three answered, three refused with 429.
    assert sent(version, 'limited', 429) == sent(version, 'limited') == limited['rpm_limit']
    assert {
        r.get('error_type')
        for r in capture(version)['traffic_records']
        if r['category'] == 'budget_limited' and r['status'] == 429
    } == {'throttling_error/429'}
    for caller, s in (('limited', limited), ('room', room)):
        tags = key_tags(version, caller)
        assert (
            one(series, 'litellm.api.key.rate_limit_allowed.metric', *tags, 'rate_limit_type:requests')
            == s['rpm_limit']
        )
        assert (
            one(series, 'litellm.api.key.rate_limit_allowed.metric', *tags, 'rate_limit_type:tokens') == s['tpm_limit']
        )
        # Used counts the answered requests: refused ones are not charged to the window.
        assert one(series, 'litellm.api.key.rate_limit_used.metric', *tags, 'rate_limit_type:requests') == sent(
            version, caller
        )
        team = (f'team:{s["team_id"]}', f'team_alias:{s["team_alias"]}')
        assert (
            one(series, 'litellm.team.rate_limit_allowed.metric', *team, 'rate_limit_type:requests')
            == s['team_rpm_limit']
        )
        assert one(series, 'litellm.team.rate_limit_used.metric', *team, 'rate_limit_type:requests') == sent(
            version, caller
        )
    # Used reaches allowed for the key whose limit was hit.
    tags = key_tags(version, 'limited')
    assert one(series, 'litellm.api.key.rate_limit_used.metric', *tags, 'rate_limit_type:requests') == one(
        series, 'litellm.api.key.rate_limit_allowed.metric', *tags, 'rate_limit_type:requests'
    )
    # Keys without limits have no rate-limit series.
    assert not values(series, 'litellm.api.key.rate_limit_allowed.metric', key_tags(version, 'unlimited')[0])


@pytest.mark.parametrize('version', [v for v in VERSIONS if release(v) < (1, 100)])
def test_per_model_limit_unread_before_1_100(dd_run_check, aggregator, serve_fixture, version):
    """LiteLLM 1.80 enforces a key's per-model limit (v3 limiter) but reports "no limit" for it: nothing is sent."""
    series = run(dd_run_check, aggregator, serve_fixture, version)
    room_hash = callers(version)['room']['hashed_api_key']
    raw = raw_samples(version)['litellm_remaining_api_key_requests_for_model']
    assert [v for labels, v in raw if labels['hashed_api_key'] == room_hash] == [NO_LIMIT]
    assert not values(series, 'litellm.remaining.api_key.requests_for_model')
    assert not values(series, 'litellm.remaining.api_key.tokens_for_model')


@pytest.mark.parametrize('version', [v for v in VERSIONS if release(v) >= (1, 100)])
def test_per_model_limits_of_a_key(dd_run_check, aggregator, serve_fixture, version):
    series = run(dd_run_check, aggregator, serve_fixture, version)
    room = callers(version)['room']
    tags = (*key_tags(version, 'room'), 'model:gpt-ok')
    requests = values(series, 'litellm.remaining.api_key.requests_for_model', *tags)
    tokens = values(series, 'litellm.remaining.api_key.tokens_for_model', *tags)
    # One series per deployment answering (model_id): each holds the count left after its own last request.
    assert requests and tokens
    assert min(requests) == room['model_rpm_limit']['gpt-ok'] - sent(version, 'room')
    assert 0 < room['model_tpm_limit']['gpt-ok'] - min(tokens) < 1000
    if release(version) >= (1, 110):
        used = one(
            series, 'litellm.api.key.rate_limit_used.metric', *key_tags(version, 'room'), 'rate_limit_type:tokens'
        )
        assert min(tokens) == room['model_tpm_limit']['gpt-ok'] - used
    # Keys without a per-model limit: LiteLLM writes sys.maxsize ("no limit"), which is not submitted.
    raw = raw_samples(version)['litellm_remaining_api_key_requests_for_model']
    unlimited_hash = callers(version)['unlimited']['hashed_api_key']
    assert any(labels['hashed_api_key'] == unlimited_hash and value == NO_LIMIT for labels, value in raw)
    for name in ('litellm.remaining.api_key.requests_for_model', 'litellm.remaining.api_key.tokens_for_model'):
        assert not values(series, name, f'hashed_api_key:{unlimited_hash}')
        assert not values(series, name, 'hashed_api_key:litellm_proxy_master_key')
        assert all(v < NO_LIMIT for (n, _), v in series.items() if n == name)


@pytest.mark.parametrize('version', VERSIONS)
def test_budget_series_tags(dd_run_check, aggregator, serve_fixture, version):
    """Keys stay LiteLLM's hashes, empty and `None` labels are dropped, and end users are a tag only where LiteLLM
    puts them."""
    series = run(dd_run_check, aggregator, serve_fixture, version)
    hashes = {c['hashed_api_key'] for c in callers(version).values()}
    budget_names = {
        n for (n, _) in series if 'budget' in n or 'rate_limit' in n or n.startswith('litellm.remaining.api_key')
    }
    assert budget_names
    for (name, tags), _ in series.items():
        if name not in budget_names:
            continue
        for tag in tags:
            key, _, value = tag.partition(':')
            assert value not in ('None', ''), (name, tag)
            assert key not in ('client_ip', 'user_agent', 'user_email'), (name, tag)
            if key == 'hashed_api_key':
                assert value in hashes, (name, tag)
    # The key's remaining budget carries its hash and alias, nothing about the caller's team or user.
    room = one(series, 'litellm.remaining.api_key.budget.metric', *key_tags(version, 'room'))
    context = next(t for (n, t), v in series.items() if n == 'litellm.remaining.api_key.budget.metric' and v == room)
    assert {t.split(':', 1)[0] for t in context} == {'hashed_api_key', 'api_key_alias'}


@pytest.mark.parametrize('version', [v for v in VERSIONS if release(v) >= (1, 100)])
def test_deployments_of_one_key_and_model_combine_to_the_lowest(dd_run_check, aggregator, serve_fixture, version):
    """Without `model_id`, a key's per-model series of several deployments become one: the lowest count left is
    the most recent reading of the key's window (each series holds the count after its own last request)."""
    room = callers(version)['room']
    raw = [
        (labels, v)
        for labels, v in raw_samples(version)['litellm_remaining_api_key_requests_for_model']
        if labels['hashed_api_key'] == room['hashed_api_key']
    ]
    dd_run_check(
        LitellmCheck('litellm', {}, [serve_fixture('real', version, 'metrics.txt', exclude_labels=['model_id'])])
    )
    aggregator.assert_no_duplicate_metrics()
    got = [
        m.value
        for m in aggregator.metrics('litellm.remaining.api_key.requests_for_model')
        if f'hashed_api_key:{room["hashed_api_key"]}' in m.tags
    ]
    assert got == [min(v for _, v in raw)] == [room['model_rpm_limit']['gpt-ok'] - sent(version, 'room')]


@pytest.mark.parametrize('version', VERSIONS)
def test_no_limit_and_unlimited_values_on_request(dd_run_check, aggregator, serve_fixture, version):
    """`submit_no_limit_sentinels: true` sends LiteLLM's no-limit value as written; +Inf (no budget) never goes out."""
    unlimited = callers(version)['unlimited']['hashed_api_key']
    instance = serve_fixture('real', version, 'metrics.txt', submit_no_limit_sentinels=True)
    dd_run_check(LitellmCheck('litellm', {}, [instance]))
    got = {
        m.value
        for m in aggregator.metrics('litellm.remaining.api_key.tokens_for_model')
        if f'hashed_api_key:{unlimited}' in m.tags
    }
    assert got == {NO_LIMIT}
    assert not [
        m
        for m in aggregator.metrics('litellm.remaining.api_key.budget.metric')
        if f'hashed_api_key:{unlimited}' in m.tags
    ]


@pytest.mark.parametrize('version', VERSIONS)
def test_what_the_proxy_answered(version):
    """Without LiteLLM's own checks (custom auth skips them) an overspent caller is served; the rpm limit bites
    either way. With `custom_auth_run_common_checks: true` (capture.json "budget_enforcement", a restart after the
    scrapes) LiteLLM refuses the overspent caller with a budget error, never a 402: HTTP 429 in 1.100, 422 in 1.110
    (1.80 has no such option: served)."""
    by_status = capture(version)['traffic']['by_category_status']
    assert by_status['budget_exhausted'] == {'200': 2}
    assert by_status['budget_room'] == {'200': 3} and by_status['budget_unlimited'] == {'200': 2}
    assert by_status['budget_limited'] == {'200': 3, '429': 3}
    assert by_status['budget_unknown_key'] == {'401': 1}
    checked = {r['category']: r for r in capture(version)['budget_enforcement']['records']}
    for caller in ('room', 'unlimited'):
        assert checked[f'checked_{caller}']['status'] == 200, caller
    refused = checked['checked_exhausted']
    if release(version) < (1, 100):
        assert refused['status'] == 200
        return
    assert refused['status'] == (422 if release(version) >= (1, 110) else 429)
    assert refused['error_type'] == f'budget_exceeded/{refused["status"]}'
    assert 'Budget has been exceeded' in refused['error']
    # The rpm limiter's window lives in Redis: it survived the restart, and the limited key is still refused.
    assert checked['checked_limited']['status'] == 429
