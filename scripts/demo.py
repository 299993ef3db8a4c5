"""`make demo`: the LiteLLM check against a real LiteLLM proxy on this machine.

Installs what it needs (reused by the next run), starts the live environment of the tests (the pinned LiteLLM
proxy on 127.0.0.1, a fake upstream, Redis) with the harness's custom auth, whose test keys carry budgets and rate
limits, sends traffic, runs the check, sends more traffic and runs it again, as `datadog-agent check litellm
--check-rate` does, so that counts have values. Then prints every metric and service check submitted, the budgets
and rate limits by key, team, user, organization and customer, stops everything, and exits 0 only if both runs
succeeded.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / 'litellm'))

from datadog_checks.base.stubs import aggregator  # noqa: E402
from datadog_checks.litellm import LitellmCheck  # noqa: E402
from tests.common import LITELLM_VERSION  # noqa: E402
from tools import live_env  # noqa: E402

STATUS = {0: 'OK', 1: 'WARNING', 2: 'CRITICAL', 3: 'UNKNOWN'}
TYPES = {aggregator.GAUGE: 'gauge', aggregator.MONOTONIC_COUNT: 'count', aggregator.COUNT: 'count'}


def step(message):
    print(f'\n== {message}', flush=True)


def run_check(check):
    """One check run, like one Agent collection: (error or None, {(name, tags): (type, value, flush_first)}, checks)."""
    aggregator.reset()
    error = check.run()
    series = {}
    for name in aggregator.metric_names:
        for m in aggregator.metrics(name):
            # One value per context and run, as the Agent keeps (the check combines series left with equal tags).
            series[(name, tuple(sorted(m.tags)))] = (m.type, m.value, m.flush_first_value)
    checks = [sc for name in aggregator.service_check_names for sc in aggregator.service_checks(name)]
    return (json.loads(error)[0]['message'] if error else None), series, checks


def value_shown(key, second, first):
    """A gauge's value; a counter's delta between the runs, computed as the Agent does (None when it sends none)."""
    mtype, value, flush_first = second[key]
    if mtype != aggregator.MONOTONIC_COUNT:
        return value
    if key in first:
        earlier = first[key][1]
        return value - earlier if value >= earlier else None
    return value if flush_first else None


def number(value):
    if value is None:
        return '-'
    if float(value).is_integer():
        return str(int(value))
    return f'{value:.6g}'


def print_metrics(first, second, endpoint_tag):
    by_name = {}
    for key in second:
        by_name.setdefault(key[0], []).append(key)
    rows = []
    for name in sorted(by_name):
        keys = by_name[name]
        shown = {key: value_shown(key, second, first) for key in keys}
        # The most telling example: the tag set with the largest value or delta.
        example = max(keys, key=lambda k: (shown[k] is not None, abs(shown[k] or 0)))
        tags = ' '.join(t for t in example[1] if t != endpoint_tag)
        mtype = TYPES.get(second[example][0], str(second[example][0]))
        rows.append((name, mtype, len(keys), number(shown[example]), tags))
    width = max(len(r[0]) for r in rows)
    header = f'{"METRIC":<{width}}  {"TYPE":<5}  {"SETS":>4}  {"VALUE/DELTA":>11}  EXAMPLE TAG SET'
    print(f'{header} (all carry {endpoint_tag})')
    for name, mtype, sets, value, tags in rows:
        print(f'{name:<{width}}  {mtype:<5}  {sets:>4}  {value:>11}  {tags}')


# The budget section: (heading, identity tags, {column: metric}) per kind of budget holder.
BUDGETS = (
    (
        'API keys',
        ('api_key_alias',),
        {
            'remaining $': 'litellm.remaining.api_key.budget.metric',
            'max $': 'litellm.api.key.max_budget.metric',
            'hours to reset': 'litellm.api.key.budget.remaining_hours.metric',
        },
    ),
    (
        'teams',
        ('team_alias', 'team'),
        {
            'remaining $': 'litellm.remaining.team_budget.metric',
            'max $': 'litellm.team.max_budget.metric',
            'hours to reset': 'litellm.team.budget.remaining_hours.metric',
        },
    ),
    (
        'users',
        ('user',),
        {
            'remaining $': 'litellm.remaining.user_budget.metric',
            'max $': 'litellm.user.max_budget.metric',
            'hours to reset': 'litellm.user.budget.remaining_hours.metric',
        },
    ),
    (
        'organizations',
        ('org_alias', 'org_id'),
        {'remaining $': 'litellm.remaining.org_budget.metric', 'max $': 'litellm.org.max_budget.metric'},
    ),
    (
        'customers',
        ('end_user',),
        {'remaining $': 'litellm.remaining.customer_budget.metric', 'max $': 'litellm.customer.max_budget.metric'},
    ),
    (
        'key rate limits',
        ('api_key_alias', 'rate_limit_type'),
        {'used': 'litellm.api.key.rate_limit_used.metric', 'allowed': 'litellm.api.key.rate_limit_allowed.metric'},
    ),
    (
        'team rate limits',
        ('team_alias', 'rate_limit_type'),
        {'used': 'litellm.team.rate_limit_used.metric', 'allowed': 'litellm.team.rate_limit_allowed.metric'},
    ),
    (
        'per-model key limits (lowest over deployments)',
        ('api_key_alias', 'model'),
        {
            'requests left': 'litellm.remaining.api_key.requests_for_model',
            'tokens left': 'litellm.remaining.api_key.tokens_for_model',
        },
    ),
)


def budget_rows(series, identity, columns):
    """{who: {column: value}} from one run's gauges; several series of one holder (deployments) give the lowest."""
    rows = {}
    for (name, tags), (_, value, _) in series.items():
        column = next((c for c, metric in columns.items() if metric == name), None)
        if column is None:
            continue
        values = dict(t.split(':', 1) for t in tags)
        who = ' / '.join(values.get(tag, '-') for tag in identity)
        cell = rows.setdefault(who, {})
        cell[column] = min(value, cell.get(column, value))
    return rows


