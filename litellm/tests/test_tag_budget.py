"""The custom-metric budget (`max_tag_sets_per_metric`) and probed routes, walked run after run on sequences of
real captures grown to many callers: no metric past the budget in any run, counter and histogram totals equal to
the unbudgeted check's, no counter context going down where the proxy's did not, tag sets that stay what they
are, the folded series reported, and the same submissions on the fast path, the base path and any cache size."""

import logging
import random
import re
from collections import defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datadog_checks.base.constants import ServiceCheck
from datadog_checks.base.errors import ConfigurationError
from datadog_checks.litellm import LitellmCheck
from datadog_checks.litellm.parsing.exposition import parse_labels
from datadog_checks.litellm.routes import route_value
from datadog_checks.litellm.tags import MIN_BUDGET, OTHER, TagBudget, TagPolicy
from tools.grow import grow

from .common import callers_fixture_dirs, read_fixture, scrape_sequence
from .http_server import Response
from .parser_payloads import escape

FOLDED = 'litellm.scrape.folded_series'
CHECK_OWN = ('litellm.scrape.', 'litellm.process.uptime')  # the check's own metrics, and a time since start
CUMULATIVE = ('.count', '.bucket', '.sum')
BUDGET = MIN_BUDGET
FEATURES = '1.110.2-features'


def scaled(text, factor):
    """Every sample value times `factor`: counters and histograms rise, as a proxy's do between scrapes. Its start
    time and the series' creation times stay: the same process answers."""

    def scale(line):
        name = line.split('{')[0].split(' ')[0]
        if not line or line[0] == '#' or name.endswith('_created') or name == 'process_start_time_seconds':
            return line
        head, _, value = line.rpartition(' ')
        return f'{head} {float(value) * factor!r}' if value not in ('+Inf', '-Inf', 'NaN') else line

    return '\n'.join(scale(line) for line in text.split('\n'))


def sequence():
    """(payload, whether every proxy series of the run before is still there with a value at least as large)."""
    text = read_fixture('real', FEATURES, 'metrics.txt', mode='r')
    return [
        (grow(text, 4), True),
        (grow(text, 12), True),  # new callers
        (scaled(grow(text, 12), 2), True),  # the same callers, more traffic
        (scaled(grow(text, 7), 2), False),  # callers gone (LiteLLM's TTL)
        (scaled(grow(text, 16), 3), False),  # callers back, and new ones
    ]


def submissions_of(aggregator):
    submitted = {}
    for name in aggregator.metric_names:
        for m in aggregator.metrics(name):
            tags = tuple(sorted(t for t in m.tags if not t.startswith('endpoint:')))
            assert (name, tags) not in submitted, f'{name} {tags} submitted twice in one run'
            submitted[(name, tags)] = (m.type, m.value)
    return submitted


def walk(serve, aggregator, payloads, **options):
    """Run one check instance over `payloads`, as the Agent does; a list of per-run submissions
    {(name, tags): (type, value)}, with the health of each run."""
    server = serve({})
    check = LitellmCheck('litellm', {}, [{'openmetrics_endpoint': f'{server.base_url}/metrics/', **options}])
    runs = []
    for payload in payloads:
        server.routes['/metrics/'] = Response(payload)
        aggregator.reset()
        check.run()
        submitted = submissions_of(aggregator)
        health = [s.status for s in aggregator.service_checks('litellm.openmetrics.health')]
        runs.append((submitted, health))
    return runs


def own(name):
    return name.startswith(CHECK_OWN)


def totals(submitted):
    sums = defaultdict(float)
    for (name, _), (_, value) in submitted.items():
        if name.endswith(CUMULATIVE) and not own(name):
            sums[name] += value
    return sums


def tag_sets(submitted):
    counts = defaultdict(int)
    for name, _ in submitted:
        if not own(name):
            counts[name] += 1
    return counts


CUMULATIVE_LINE = re.compile(rb'^([a-z_:]+(?:_total|_bucket|_count|_sum)\{.*\}) (\S+)$', re.M)


