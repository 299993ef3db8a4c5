"""The tile's dashboards and monitors: the JSON shape Datadog accepts, and queries that can only show data.

Every query must name a metric metadata.csv lists (a percentile may name a histogram's bare distribution name when
its `.bucket` row exists) and only tags that some fixture (real capture or derived payload, every `*.txt` under
tests/fixtures/) carries for that metric, after the check's tag policy. Service checks come from
assets/service_checks.json.
"""

import csv
import datetime
import functools
import json
import math
import os
import re
from collections import defaultdict

import pytest
from prometheus_client.parser import text_string_to_metric_families

from datadog_checks.litellm import LitellmCheck
from datadog_checks.litellm.metrics import METRIC_MAP
from datadog_checks.litellm.tags import DROPPED_LABELS, GENERIC_RENAMES

from .common import FIXTURES, HERE
from .http_server import Response

CHECK_ROOT = os.path.dirname(HERE)
ASSETS = os.path.join(CHECK_ROOT, 'assets')
NAMESPACE = 'litellm.'

# Tags every submission carries whatever LiteLLM exports: the Agent's host, the check's endpoint.
ALWAYS_TAGS = frozenset({'host', 'endpoint'})

WIDGET_TYPES = {'group', 'note', 'timeseries', 'query_value', 'toplist', 'check_status', 'manage_status'}
METRIC_WIDGETS = {'timeseries': 'timeseries', 'query_value': 'scalar', 'toplist': 'scalar'}
TIME_AGGREGATORS = {'avg', 'sum', 'min', 'max', 'last'}
SPACE_AGGREGATORS = {'avg', 'sum', 'min', 'max', 'count'}
PERCENTILE = re.compile(r'p(50|75|90|95|99)$')
FORMULA_FUNCTIONS = {'count_not_null', 'count_nonzero', 'clamp_min', 'clamp_max', 'default_zero', 'abs'}

METRIC_QUERY = re.compile(
    r'(?P<aggregator>[a-z0-9]+):(?P<metric>[A-Za-z0-9_.]+)\{(?P<scope>[^{}]*)\}'
    r'(?:\s*by\s*\{(?P<by>[^{}]*)\})?'
    r'(?P<modifier>\.as_count\(\)|\.as_rate\(\))?'
)
MONITOR_QUERY = re.compile(
    r'(?P<aggregator>avg|sum|min|max)\(last_(?P<window>\d+[mh])\):(?P<expression>.+?)\s*'
    r'(?P<comparator>>=|<=|>|<)\s*(?P<threshold>-?\d+(?:\.\d+)?)'
)
SERVICE_CHECK_QUERY = re.compile(
    r'"(?P<check>[a-z0-9_.]+)"\.over\((?P<over>"[^"]*"(?:,"[^"]*")*)\)'
    r'(?:\.by\((?P<by>"[^"]*"(?:,"[^"]*")*)\))?\.last\((?P<last>\d+)\)\.count_by_status\(\)'
)
# Words saying a monitor or widget shows a share, which only a division computes.
RATIO_WORDS = re.compile(r'\bratio\b|\bshare\b|%', re.IGNORECASE)
MESSAGE_TAG = re.compile(r'\{\{\s*([a-z_]+)\.name\s*\}\}')


def load(*parts):
    with open(os.path.join(CHECK_ROOT, *parts), encoding='utf-8') as f:
        return json.load(f)


@functools.cache
def manifest_assets():
    return load('manifest.json')['assets']


@functools.cache
def metadata():
    with open(os.path.join(CHECK_ROOT, 'metadata.csv'), encoding='utf-8') as f:
        return {row['metric_name']: row for row in csv.DictReader(f)}


@functools.cache
def service_checks():
    return {sc['check']: sc for sc in load('assets', 'service_checks.json')}


def fixture_files():
    found = []
    for root, _, files in os.walk(FIXTURES):
        found.extend(os.path.join(root, name) for name in files if name.endswith('.txt'))
    return sorted(found)


