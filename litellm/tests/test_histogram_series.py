"""A histogram series whose buckets break the format (no `+Inf`, a bucket counting less than a smaller bound, a label
written differently on one of its bucket lines) costs that series, with its count and sum, and the tag set it
joins; every other series of the family is submitted. The series cache, the reader's plain families and the base
library's parser (`fast_parser: false`) agree on every variant."""

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datadog_checks.base.constants import ServiceCheck
from datadog_checks.litellm import LitellmCheck

from .common import submissions
from .http_server import LocalServer, Response

FAMILY = 'litellm_request_total_latency_metric'
HEADER = f'# HELP {FAMILY} Latency\n# TYPE {FAMILY} histogram\n'
COUNTER = '# HELP litellm_requests_metric_total Requests\n# TYPE litellm_requests_metric_total counter\n'
BOUNDS = ['0.1', '1.0', '10.0', '+Inf']
BUCKET, COUNT, SUM = (f'litellm.request.total_latency.metric.{s}' for s in ('bucket', 'count', 'sum'))
HEALTH = 'litellm.openmetrics.health'
# What damages a series, and what only writes it differently (the same series either way).
DAMAGES = ['no +Inf', 'decreasing', 'extra label', 'other value']
COSMETIC = ['labels reordered', 'buckets shuffled']
# The instance options of each path: the series cache; the reader's plain families (an option the cache does
# not honour, on a family absent from the payload); the base library's parser.
PATHS = {
    'cache': {},
    'plain': {'share_labels': {'litellm_deployment_state': {'labels': ['api_base'], 'match': ['model_id']}}},
    'base': {'fast_parser': False},
}


def line(name, labels, value):
    return f'{name}{{{",".join(f"{k}=\"{v}\"" for k, v in labels)}}} {value}'


@st.composite
def histogram_payloads(draw):
    """(text, series, damaged): series as (model, client_ip) (`client_ip` is dropped by the tag policy, so two
    series of one model share a tag set), and the indexes of the series whose buckets were damaged."""
    series = draw(
        st.lists(
            st.tuples(st.sampled_from('abc'), st.sampled_from(['', '10.0.0.1', '10.0.0.2'])),
            min_size=1,
            max_size=4,
            unique=True,
        )
    )
    changes = draw(st.dictionaries(st.integers(0, len(series) - 1), st.sampled_from(DAMAGES + COSMETIC), max_size=2))
    lines = []
    for index, (model, ip) in enumerate(series):
        labels = [('model', model)] + ([('client_ip', ip)] if ip else [])
        counts, total = [], draw(st.integers(1, 3))
        for _ in BOUNDS:
            counts.append(total)
            total += draw(st.integers(0, 3))
        buckets = [[list(labels) + [('le', le)], value] for le, value in zip(BOUNDS, counts, strict=True)]
        tail = [(f'{FAMILY}_count', list(labels), counts[-1]), (f'{FAMILY}_sum', list(labels), 2.5)]
        change = changes.get(index)
        at = draw(st.integers(0, len(BOUNDS) - 1))
        if change == 'no +Inf':
            buckets.pop()
        elif change == 'decreasing':
            at = max(at, 1)
            buckets[at][1] = buckets[at - 1][1] - 1
        elif change == 'extra label':
            buckets[at][0].insert(draw(st.integers(0, len(labels))), ('team', 't'))
        elif change == 'other value':
            buckets[at][0][0] = ('model', 'z')
        elif change == 'labels reordered':
            for bucket in buckets:
                bucket[0] = draw(st.permutations(bucket[0]))
            tail = [(name, draw(st.permutations(labels)), value) for name, labels, value in tail]
        elif change == 'buckets shuffled':
            buckets = draw(st.permutations(buckets))
        lines += [line(f'{FAMILY}_bucket', labels, value) for labels, value in buckets]
        lines += [line(name, labels, value) for name, labels, value in tail]
    text = HEADER + '\n'.join(lines) + '\n' + COUNTER + 'litellm_requests_metric_total{model="a"} 5\n'
    damaged = {index for index, change in changes.items() if change in DAMAGES}
    return text, series, damaged


def run(dd_run_check, aggregator, url, path):
    aggregator.reset()
    check = LitellmCheck('litellm', {}, [{'openmetrics_endpoint': url, **PATHS[path]}])
    for _ in range(2):  # the first reading, then the cache's
        dd_run_check(check)
    (health,) = aggregator.service_checks(HEALTH)[-1:]
    metrics, _ = submissions(aggregator, skip=('litellm.scrape.skipped_lines',))
    return metrics, health.status


def by_model(metrics, name):
    """{(model, bound tag or ''): value} of one histogram metric."""
    found = {}
    for metric_name, _, value, tags, _, _ in metrics:
        if metric_name == name:
            model = next(t for t in tags if t.startswith('model:'))
            if any(t.startswith('team:') for t in tags):
                model += ',team'
            bound = next((t for t in tags if t.startswith('upper_bound:')), '')
            found[(model, bound)] = value
    return found


@pytest.fixture(scope='module')
def payload_server():
    with LocalServer({}) as server:
        yield server