def proxy_counters(body):
    """The proxy's counter and histogram series of one scrape: {series text: value}."""
    return {series: float(value) for series, value in CUMULATIVE_LINE.findall(body)}


@pytest.mark.parametrize('capture', callers_fixture_dirs())
def test_real_sequences_walked_with_the_default_budget(capture, serve, aggregator):
    """The callers captures (1,000 keys arriving, probed paths), run after run, a budgeted and an unbudgeted check
    side by side on each scrape: the budget holds, totals are exact, tag sets stay, folds are reported."""
    response = Response(b'')
    server = serve({'/metrics/': response})
    instance = {'openmetrics_endpoint': f'{server.base_url}/metrics/', 'timeout': 120}
    budgeted = LitellmCheck('litellm', {}, [instance])
    unbudgeted = LitellmCheck('litellm', {}, [{**instance, 'max_tag_sets_per_metric': 0}])
    before = proxy_before = None
    for number, body in enumerate(scrape_sequence(capture)):
        response.body = body
        aggregator.reset()
        unbudgeted.run()
        plain = submissions_of(aggregator)
        aggregator.reset()
        budgeted.run()
        runs = submissions_of(aggregator)
        assert [s.status for s in aggregator.service_checks('litellm.openmetrics.health')] == [ServiceCheck.OK]
        counts = tag_sets(runs)
        assert max(counts.values()) <= 1000, f'run {number}: {max(counts.items(), key=lambda i: i[1])}'
        expected, got = totals(plain), totals(runs)
        assert got.keys() == expected.keys()
        for name, value in expected.items():
            assert got[name] == pytest.approx(value, rel=1e-9), f'run {number}: {name}'
        folded = {tags: value for (name, tags), (_, value) in runs.items() if name == FOLDED}
        if max(tag_sets(plain).values()) > 1000:
            assert folded and sum(folded.values()) > 0
        # Probed paths: only the routes LiteLLM serves, `<pass-through prefix>/*` and `other`.
        routes = {dict(t.split(':', 1) for t in tags).get('route') for _, tags in runs} - {None}
        recorded = {value.decode() for value in re.findall(rb'route="([^"]*)"', body)}
        assert routes <= {route_value(r) for r in recorded} | {OTHER}
        assert all(r == OTHER or r.endswith('/*') or route_value(r) == r for r in routes), routes
        assert len(routes) <= 30 and (len(routes) < len(recorded) or len(recorded) < 10), (len(routes), len(recorded))
        proxy = proxy_counters(body)
        if before is not None:
            # The proxy's counters only rose and none went away: neither did any context submitted before.
            rising = all(proxy.get(series, -1) >= value for series, value in proxy_before.items())
            if rising:
                for key, (_, value) in before.items():
                    if key[0].endswith(CUMULATIVE) and not own(key[0]):
                        assert key in runs and runs[key][1] >= value, f'run {number}: {key}'
        before, proxy_before = runs, proxy


@pytest.fixture(scope='module')
def payloads():
    return [payload for payload, _ in sequence()]