def submitted_names(family, family_type):
    """Datadog names and sample suffixes of one mapped LiteLLM family, as the check submits them."""
    target = METRIC_MAP[family]
    name = NAMESPACE + (target if isinstance(target, str) else target['name'])
    if family_type == 'counter':
        return {'_total': [name + '.count']}
    if family_type == 'histogram':
        # `.bucket/.count/.sum` by default; the bare name as a distribution with histogram_buckets_as_distributions.
        return {'_bucket': [name + '.bucket', name], '_count': [name + '.count'], '_sum': [name + '.sum']}
    return {'': [name]}


def derive(text, only_set=False):
    """{metric: {tag names}} the check submits for one exposition, after its tag policy (names only).

    By default a label counts whatever its value, "None" and "" included: a label that is empty in a capture still
    shows the family carries it, and the tag arrives whenever the value is set. With `only_set`, only the values
    the check actually submits count: set labels of finite samples under LiteLLM's "no limit" value.
    """
    carried = defaultdict(set)
    for family in text_string_to_metric_families(text):
        if family.name not in METRIC_MAP:
            continue
        names = submitted_names(family.name, family.type)
        for sample in family.samples:
            if only_set and not (math.isfinite(sample.value) and sample.value < 2**63):
                continue
            for name in names.get(sample.name[len(family.name) :], ()):
                carried[name]  # a labelless sample still makes the metric known
                for label, value in sample.labels.items():
                    if label in DROPPED_LABELS or (only_set and value in ('None', '')):
                        continue
                    if label == 'le':
                        # Buckets carry their upper bound; a distribution is submitted with both bounds.
                        carried[name] |= {'upper_bound'} if name.endswith('.bucket') else {'upper_bound', 'lower_bound'}
                    else:
                        carried[name].add(GENERIC_RENAMES.get(label, label))
    return carried


@functools.cache
def fixture_tags():
    """Union over every fixture: {metric: {tag names}}."""
    carried = defaultdict(set)
    for path in fixture_files():
        with open(path, encoding='utf-8') as f:
            for name, tags in derive(f.read()).items():
                carried[name] |= tags
    return carried


def is_distribution(metric):
    """A histogram's bare name: sent as a distribution with histogram_buckets_as_distributions: true."""
    return f'{metric}.bucket' in metadata()


def scope_terms(scope):
    for term in re.split(r',|\s+(?:AND|OR)\s+', scope):
        term = term.strip().strip('()').strip()
        if term.startswith('NOT '):
            term = term[4:].strip()
        term = term.lstrip('!')
        if term and term != '*':
            yield term


def parse_metric_queries(text):
    """Every metric query in a query string (a widget query or a monitor expression)."""
    found = []
    for match in METRIC_QUERY.finditer(text):
        by = match.group('by')
        found.append(
            {
                'text': match.group(0),
                'aggregator': match.group('aggregator'),
                'metric': match.group('metric'),
                'scope': list(scope_terms(match.group('scope'))),
                'by': tuple(sorted(t.strip() for t in by.split(','))) if by else (),
                'modifier': match.group('modifier'),
            }
        )
    return found


def query_tags(query, variables):
    """(tag names a parsed metric query filters or groups by, template variables it names that are not defined)."""
    used, undefined = set(query['by']), []
    for term in query['scope']:
        if term.startswith('$'):
            if term[1:] in variables:
                used.add(variables[term[1:]])
            else:
                undefined.append(term[1:])
        else:
            used.add(term.split(':', 1)[0])
    return used, undefined