def print_budgets(series):
    """Budgets and rate limits by holder, as submitted in one run (negative: spent past the max budget)."""
    shown = 0
    for heading, identity, columns in BUDGETS:
        rows = budget_rows(series, identity, columns)
        if not rows:
            print(f'{heading}: none submitted')
            continue
        width = max(len(who) for who in rows)
        print(f'{heading}:')
        print(f'  {" / ".join(identity):<{width}}  ' + '  '.join(f'{c:>14}' for c in columns))
        for who in sorted(rows):
            print(f'  {who:<{width}}  ' + '  '.join(f'{number(rows[who].get(c)):>14}' for c in columns))
        shown += len(rows)
    return shown


def print_service_checks(runs):
    print(f'{"RUN":<3}  {"SERVICE CHECK":<28}  {"STATUS":<8}  TAGS / MESSAGE')
    for number_, checks in enumerate(runs, 1):
        for sc in checks:
            detail = ' '.join(sc.tags) + (f' / {sc.message}' if sc.message else '')
            print(f'{number_:<3}  {sc.name:<28}  {STATUS.get(sc.status, sc.status):<8}  {detail}')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--litellm-version', default=LITELLM_VERSION, help='LiteLLM release (default: %(default)s)')
    args = parser.parse_args(argv)
    began = time.monotonic()

    step(f'1/6 install LiteLLM {args.litellm_version} and redis-server (first run only; reused afterwards)')
    installed = live_env.install(args.litellm_version)
    print(f'LiteLLM venv: {installed["venv"]}')
    print(f'redis-server: {installed["redis_server"] or "none: " + live_env.NO_REDIS}')

    step('2/6 start the fake upstream, Redis and the LiteLLM proxy on 127.0.0.1, then send traffic')
    with live_env.running(args.litellm_version, profile='budgets') as stack:
        instance = live_env.instance(stack)
        shown = dict(instance, headers={'Authorization': 'Bearer <the proxy master key>'})
        print(f'proxy ready after {stack.proxy.startup_seconds:.1f}s; the instance: {json.dumps(shown)}')
        check = LitellmCheck('litellm', {}, [instance])

        step('3/6 run the check (run 1)')
        error1, first, checks1 = run_check(check)
        print(f'run 1: {"failed: " + error1 if error1 else "OK"}, {len(first)} series')

        step('4/6 send more traffic')
        sent = live_env.send_traffic(stack)
        print(f'{sent["total"]} requests: ' + ', '.join(f'{n} x {s}' for s, n in sent['by_status'].items()))

        step('5/6 run the check again (run 2): counts are the deltas between the runs')
        error2, second, checks2 = run_check(check)
        print(f'run 2: {"failed: " + error2 if error2 else "OK"}, {len(second)} series')

        step('6/6 what the check submitted in run 2')
        endpoint_tag = f'endpoint:{instance["openmetrics_endpoint"]}'
        if second:
            print_metrics(first, second, endpoint_tag)
        print()
        print_service_checks([checks1, checks2])

        step('budgets and rate limits in run 2 (the test keys of the custom auth; "-": not reported)')
        holders = print_budgets(second)
        step('stopping the proxy, Redis and the upstream')

    names = {key[0] for key in second if key[0].startswith('litellm.')}
    budget_series = sum(1 for key in second if any(key[0] in cols.values() for _, _, cols in BUDGETS))
    health = [STATUS.get(sc.status) for sc in checks2 if sc.name == 'litellm.openmetrics.health']
    ok = not error1 and not error2 and health == ['OK'] and budget_series > 0
    runs = ', '.join(f'run {i} {"failed" if error else "OK"}' for i, error in ((1, error1), (2, error2)))
    print(
        f'\ndemo {"OK" if ok else "FAILED"}: LiteLLM {args.litellm_version}, proxy ready in '
        f'{stack.proxy.startup_seconds:.1f}s; {runs}; {len(names)} litellm.* metrics in {len(second)} series; '
        f'litellm.openmetrics.health {"/".join(health) or "none"}; {budget_series} budget and rate-limit series '
        f'for {holders} holders; {time.monotonic() - began:.0f}s in all'
    )
    return 0 if ok else 1


if __name__ == '__main__':
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit('demo interrupted (everything it started is stopped)')
    except Exception as exc:  # a newcomer needs the reason (the harness adds the proxy's log tail), not a traceback
        sys.exit(f'demo FAILED: {type(exc).__name__}: {exc}')