@pytest.mark.parametrize('fast_parser', [True, False], ids=['fast', 'base'])
def test_a_budget_holds_every_run_with_exact_totals_and_stable_tag_sets(
    serve, aggregator, payloads, fast_parser, caplog
):
    caplog.set_level(logging.INFO)
    unbudgeted = walk(serve, aggregator, payloads, max_tag_sets_per_metric=0, fast_parser=fast_parser)
    caplog.clear()
    budgeted = walk(serve, aggregator, payloads, max_tag_sets_per_metric=BUDGET, fast_parser=fast_parser)
    rising = [still for _, still in sequence()]
    before = None
    for number, ((runs, health), (plain, _)) in enumerate(zip(budgeted, unbudgeted, strict=True)):
        assert health == [ServiceCheck.OK], f'run {number}'
        counts = tag_sets(runs)
        assert max(counts.values()) <= BUDGET, f'run {number}: {max(counts.items(), key=lambda i: i[1])}'
        assert max(tag_sets(plain).values()) > BUDGET  # the unbudgeted check goes past it: the budget is tested
        expected, got = totals(plain), totals(runs)
        assert got.keys() == expected.keys()
        for name, value in expected.items():
            assert got[name] == pytest.approx(value, rel=1e-9), f'run {number}: {name}'
        # The series folded this run: one gauge per metric that folds, tagged with the metric's name.
        folded = {tags: value for (name, tags), (_, value) in runs.items() if name == FOLDED}
        assert folded and all(value > 0 for value in folded.values())
        assert all(len(tags) == 1 and tags[0].startswith('metric:litellm.') for tags in folded)
        if before is not None:
            # A tag set, once submitted, stays while its series exist: every context of the run before is there
            # again when no proxy series went away, and none of its counters went down where the proxy's did not.
            kept = {key for key in before if not own(key[0])}
            if rising[number]:
                assert kept <= runs.keys(), f'run {number}: {sorted(kept - runs.keys())[:3]}'
                for key in kept:
                    if key[0].endswith(CUMULATIVE):
                        assert runs[key][1] >= before[key][1], f'run {number}: {key}'
        before = runs
    # Said once per metric, not at every run: which labels fold where, and how to avoid it.
    lines = [r.getMessage() for r in caplog.records if 'folded into `other`' in r.getMessage()]
    assert all(
        'max_tag_sets_per_metric' in line and 'prometheus_metrics_max_series_per_metric' in line for line in lines
    )
    logged = [re.findall(r'(litellm\.[a-z_.]+): ', line) for line in lines]
    named = [name for names in logged for name in names]
    assert len(named) == len(set(named))
    folding = {tags[0][len('metric:') :] for (name, tags) in budgeted[-1][0] if name == FOLDED}
    assert set(named) == folding and 'litellm.spend.metric' in folding


def test_the_fast_path_and_the_base_path_fold_the_same(serve, aggregator, payloads):
    fast = walk(serve, aggregator, payloads, max_tag_sets_per_metric=BUDGET)
    base = walk(serve, aggregator, payloads, max_tag_sets_per_metric=BUDGET, fast_parser=False)
    for (a, _), (b, _) in zip(fast, base, strict=True):
        assert {k: v for k, v in a.items() if k[0] != 'litellm.process.uptime.seconds'} == {
            k: v for k, v in b.items() if k[0] != 'litellm.process.uptime.seconds'
        }


BUCKET_LINE = re.compile(r'^([a-z_:]+_bucket)\{(.*)\}( \S+)$', re.M)


def bound_moved(text, seed):
    """`text` with the `le` pair of each bucket line written at a place of its own: first, among the others, or
    last, changing from one bucket of a series to the next (label order does not make a series)."""
    rng = random.Random(seed)

    def move(match):
        labels = parse_labels(match.group(2))
        pairs = [f'{name}="{escape(value)}"' for name, value in labels.items() if name != 'le']
        pairs.insert(rng.randint(0, len(pairs)), f'le="{labels["le"]}"')
        return f'{match.group(1)}{{{",".join(pairs)}}}{match.group(3)}'

    return BUCKET_LINE.sub(move, text)


@pytest.mark.parametrize('fast_parser', [True, False], ids=['fast', 'base'])
def test_where_the_bound_is_written_changes_nothing(serve, aggregator, payloads, fast_parser):
    """The buckets of a series are read as one series (their fate, tags and folded tag set) wherever `le` is
    among their labels: the same submissions as the bodies as LiteLLM wrote them."""
    moved = [bound_moved(payload, seed) for seed, payload in enumerate(payloads[:3])]
    assert moved[0] != payloads[0]
    written = walk(serve, aggregator, payloads[:3], max_tag_sets_per_metric=BUDGET)
    reordered = walk(serve, aggregator, moved, max_tag_sets_per_metric=BUDGET, fast_parser=fast_parser)
    for (a, _), (b, health) in zip(written, reordered, strict=True):
        assert health == [ServiceCheck.OK]
        assert any(name == FOLDED for name, _ in b)
        assert {k: v for k, v in a.items() if k[0] != 'litellm.process.uptime.seconds'} == {
            k: v for k, v in b.items() if k[0] != 'litellm.process.uptime.seconds'
        }