@settings(
    max_examples=int(os.environ.get('PARSER_EXAMPLES', 40)),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(payload=histogram_payloads())
def test_a_broken_series_costs_its_tag_set_and_the_paths_agree(dd_run_check, aggregator, payload_server, payload):
    text, series, damaged = payload
    payload_server.routes['/metrics/'] = Response(text)
    url = f'{payload_server.base_url}/metrics/'
    results = {path: run(dd_run_check, aggregator, url, path) for path in PATHS}
    assert results['plain'] == results['cache'], text
    assert results['base'] == results['cache'], text
    metrics, status = results['cache']
    # The tag sets no damaged series joins are submitted whole: the count once per model, every bucket.
    damaged_models = {series[i][0] for i in damaged}
    counts = by_model(metrics, COUNT)
    for model in {model for model, _ in series} - damaged_models:
        assert (f'model:{model}', '') in counts, text
        assert len([key for key in by_model(metrics, BUCKET) if key[0] == f'model:{model}']) == len(BOUNDS) - 1
    # A series damaged by a decrease or a missing `+Inf` costs its tag set, count and sum included.
    for model in damaged_models:
        intact = [bucket for bucket in by_model(metrics, BUCKET) if bucket[0] == f'model:{model}']
        assert len(intact) in (0, len(BOUNDS) - 1, len(BOUNDS) - 2), text  # whole, or less the stray bucket
    assert ('litellm.requests.metric.count', 5) in [(m[0], m[2]) for m in metrics]
    assert status == (ServiceCheck.WARNING if damaged else ServiceCheck.OK), text


def scrape(dd_run_check, aggregator, serve, text, **options):
    server = serve({'/metrics/': Response(text)})
    check = LitellmCheck('litellm', {}, [{'openmetrics_endpoint': f'{server.base_url}/metrics/', **options}])
    for _ in range(2):
        aggregator.reset()
        dd_run_check(check)
    (scraper,) = check.scrapers.values()
    return scraper


def family(*series):
    lines = []
    for labels, counts in series:
        lines += [
            line(f'{FAMILY}_bucket', labels + [('le', le)], value) for le, value in zip(BOUNDS, counts, strict=False)
        ]
        lines += [line(f'{FAMILY}_count', labels, counts[-1]), line(f'{FAMILY}_sum', labels, 1.5)]
    return HEADER + '\n'.join(lines) + '\n'


@pytest.mark.parametrize('path', sorted(PATHS))
@pytest.mark.parametrize(
    'broken, problem',
    [
        ([1, 2, 3], 'no `+Inf` bucket'),
        ([1, 3, 2, 4], 'a bucket counting less than a smaller bound'),
    ],
    ids=['no +Inf', 'decreasing'],
)
def test_one_broken_series_is_withheld_and_named_the_others_submitted(
    dd_run_check, aggregator, serve, path, broken, problem
):
    good = [([('model', 'a')], [1, 2, 3, 4]), ([('model', 'c')], [0, 0, 1, 1])]
    text = family(good[0], ([('model', 'b')], broken), good[1])
    scraper = scrape(dd_run_check, aggregator, serve, text, **PATHS[path])
    assert len(scraper.broken) == 1 and scraper.broken[0].startswith(f'{FAMILY}{{model="b"}} ({problem}')
    for model in ('a', 'c'):
        bounds = sorted(
            t for m in aggregator.metrics(BUCKET) if f'model:{model}' in m.tags for t in m.tags if 'bound' in t
        )
        assert bounds == ['upper_bound:0.1', 'upper_bound:1.0', 'upper_bound:10.0']
        aggregator.assert_metric_has_tag(COUNT, f'model:{model}', count=1)
        aggregator.assert_metric_has_tag(SUM, f'model:{model}', count=1)
    for name in (BUCKET, COUNT, SUM):
        assert not [m for m in aggregator.metrics(name) if 'model:b' in m.tags], name
    (health,) = aggregator.service_checks(HEALTH)
    assert health.status == ServiceCheck.WARNING
    assert f'{FAMILY}{{model="b"}}' in health.message and '1 histogram series' in health.message


@pytest.mark.parametrize('path', sorted(PATHS))
def test_a_broken_series_costs_the_tag_set_it_joins(dd_run_check, aggregator, serve, path):
    # client_ip is dropped: both series of model a are one tag set; the broken one makes their sum untrustworthy.
    text = family(
        ([('model', 'a'), ('client_ip', '10.0.0.1')], [1, 2, 3, 4]),
        ([('model', 'a'), ('client_ip', '10.0.0.2')], [3, 2, 2, 5]),
        ([('model', 'b'), ('client_ip', '10.0.0.2')], [1, 1, 1, 1]),
    )
    scraper = scrape(dd_run_check, aggregator, serve, text, **PATHS[path])
    # Named by its tag set: never by a label the tags leave out (client addresses are personal data).
    assert len(scraper.broken) == 1 and scraper.broken[0].startswith(f'{FAMILY}{{model="a"}} (')
    (health,) = aggregator.service_checks(HEALTH)
    assert '10.0.0' not in health.message and 'client_ip' not in health.message
    for name in (BUCKET, COUNT, SUM):
        assert not [m for m in aggregator.metrics(name) if 'model:a' in m.tags], name
        assert [m for m in aggregator.metrics(name) if 'model:b' in m.tags], name


@pytest.mark.parametrize('path', sorted(PATHS))
def test_the_same_series_with_its_labels_in_another_order_is_one_series(dd_run_check, aggregator, serve, path):
    labels = [('model', 'a'), ('team', 't'), ('route', '/chat')]
    lines = [
        line(f'{FAMILY}_bucket', (labels if i % 2 else labels[::-1]) + [('le', le)], i) for i, le in enumerate(BOUNDS)
    ]
    lines += [line(f'{FAMILY}_count', labels[1:] + labels[:1], 3), line(f'{FAMILY}_sum', labels[::-1], 1.5)]
    scraper = scrape(dd_run_check, aggregator, serve, HEADER + '\n'.join(lines) + '\n', **PATHS[path])
    assert scraper.broken == []
    aggregator.assert_metric(COUNT, tags=None, count=1)
    assert len(aggregator.metrics(BUCKET)) == len(BOUNDS) - 1
    aggregator.assert_service_check(HEALTH, ServiceCheck.OK)
