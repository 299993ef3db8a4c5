"""The budget monitors and the dashboard's budget group, evaluated on what the check submits from the real budgets
captures: each query's metric, filters and groups must find series, and the monitors must fire on the exhausted
budgets and stay quiet on those with room."""

import math
import re

import pytest

from datadog_checks.litellm import LitellmCheck

from .common import budget_fixture_dirs
from .test_assets import MONITOR_QUERY, load, manifest_assets, parse_metric_queries, walk

NEWEST_BUDGETS = budget_fixture_dirs()[-1]
BUDGET_GROUP = 'Who is about to hit a budget or rate limit?'
BUDGET_MONITORS = ('assets/monitors/team_budget.json', 'assets/monitors/key_budget.json')
AGGREGATE = {'min': min, 'max': max, 'sum': sum, 'avg': lambda v: sum(v) / len(v)}


@pytest.fixture
def submitted(dd_run_check, aggregator, serve_fixture):
    """{(name, tags)} -> value of one check run on the newest budgets capture."""
    dd_run_check(LitellmCheck('litellm', {}, [serve_fixture('real', NEWEST_BUDGETS, 'metrics.txt')]))
    return {(name, frozenset(m.tags)): m.value for name in aggregator.metric_names for m in aggregator.metrics(name)}


def evaluate(query, series):
    """{group: value} of one parsed metric query over submitted series, as Datadog computes it for the last point:
    series filtered by the scope (template variables at their default `*`), grouped by the `by` tags, aggregated."""
    filters = [t for t in query['scope'] if not t.startswith('$')]
    groups = {}
    for (name, tags), value in series.items():
        if name != query['metric'] or not all(t in tags for t in filters):
            continue
        values = dict(t.split(':', 1) for t in tags)
        key = tuple(values.get(by, 'N/A') for by in query['by'])
        groups.setdefault(key, []).append(value)
    return {key: AGGREGATE[query['aggregator']](values) for key, values in groups.items()}


def formula(expression, results):
    """{group: value} of an arithmetic expression over query results (names -> {group: value}), where all are set."""
    common = set.intersection(*(set(r) for r in results.values()))
    out = {}
    for group in common:
        text = expression
        for name, result in results.items():
            text = re.sub(rf'\b{name}\b', repr(result[group]), text)
        assert re.fullmatch(r'[0-9eE.+\-*/() ]+', text), text
        out[group] = eval(text, {'__builtins__': {}})  # noqa: S307 - digits and operators only, checked above
    return out


def monitor_values(path, series):
    definition = load(path)['definition']
    match = MONITOR_QUERY.fullmatch(definition['query'])
    expression, results = match['expression'], {}
    for i, query in enumerate(parse_metric_queries(expression)):
        name = f'q{i}'
        expression = expression.replace(query['text'], name, 1)
        results[name] = evaluate(query, series)
        assert results[name], f'{path}: {query["text"]} finds no series'
    return formula(expression, results), match, definition['options']['thresholds']


def fires(value, comparator, threshold):
    return {'<': value < threshold, '<=': value <= threshold, '>': value > threshold, '>=': value >= threshold}[
        comparator
    ]


def test_team_budget_monitor_on_real_capture(submitted):
    values, match, thresholds = monitor_values(BUDGET_MONITORS[0], submitted)
    # Grouped by team and alias, as the message names them; the unlimited team (+Inf, not sent) has no group.
    assert set(values) == {('team-room', 'Room'), ('team-exhausted', 'Exhausted'), ('team-limited', 'Limited')}
    exhausted = values[('team-exhausted', 'Exhausted')]
    assert exhausted < 0 and fires(exhausted, match['comparator'], thresholds['critical'])
    for team in (('team-room', 'Room'), ('team-limited', 'Limited')):
        assert not fires(values[team], match['comparator'], thresholds['warning']), team
    assert values[('team-room', 'Room')] == pytest.approx(60, abs=0.1)


def test_key_budget_monitor_on_real_capture(submitted):
    values, match, thresholds = monitor_values(BUDGET_MONITORS[1], submitted)
    # Groups are (api_key_alias, hashed_api_key): the by tags in the order the query parser sorts them.
    by_alias = {alias: value for (alias, _), value in values.items()}
    assert set(by_alias) == {'budget-room', 'budget-exhausted', 'rate-limited'}
    assert all(len(key) == 64 for _, key in values)
    assert by_alias['budget-exhausted'] < 0 and fires(by_alias['budget-exhausted'], match['comparator'], 10)
    assert by_alias['budget-room'] == pytest.approx(75, abs=0.1)
    assert not fires(by_alias['budget-room'], match['comparator'], thresholds['warning'])


def budget_widgets():
    dashboard = load(manifest_assets()['dashboards']['LiteLLM Overview'])
    return [
        widget['definition']
        for widget, group in walk(dashboard['widgets'])
        if group == BUDGET_GROUP and widget['definition'].get('requests')
    ]


@pytest.mark.parametrize('definition', budget_widgets(), ids=lambda d: d['title'])
def test_budget_widget_shows_data_on_real_capture(submitted, definition):
    """Every query finds series with every tag it groups by (no N/A group), and every formula has a value."""
    for request in definition['requests']:
        results = {}
        for query in request['queries']:
            (parsed,) = parse_metric_queries(query['query'])
            if parsed['modifier']:  # a count: the capture's cumulative value stands for the window's sum
                parsed = dict(parsed, aggregator='sum')
            results[query['name']] = result = evaluate(parsed, submitted)
            assert result, f'{definition["title"]}: {query["query"]} finds no series'
            assert not any('N/A' in group for group in result), f'{definition["title"]}: {query["query"]}'
        for f in request['formulas']:
            expression = f['formula']
            values = formula(expression, {n: r for n, r in results.items() if re.search(rf'\b{n}\b', expression)})
            assert values and all(math.isfinite(v) for v in values.values()), definition['title']


def test_budget_used_widgets_show_overspending(submitted):
    """The "% used" toplists go past 100 for what is overspent: nothing caps the negative remainder."""
    widgets = {d['title']: d for d in budget_widgets()}
    expected = {
        'Team budget used (%)': ('team-exhausted', 110.0),
        'API key budget used (%)': ('budget-exhausted', 150.0),
    }
    for title, (who, used) in expected.items():
        request = widgets[title]['requests'][0]
        results = {q['name']: evaluate(parse_metric_queries(q['query'])[0], submitted) for q in request['queries']}
        values = formula(request['formulas'][0]['formula'], results)
        (value,) = [v for group, v in values.items() if who in group]
        assert value == pytest.approx(used, abs=0.1), title
    request = widgets['Rate limit used per key (% of allowed)']['requests'][0]
    results = {q['name']: evaluate(parse_metric_queries(q['query'])[0], submitted) for q in request['queries']}
    values = formula(request['formulas'][0]['formula'], results)
    assert values[next(g for g in values if 'rate-limited' in g and 'requests' in g)] == 100.0