def test_fates_do_not_depend_on_the_series_cache(serve, aggregator, payloads):
    """A series the cache could not remember gets the same fate at every run, and is still counted as folded."""
    roomy = walk(serve, aggregator, payloads, max_tag_sets_per_metric=BUDGET)
    tiny = walk(serve, aggregator, payloads, max_tag_sets_per_metric=BUDGET, series_cache_size=50)
    for (a, _), (b, _) in zip(roomy, tiny, strict=True):
        assert {k: v for k, v in a.items() if k[0] != 'litellm.process.uptime.seconds'} == {
            k: v for k, v in b.items() if k[0] != 'litellm.process.uptime.seconds'
        }


def test_the_oldest_callers_keep_their_tags(serve, aggregator, payloads):
    """First seen, first kept: the callers of the first run keep their own tag sets; the later ones fold."""
    runs = walk(serve, aggregator, payloads[:2], max_tag_sets_per_metric=BUDGET)
    name = 'litellm.spend.metric.count'

    def keys(submitted):
        return {dict(t.split(':', 1) for t in tags).get('hashed_api_key') for n, tags in submitted if n == name}

    first, second = keys(runs[0][0]), keys(runs[1][0])
    assert OTHER not in first and first <= second and OTHER in second


@pytest.mark.parametrize('version', ['1.80.11', '1.110.2', FEATURES])
def test_the_defaults_fold_nothing_on_a_real_capture(serve, aggregator, version):
    text = read_fixture('real', version, 'metrics.txt', mode='r')
    ((default, _),) = walk(serve, aggregator, [text])
    ((unlimited, _),) = walk(serve, aggregator, [text], max_tag_sets_per_metric=0)
    assert FOLDED not in {name for name, _ in default}
    assert default.keys() == unlimited.keys()


@pytest.mark.parametrize('value', [1, 50, MIN_BUDGET - 1, -1, True, '1000', 1.5])
def test_a_budget_too_small_or_not_an_integer_is_refused(value):
    instance = {'openmetrics_endpoint': 'http://127.0.0.1:9/metrics/', 'max_tag_sets_per_metric': value}
    with pytest.raises(ConfigurationError, match='max_tag_sets_per_metric'):
        LitellmCheck('litellm', {}, [instance]).configure_scrapers()


def test_probed_routes_option_is_checked():
    instance = {'openmetrics_endpoint': 'http://127.0.0.1:9/metrics/', 'probed_routes': 'drop'}
    with pytest.raises(ConfigurationError, match='probed_routes'):
        LitellmCheck('litellm', {}, [instance]).configure_scrapers()


# ------------------------------------------------------------------------------------------------ properties
SERIES = st.tuples(st.integers(0, 40), st.sampled_from(['a', 'b', 'c']), st.integers(0, 3))
BOUNDS = ('0.1', '1.0', '+Inf')


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.lists(SERIES, max_size=60), min_size=1, max_size=5),
    st.sampled_from([MIN_BUDGET, 150, 400]),
    st.randoms(use_true_random=False),
)
def test_fates_are_kept_and_the_budget_holds(runs, limit, random):
    """Series appearing and disappearing, labels in any order: each series keeps its first fate, and no
    family's tag sets (a bucket's bound counting) pass the budget in any run."""
    budget = TagBudget(limit)
    fates = {}
    for run in runs:
        budget.begin()
        submitted = defaultdict(set)
        for key, model, route in dict.fromkeys(run):
            labels = [('hashed_api_key', f'k{key}'), ('model', model), ('route', f'/r{route}')]
            random.shuffle(labels)
            for family, bounds in (('counter', (None,)), ('histogram', BOUNDS)):
                for bound in bounds:
                    series = dict(labels if bound is None else [*labels, ('le', bound)])
                    result, _ = budget.fate(family, series)
                    fate = tuple(sorted((k, v) for k, v in result.items() if k != 'le'))
                    assert fates.setdefault((family, key, model, route), fate) == fate
                    submitted[family].add(tuple(sorted(result.items())))
        for sets in submitted.values():
            assert len(sets) <= limit