def metric_query_problems(query, variables):
    """What is wrong with one parsed metric query; `variables` maps template variable names to tag names."""
    problems = []
    metric, aggregator = query['metric'], query['aggregator']
    where = query['text']
    if not metric.startswith(NAMESPACE):
        return [f'{where}: not a LiteLLM metric']
    distribution = is_distribution(metric)
    if metric not in metadata() and not distribution:
        return [f'{where}: {metric} is not in metadata.csv']
    if PERCENTILE.match(aggregator):
        if not distribution:
            problems.append(f'{where}: percentiles need a distribution (bare histogram name)')
    elif aggregator not in SPACE_AGGREGATORS:
        problems.append(f'{where}: unknown aggregator {aggregator}')
    in_app_type = 'distribution' if distribution else metadata()[metric]['metric_type']
    if in_app_type == 'count' and query['modifier'] is None:
        problems.append(f'{where}: a count needs .as_count() or .as_rate()')
    if in_app_type != 'count' and query['modifier'] is not None:
        problems.append(f'{where}: only counts take .as_count()/.as_rate()')

    used, undefined = query_tags(query, variables)
    problems.extend(f'{where}: template variable ${variable} is not defined' for variable in undefined)
    carried = fixture_tags().get(metric, set()) | ALWAYS_TAGS
    for tag in sorted(used - carried):
        problems.append(f'{where}: no fixture carries tag `{tag}` on {metric}')
    return problems


def formula_names(formula):
    """Query names a formula refers to; raises on an unknown function."""
    names = set()
    for word in re.findall(r'[A-Za-z_][A-Za-z0-9_]*(?=\s*\()|[A-Za-z_][A-Za-z0-9_]*', formula):
        if word in FORMULA_FUNCTIONS:
            continue
        names.add(word)
    for function in re.findall(r'([A-Za-z_][A-Za-z0-9_]*)\s*\(', formula):
        assert function in FORMULA_FUNCTIONS, f'{formula}: unknown function {function}'
    assert re.fullmatch(r'[A-Za-z0-9_\s.+\-*/(),]+', formula), formula
    return names


def divided(formula):
    """Whether a formula divides one query by another (then both must be grouped alike)."""
    return '/' in formula


# ---------------------------------------------------------------- dashboards


def dashboards():
    return sorted(manifest_assets().get('dashboards', {}).items())


def walk(widgets, group=None):
    for widget in widgets:
        yield widget, group
        definition = widget['definition']
        if definition['type'] == 'group':
            yield from walk(definition['widgets'], definition['title'])


def overlaps(a, b):
    return not (
        a['x'] + a['width'] <= b['x']
        or b['x'] + b['width'] <= a['x']
        or a['y'] + a['height'] <= b['y']
        or b['y'] + b['height'] <= a['y']
    )


def check_layouts(widgets, where):
    problems = []
    for widget in widgets:
        layout = widget.get('layout')
        if not layout:
            problems.append(f'{where}: widget {widget.get("id")} has no layout')
            continue
        if layout['x'] < 0 or layout['y'] < 0 or layout['width'] < 1 or layout['height'] < 1:
            problems.append(f'{where}: widget {widget["id"]} has a bad layout {layout}')
        if layout['x'] + layout['width'] > 12:
            problems.append(f'{where}: widget {widget["id"]} is wider than the 12 columns')
    for i, a in enumerate(widgets):
        for b in widgets[i + 1 :]:
            if a.get('layout') and b.get('layout') and overlaps(a['layout'], b['layout']):
                problems.append(f'{where}: widgets {a["id"]} and {b["id"]} overlap')
    return problems