def test_folding_measures_the_labels_that_vary_most():
    budget = TagBudget(MIN_BUDGET)
    for i in range(200):
        budget.fate('f', {'hashed_api_key': f'k{i}', 'api_key_alias': f'a{i}', 'model': f'm{i % 3}'})
    assert budget.folded_labels() == {'f': ('api_key_alias', 'hashed_api_key')}
    # The model keeps its value in the folded tag sets.
    assert budget.fate('f', {'hashed_api_key': 'x', 'api_key_alias': 'y', 'model': 'm1'}) == (
        {'api_key_alias': OTHER, 'hashed_api_key': OTHER, 'model': 'm1'},
        True,
    )


# ----------------------------------------------------------------------------------------------- probed routes
@pytest.mark.parametrize(
    'path, value',
    [
        ('/chat/completions', '/chat/completions'),
        ('/v1/chat/completions', '/v1/chat/completions'),
        ('/v1/embeddings', '/v1/embeddings'),
        ('/v1/messages', '/v1/messages'),
        ('/responses', '/responses'),
        ('/key/generate', '/key/generate'),
        ('/health/readiness', '/health/readiness'),
        ('/v1/files/file-abc123/content', '/v1/files/{id}/content'),
        ('/openai/deployments/gpt-4o/chat/completions', '/openai/deployments/{id}/chat/completions'),
        ('/anthropic/v1/messages', '/anthropic/v1/messages'),
        ('/gemini/v1beta/models/gemini-2.0-flash:generateContent', '/gemini/*'),
        ('/v1/models/gpt-4o', '/v1/models/{id}'),
        ('/team/abc-123', '/team/{id}'),
        ('/key/29cdcf41', OTHER),
        ('/anthropic/wp-admin/setup.php', '/anthropic/*'),
        ('/openai/x7Hq2', '/openai/*'),
        ('/vertex_ai/../../etc/passwd', '/vertex_ai/*'),
        ('/bedrock/.env', '/bedrock/*'),
        ('/.env', OTHER),
        ('/wp-login.php', OTHER),
        ('/config/.git/config', OTHER),
        ('/key/../../etc/passwd', OTHER),
    ],
)
def test_route_values(path, value):
    assert route_value(path) == value


def probed_payload(paths):
    lines = [
        '# HELP litellm_proxy_total_requests_metric_total Requests',
        '# TYPE litellm_proxy_total_requests_metric_total counter',
    ]
    for path in paths:
        lines.append(f'litellm_proxy_total_requests_metric_total{{route="{path}",status_code="401"}} 1.0')
    return '\n'.join(lines) + '\n'


PROBED = (
    ['/v1/chat/completions', '/v1/embeddings']
    + [f'/openai/probe{i}' for i in range(30)]
    + [f'/scan{i}.php' for i in range(30)]
)


@pytest.mark.parametrize('fast_parser', [True, False], ids=['fast', 'base'])
def test_probed_paths_do_not_multiply_route_values_by_default(serve, aggregator, fast_parser):
    ((runs, _),) = walk(serve, aggregator, [probed_payload(PROBED)], fast_parser=fast_parser)
    routes = {
        dict(t.split(':', 1) for t in tags)['route']: value
        for (name, tags), (_, value) in runs.items()
        if name == 'litellm.proxy.total_requests.metric.count'
    }
    assert routes == {'/v1/chat/completions': 1, '/v1/embeddings': 1, '/openai/*': 30, OTHER: 30}