def request_problems(definition, variables):
    problems = []
    title = definition.get('title', '')
    expected_format = METRIC_WIDGETS[definition['type']]
    for request in definition['requests']:
        if request.get('response_format') != expected_format:
            problems.append(f'{title}: response_format must be {expected_format}')
        queries = {}
        for query in request['queries']:
            if query.get('data_source') != 'metrics' or not query.get('name') or not query.get('query'):
                problems.append(f'{title}: a metrics query needs data_source, name and query')
                continue
            if query['name'] in queries:
                problems.append(f'{title}: query name {query["name"]} used twice')
            if expected_format == 'scalar' and query.get('aggregator') not in TIME_AGGREGATORS:
                problems.append(f'{title}: scalar query {query["name"]} needs an aggregator')
            parsed = parse_metric_queries(query['query'])
            if len(parsed) != 1 or parsed[0]['text'] != query['query']:
                problems.append(f'{title}: cannot read query {query["query"]!r}')
                continue
            queries[query['name']] = (query, parsed[0])
            problems.extend(f'{title}: {p}' for p in metric_query_problems(parsed[0], variables))
        if not request.get('formulas'):
            problems.append(f'{title}: no formula')
        if definition['type'] == 'query_value' and len(request.get('formulas', [])) != 1:
            problems.append(f'{title}: a query value shows exactly one formula')
        used = set()
        if '%' in title and not any(divided(f['formula']) for f in request.get('formulas', [])):
            problems.append(f'{title}: a percentage needs a division')
        for formula in request.get('formulas', []):
            names = formula_names(formula['formula'])
            used |= names
            unknown = names - set(queries)
            if unknown:
                problems.append(f'{title}: formula {formula["formula"]!r} names unknown queries {sorted(unknown)}')
                continue
            if divided(formula['formula']):
                groups = {queries[n][1]['by'] for n in names}
                if len(groups) != 1:
                    problems.append(f'{title}: {formula["formula"]!r} divides queries grouped differently')
                modifiers = {queries[n][1]['modifier'] for n in names}
                if len(modifiers) != 1:
                    problems.append(f'{title}: {formula["formula"]!r} divides counts and gauges')
                if expected_format == 'scalar' and modifiers == {'.as_count()'}:
                    # A ratio of counts over the whole window: both sides summed, never averaged.
                    if {queries[n][0]['aggregator'] for n in names} != {'sum'}:
                        problems.append(f'{title}: {formula["formula"]!r} must sum both counts')
        unused = set(queries) - used
        if unused:
            problems.append(f'{title}: queries {sorted(unused)} are not shown by any formula')
    return problems


def widget_problems(widget, variables):
    definition = widget['definition']
    kind = definition.get('type')
    title = definition.get('title', '')
    if kind not in WIDGET_TYPES:
        return [f'{title}: widget type {kind!r} is not one this test knows']
    if kind in METRIC_WIDGETS:
        if not title:
            return [f'widget {widget["id"]} has no title']
        return request_problems(definition, variables)
    if kind == 'note':
        return [] if definition.get('content', '').strip() else [f'note {widget["id"]} is empty']
    if kind == 'check_status':
        problems = []
        check = definition.get('check')
        known = service_checks().get(check)
        if known is None:
            return [f'{title}: service check {check} is not in service_checks.json']
        groups = known['groups']
        if definition.get('grouping') not in ('check', 'cluster'):
            problems.append(f'{title}: grouping must be check or cluster')
        for tag in definition.get('group_by', []):
            if tag not in groups:
                problems.append(f'{title}: {check} is not grouped by {tag}')
        for tag in definition.get('tags', []):
            if tag.startswith('$') and tag[1:] not in variables:
                problems.append(f'{title}: template variable {tag} is not defined')
        return problems
    if kind == 'manage_status':
        return [] if 'integration:litellm' in definition.get('query', '') else [f'{title}: not scoped to LiteLLM']
    return []


@pytest.mark.parametrize('name, path', dashboards())
def test_dashboard_shape(name, path):
    dashboard = load(path)
    assert name.startswith('LiteLLM') and dashboard['title'] == name
    assert dashboard['description'].strip()
    assert dashboard['layout_type'] == 'ordered'
    assert dashboard.get('reflow_type') == 'fixed'
    names = [v['name'] for v in dashboard['template_variables']]
    assert len(names) == len(set(names))
    for variable in dashboard['template_variables']:
        assert variable['prefix'] and variable['default'] == '*' and variable['available_values'] == []

    # Top level: groups only, each holding widgets laid out on 12 columns.
    assert dashboard['widgets']
    assert all(w['definition']['type'] == 'group' for w in dashboard['widgets'])
    problems = check_layouts(dashboard['widgets'], 'top level')
    ids = []
    for widget, _ in walk(dashboard['widgets']):
        ids.append(widget['id'])
        assert isinstance(widget['id'], int)
        definition = widget['definition']
        if definition['type'] == 'group':
            assert definition['title'] and definition['layout_type'] == 'ordered' and definition['widgets']
            problems += check_layouts(definition['widgets'], definition['title'])
    assert len(ids) == len(set(ids)), 'widget ids must be unique'
    assert not problems, '\n'.join(problems)