def test_probed_routes_keep_submits_every_path(serve, aggregator):
    ((runs, _),) = walk(serve, aggregator, [probed_payload(PROBED)], probed_routes='keep')
    routes = {tags for name, tags in runs if name == 'litellm.proxy.total_requests.metric.count'}
    assert len(routes) == len(PROBED)


def test_a_series_joining_an_identity_of_an_earlier_run_is_one_tag_set(serve, aggregator):
    """A histogram series that appears in a later run with the tags of an earlier one (a label left out) joins
    that identity: one value per bucket, not a second identity read as a repeated bound."""
    head = '# HELP litellm_request_total_latency_metric L\n# TYPE litellm_request_total_latency_metric histogram\n'

    def series(ip, scale):
        return ''.join(
            f'litellm_request_total_latency_metric_bucket{{client_ip="{ip}",le="{le}"}} {n * scale}\n'
            for le, n in (('0.5', 1.0), ('1.0', 2.0), ('+Inf', 3.0))
        ) + (
            f'litellm_request_total_latency_metric_count{{client_ip="{ip}"}} {3.0 * scale}\n'
            f'litellm_request_total_latency_metric_sum{{client_ip="{ip}"}} {1.5 * scale}\n'
        )

    runs = walk(serve, aggregator, [head + series('a', 1), head + series('a', 1) + series('b', 2)])
    (second, health) = runs[1]
    assert health == [ServiceCheck.OK]
    assert second[('litellm.request.total_latency.metric.count', ())][1] == 9.0
    assert second[('litellm.request.total_latency.metric.bucket', ('upper_bound:1.0',))][1] == 6.0


def test_policy_without_budget_folds_nothing():
    policy = TagPolicy()
    assert policy.budget is None
    assert TagPolicy.from_config({'max_tag_sets_per_metric': 0}).budget is None
    assert TagPolicy.from_config({}).budget.limit == 1000


@pytest.mark.parametrize('capture', callers_fixture_dirs())
def test_real_sequences_fold_the_same_on_the_base_path(capture, serve, aggregator):
    """The first scrapes of each callers capture: the base library's parser and tagging fold like the fast path."""
    bodies = list(scrape_sequence(capture))[:2]
    fast = walk(serve, aggregator, bodies, max_tag_sets_per_metric=BUDGET, timeout=120)
    base = walk(serve, aggregator, bodies, max_tag_sets_per_metric=BUDGET, timeout=120, fast_parser=False)
    for (a, _), (b, _) in zip(fast, base, strict=True):
        assert any(name == FOLDED for name, _ in a)
        assert {k: v for k, v in a.items() if k[0] != 'litellm.process.uptime.seconds'} == {
            k: v for k, v in b.items() if k[0] != 'litellm.process.uptime.seconds'
        }


@pytest.mark.parametrize(
    'options',
    [
        {'keep_labels': ['client_ip', 'user_agent']},
        {'exclude_labels': ['model']},
        {'include_labels': ['hashed_api_key', 'model', 'requested_model']},
        {'bundled_check_names': False},
        {'bundled_check_names': False, 'fast_parser': False},
    ],
    ids=['keep_labels', 'exclude_labels', 'include_labels', 'no 2.x names', 'base path, no 2.x names'],
)
def test_the_budget_with_label_options(serve, aggregator, payloads, options):
    """Label options change the tag sets the budget counts; it holds on each, and totals stay exact."""
    plain = walk(serve, aggregator, payloads[:3], max_tag_sets_per_metric=0, **options)
    budgeted = walk(serve, aggregator, payloads[:3], max_tag_sets_per_metric=BUDGET, **options)
    for (runs, health), (reference, _) in zip(budgeted, plain, strict=True):
        assert health == [ServiceCheck.OK]
        assert max(tag_sets(runs).values()) <= BUDGET
        expected, got = totals(reference), totals(runs)
        assert got.keys() == expected.keys()
        for name, value in expected.items():
            assert got[name] == pytest.approx(value, rel=1e-9), name