@pytest.mark.parametrize('name, path', dashboards())
def test_dashboard_queries(name, path):
    dashboard = load(path)
    variables = {v['name']: v['prefix'] for v in dashboard['template_variables']}
    problems = []
    for widget, _ in walk(dashboard['widgets']):
        problems.extend(widget_problems(widget, variables))
    assert not problems, '\n'.join(problems)


# The questions the overview answers, by group title, with metrics that group must query to answer it.
QUESTIONS = {
    'Is the proxy up and ready?': {
        'litellm.openmetrics.health',
        'litellm.readiness',
        'litellm.scrape.series',
        'litellm.prometheus.licensed',
        'litellm.process.uptime.seconds',
        'litellm.in_flight_requests',
    },
    'Are requests failing, and why?': {
        'litellm.proxy.total_requests.metric.count',
        'litellm.proxy.failed_requests.metric.count',
        'litellm.deployment.failure_responses.count',
    },
    'How slow?': {
        'litellm.request.total_latency.metric.sum',
        'litellm.request.total_latency.metric.count',
        'litellm.request.total_latency.metric',
        'litellm.llm.api.latency.metric.sum',
        'litellm.llm.api.time_to_first_token.metric.sum',
        'litellm.overhead_latency.metric.sum',
        'litellm.request.queue_time_seconds.sum',
    },
    'What does it cost, and who spends it?': {
        'litellm.spend.metric.count',
        'litellm.input.tokens.count',
        'litellm.output.tokens.count',
    },
    'Are the caches working?': {'litellm.cache_hits.metric.count', 'litellm.cache_misses.metric.count'},
    'Which deployments are cooled down or out?': {
        'litellm.deployment.state',
        'litellm.deployment.cooled_down.count',
        'litellm.deployment.failed_fallbacks.count',
        'litellm.deployment.successful_fallbacks.count',
    },
    'Who is about to hit a budget or rate limit?': {
        'litellm.remaining.team_budget.metric',
        'litellm.remaining.api_key.budget.metric',
        'litellm.remaining.api_key.requests_for_model',
        'litellm.remaining_requests.metric',
        'litellm.api.key.rate_limit_used.metric',
        'litellm.remaining.org_budget.metric',
        'litellm.remaining.customer_budget.metric',
    },
    'Are Redis and Postgres healthy?': {'litellm.redis.latency.sum', 'litellm.postgres.latency.sum'},
}


def test_overview_answers_the_on_call_questions():
    dashboard = load(manifest_assets()['dashboards']['LiteLLM Overview'])
    queried = defaultdict(set)
    for widget, group in walk(dashboard['widgets']):
        definition = widget['definition']
        if definition['type'] == 'check_status':
            queried[group].add(definition['check'])
        for request in definition.get('requests', []):
            for query in request['queries']:
                queried[group] |= {q['metric'] for q in parse_metric_queries(query['query'])}
    for question, metrics in QUESTIONS.items():
        assert question in queried, f'no group answers {question!r}'
        assert metrics <= queried[question], f'{question}: missing {sorted(metrics - queried[question])}'
    # Percentiles are offered for every request latency histogram the averages use.
    percentiles = {
        q['metric']
        for request in (r for w, _ in walk(dashboard['widgets']) for r in w['definition'].get('requests', []))
        for query in request['queries']
        for q in parse_metric_queries(query['query'])
        if PERCENTILE.match(q['aggregator'])
    }
    assert {
        'litellm.request.total_latency.metric',
        'litellm.llm.api.latency.metric',
        'litellm.llm.api.time_to_first_token.metric',
        'litellm.overhead_latency.metric',
    } <= percentiles


# ---------------------------------------------------------------- monitors


def monitors():
    return sorted(manifest_assets().get('monitors', {}).items())


def test_every_monitor_file_is_listed():
    listed = {os.path.normpath(path) for path in manifest_assets()['monitors'].values()}
    on_disk = {
        os.path.normpath(os.path.join('assets', 'monitors', name))
        for name in os.listdir(os.path.join(ASSETS, 'monitors'))
        if name.endswith('.json')
    }
    assert listed == on_disk
    dashboards_on_disk = {
        os.path.normpath(os.path.join('assets', 'dashboards', name))
        for name in os.listdir(os.path.join(ASSETS, 'dashboards'))
    }
    assert {os.path.normpath(p) for p in manifest_assets()['dashboards'].values()} == dashboards_on_disk


def test_readme_links_every_asset():
    with open(os.path.join(CHECK_ROOT, 'README.md'), encoding='utf-8') as f:
        readme = f.read()
    for path in [*manifest_assets()['dashboards'].values(), *manifest_assets()['monitors'].values()]:
        assert f']: {path}' in readme, f'README does not link {path}'


def threshold_problems(comparator, thresholds, threshold):
    problems = []
    if not math.isclose(float(threshold), float(thresholds['critical'])):
        problems.append(f'query threshold {threshold} is not options.thresholds.critical {thresholds["critical"]}')
    warning = thresholds.get('warning')
    if warning is not None:
        # A warning fires before the critical: below it for `>`, above it for `<`.
        before = warning < thresholds['critical'] if comparator.startswith('>') else warning > thresholds['critical']
        if not before:
            problems.append(f'warning {warning} would fire after critical {thresholds["critical"]}')
    return problems


def query_alert_problems(definition, description):
    match = MONITOR_QUERY.fullmatch(definition['query'])
    if not match:
        return [f'cannot read {definition["query"]!r}']
    problems = threshold_problems(match['comparator'], definition['options']['thresholds'], match['threshold'])
    parsed = parse_metric_queries(match['expression'])
    if not parsed:
        return problems + ['no metric query']
    residue = match['expression']
    for query in parsed:
        problems.extend(metric_query_problems(query, {}))
        residue = residue.replace(query['text'], 'q', 1)
    # Between the metric queries: numbers, arithmetic and known functions only.
    formula_names(residue)
    groups = {q['by'] for q in parsed}
    if len(groups) != 1:
        problems.append('metric queries are grouped differently')
    if divided(residue) and len({q['modifier'] for q in parsed}) != 1:
        problems.append('a ratio must divide counts by counts or gauges by gauges')
    if RATIO_WORDS.search(f'{definition["name"]} {description}') and not divided(residue):
        problems.append('a ratio monitor must divide')
    if match['aggregator'] != 'sum' and any(q['modifier'] for q in parsed):
        problems.append('counts are evaluated with sum(last_N)')
    return problems + message_problems(definition['message'], groups.pop())


def service_check_problems(definition):
    match = SERVICE_CHECK_QUERY.fullmatch(definition['query'])
    if not match:
        return [f'cannot read {definition["query"]!r}']
    check = match['check']
    known = service_checks().get(check)
    if known is None:
        return [f'{check} is not in service_checks.json']
    problems = []
    by = tuple(t.strip('"') for t in match['by'].split(',')) if match['by'] else ()
    for tag in by:
        if tag not in known['groups']:
            problems.append(f'{check} is not grouped by {tag}')
    thresholds = definition['options']['thresholds']
    for status, count in thresholds.items():
        if status != 'ok' and status not in known['statuses']:
            problems.append(f'{check} never reports {status}')
        if not 1 <= count <= int(match['last']):
            problems.append(f'threshold {status}={count} does not fit last({match["last"]})')
    return problems + message_problems(definition['message'], by)


def message_problems(message, groups):
    problems = []
    if len(message) < 200 or '\n1. ' not in message:
        problems.append('the message must tell the responder what to check, as numbered steps')
    for tag in MESSAGE_TAG.findall(message):
        if tag not in groups:
            problems.append(f'message uses {{{{{tag}.name}}}} but the monitor is not grouped by {tag}')
    return problems


@pytest.mark.parametrize('name, path', monitors())
def test_monitor(name, path):
    monitor = load(path)
    assert monitor['version'] == 2
    for field in ('created_at', 'last_updated_at'):
        datetime.date.fromisoformat(monitor[field])
    assert 'litellm' in monitor['title'].lower()
    assert 0 < len(monitor['description']) < 300
    assert 'integration:litellm' in monitor['tags']
    definition = monitor['definition']
    assert definition['name'] == monitor['title']
    assert 'integration:litellm' in definition['tags']
    thresholds = definition['options']['thresholds']
    # A service check that never reports CRITICAL (litellm.prometheus.licensed) alerts on WARNING alone.
    alerting = [thresholds[s] for s in ('critical', 'warning') if s in thresholds]
    assert alerting and all(isinstance(t, (int, float)) for t in alerting)
    if definition['type'] == 'query alert':
        assert isinstance(thresholds['critical'], (int, float))
    assert not ('notify_no_data' in definition['options'] and 'on_missing_data' in definition['options'])
    if definition['type'] == 'query alert':
        problems = query_alert_problems(definition, monitor['description'])
    elif definition['type'] == 'service check':
        problems = service_check_problems(definition)
    else:
        problems = [f'monitor type {definition["type"]!r} is not one this test knows']
    assert not problems, '\n'.join(problems)


# ---------------------------------------------------------------- the tag index against the check itself


def used_tags():
    """(metric, tag) pairs the assets rely on, template variables resolved."""
    pairs = set()
    for _, path in dashboards():
        dashboard = load(path)
        variables = {v['name']: v['prefix'] for v in dashboard['template_variables']}
        for widget, _ in walk(dashboard['widgets']):
            for request in widget['definition'].get('requests', []):
                for query in request['queries']:
                    for q in parse_metric_queries(query['query']):
                        pairs |= {(q['metric'], tag) for tag in query_tags(q, variables)[0]}
    for _, path in monitors():
        for q in parse_metric_queries(load(path)['definition']['query']):
            pairs |= {(q['metric'], tag) for tag in query_tags(q, {})[0]}
    return pairs


@pytest.mark.parametrize('path', fixture_files(), ids=lambda p: os.path.relpath(p, FIXTURES))
def test_tag_index_matches_the_check(dd_run_check, aggregator, serve, path):
    """The index the assets are checked against is what the check submits: nothing it sends is missing from the
    index, and every tag an asset relies on arrives whenever the capture gives it a value."""
    with open(path, 'rb') as f:
        body = f.read()
    server = serve({'/metrics/': Response(body)})
    check = LitellmCheck('litellm', {}, [{'openmetrics_endpoint': f'{server.base_url}/metrics/'}])
    dd_run_check(check)

    index = derive(body.decode())
    submitted = defaultdict(set)
    for name in aggregator.metric_names:
        for metric in aggregator.metrics(name):
            submitted[name] |= {tag.split(':', 1)[0] for tag in metric.tags}
    assert submitted
    assert all('endpoint' in tags for tags in submitted.values())
    renamed = {n for family in METRIC_MAP for names in submitted_names(family, 'histogram').values() for n in names}
    for name, tags in submitted.items():
        if name in renamed:  # the check's own metrics (scrape.series, ...) are not LiteLLM families
            assert name in index, f'{name} is submitted but not in the index'
            assert tags <= index[name] | ALWAYS_TAGS, f'{name}: {sorted(tags - index[name])}'

    expected = derive(body.decode(), only_set=True)
    for metric, tag in used_tags():
        if tag in expected.get(metric, ()) and not is_distribution(metric):
            assert tag in submitted.get(metric, ()), f'{metric} arrives without {tag}'


def test_tag_index_reads_every_fixture():
    """Derived payloads count: a tag only a derived payload gives (a team's budget) is in the index."""
    paths = fixture_files()
    assert any(os.sep + 'real' + os.sep in p for p in paths)
    index = fixture_tags()
    assert 'upper_bound' in index['litellm.request.total_latency.metric.bucket']
    assert 'upper_bound' not in index['litellm.request.total_latency.metric.count']
    assert {'team', 'team_alias'} <= index['litellm.remaining.team_budget.metric']
    assert not DROPPED_LABELS & set().union(*index.values())
