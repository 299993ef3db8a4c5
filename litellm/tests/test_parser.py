"""The strict parser and series cache (parsing/) against the base library's path: the same submissions on well-formed
input, whatever the payload, options and parser; one line lost, not the scrape, on malformed input."""

import os
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datadog_checks.base.constants import ServiceCheck
from datadog_checks.litellm import LitellmCheck
from datadog_checks.litellm.line_filters import BASE_PARSER_LINE_FILTERS, CREATED
from datadog_checks.litellm.parsing.exposition import parse_series

from .common import FIXTURES, NEWEST, scrape_payloads
from .common import submissions as all_submissions
from .http_server import LocalServer, Response
from .parser_payloads import OPENMETRICS_CONTENT_TYPE, payloads, to_openmetrics

try:  # the base library's replacement of prometheus_client's sample parser (datadog-checks-base >= 38)
    from datadog_checks.base.checks.openmetrics import parser_optimizations
except ImportError:
    parser_optimizations = None

PAYLOADS = scrape_payloads()
PARSERS = ['patched', 'unpatched'] if parser_optimizations is not None else ['library']
NOW = 2e9
HEALTH = 'litellm.openmetrics.health'


def read(path):
    with open(os.path.join(FIXTURES, path)) as f:
        return f.read()


def body(path, content_type):
    text = read(path)
    return to_openmetrics(text) if content_type == OPENMETRICS_CONTENT_TYPE else text


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    # `process.uptime.seconds` is now minus the start time: one clock for both paths.
    monkeypatch.setattr(
        'datadog_checks.base.checks.openmetrics.v2.transformers.time_elapsed.get_timestamp', lambda: NOW
    )


@pytest.fixture
def use_parser():
    """Pick the base library's sample parser: its patched one (the default) or prometheus_client's own."""
    if parser_optimizations is None:
        yield lambda variant: None
        return
    from datadog_checks.base.stubs import datadog_agent

    def use(variant):
        datadog_agent._config['patch_prometheus_client'] = variant != 'unpatched'
        parser_optimizations.init_from_agent_config()

    yield use
    datadog_agent._config.pop('patch_prometheus_client', None)
    parser_optimizations.init_from_agent_config()


def submissions(aggregator):
    # The skipped-line count exists only with the strict parser: the base parser fails the scrape instead.
    return all_submissions(aggregator, skip=('litellm.scrape.skipped_lines',))


def run(dd_run_check, aggregator, instance, runs=2):
    """The submissions of `runs` runs of one check (the second also submits the counters' next values)."""
    aggregator.reset()
    check = LitellmCheck('litellm', {}, [instance])
    for _ in range(runs):
        dd_run_check(check)
    (scraper,) = check.scrapers.values()
    return submissions(aggregator), scraper


def both_paths(dd_run_check, aggregator, instance, runs=2, openmetrics=False):
    # The same lines for both parsers: the base parser's default filters, and never OpenMetrics `_created` samples,
    # which the base parser would submit as counter values (the reader reads them for identity, never submits them).
    filters = list(instance.get('raw_line_filters', BASE_PARSER_LINE_FILTERS))
    if openmetrics:
        filters = [CREATED, *filters]
    instance = {**instance, 'raw_line_filters': filters}
    fast, scraper = run(dd_run_check, aggregator, {**instance, 'fast_parser': True}, runs)
    base, _ = run(dd_run_check, aggregator, {**instance, 'fast_parser': False}, runs)
    return fast, base, scraper


def assert_same(fast, base):
    assert fast[0], 'nothing submitted'
    assert fast == base


# ------------------------------------------------------------------------------------------- fixtures
@pytest.mark.parametrize('parser', PARSERS)
@pytest.mark.parametrize('content_type', [None, OPENMETRICS_CONTENT_TYPE], ids=['text', 'openmetrics'])
@pytest.mark.parametrize('path', PAYLOADS)
def test_same_submissions_as_the_base_path(dd_run_check, aggregator, serve, use_parser, path, content_type, parser):
    use_parser(parser)
    kwargs = {'content_type': content_type} if content_type else {}
    server = serve({'/metrics/': Response(body(path, content_type), **kwargs)})
    fast, base, scraper = both_paths(
        dd_run_check,
        aggregator,
        {'openmetrics_endpoint': f'{server.base_url}/metrics/'},
        openmetrics=bool(content_type),
    )
    assert scraper.reader.cached and scraper.reader.skipped == 0
    assert_same(fast, base)


OPTIONS = {
    'every line parsed': {'raw_line_filters': []},
    'labels kept, values as exported': {
        'keep_labels': ['client_ip', 'user_agent', 'pid', 'user_email'],
        'drop_none_tags': False,
        'hash_unhashed_api_keys': False,
        'submit_no_limit_sentinels': True,
    },
    'base label options': {
        'exclude_labels': ['model_id'],
        'rename_labels': {'team': 'litellm_team', 'upper_bound': 'bound'},
        'exclude_metrics_by_labels': {'hashed_api_key': ['^litellm_proxy'], 'le': ['^10\\.0$'], 'status_code': True},
        'tags': ['team:platform', 'stage:test'],
    },
    'include_labels': {'include_labels': ['requested_model', 'api_provider']},
    'excluded families, no endpoint tag': {
        'exclude_metrics': ['litellm_redis_.*', 'litellm_spend_metric'],
        'tag_by_endpoint': False,
        'ignore_tags': ['^stage:'],
        'tags': ['stage:x', 'owner:y'],
    },
    'wildcard extra_metrics (base-transformed families)': {
        'raw_line_filters': [],
        'extra_metrics': [{'python_gc_.*': {'type': 'counter'}}, {'litellm_.*_created': {'type': 'gauge'}}],
    },
    'explicit types': {'extra_metrics': [{'litellm_deployment_state': {'name': 'state', 'type': 'rate'}}]},
    'no histogram buckets': {'collect_histogram_buckets': False},
    # Options the series cache leaves to the base library's tagging (strict parser, base tags every sample).
    'telemetry': {'telemetry': True},
    'non-cumulative buckets': {'non_cumulative_histogram_buckets': True},
    'distributions': {'histogram_buckets_as_distributions': True},
    'share_labels': {'share_labels': {'litellm_deployment_state': {'labels': ['api_base'], 'match': ['model_id']}}},
    'hostname_label': {'hostname_label': 'api_provider', 'hostname_format': 'proxy-<HOSTNAME>'},
    'raw_metric_prefix': {'raw_metric_prefix': 'litellm_'},
}
SLOW_OPTIONS = {"telemetry", "non-cumulative buckets", "distributions", "share_labels"}


@pytest.mark.parametrize('content_type', [None, OPENMETRICS_CONTENT_TYPE], ids=['text', 'openmetrics'])
@pytest.mark.parametrize('capture', [NEWEST, '1.110.2-multiworker'])
@pytest.mark.parametrize('options', sorted(OPTIONS))
def test_same_submissions_with_options(dd_run_check, aggregator, serve, options, capture, content_type):
    kwargs = {'content_type': content_type} if content_type else {}
    server = serve({'/metrics/': Response(body(os.path.join('real', capture, 'metrics.txt'), content_type), **kwargs)})
    instance = {'openmetrics_endpoint': f'{server.base_url}/metrics/', **OPTIONS[options]}
    fast, base, scraper = both_paths(dd_run_check, aggregator, instance, openmetrics=bool(content_type))
    assert scraper.reader.cached == (options not in SLOW_OPTIONS)
    if options == 'raw_metric_prefix':
        assert fast == base  # nothing of the rename table matches once the prefix is cut: both submit nothing
    else:
        assert_same(fast, base)


# --------------------------------------------------------------------------------------- generated payloads
@pytest.fixture(scope='module')
def payload_server():
    with LocalServer({}) as server:
        yield server


def differential(dd_run_check, aggregator, server, text, content_type, variant_setter=None):
    kwargs = {'content_type': content_type} if content_type else {}
    server.routes['/metrics/'] = Response(text, **kwargs)
    instance = {'openmetrics_endpoint': f'{server.base_url}/metrics/', 'raw_line_filters': []}
    fast, scraper = run(dd_run_check, aggregator, {**instance, 'fast_parser': True})
    assert scraper.reader.skipped == 0, text
    for variant in PARSERS:
        if variant_setter is not None:
            variant_setter(variant)
        base, _ = run(dd_run_check, aggregator, {**instance, 'fast_parser': False})
        assert fast == base, (variant, text)


GENERATED = settings(
    max_examples=int(os.environ.get("PARSER_EXAMPLES", 40)),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@GENERATED
@given(text=payloads(openmetrics=False))
def test_generated_text_payloads(dd_run_check, aggregator, payload_server, use_parser, text):
    differential(dd_run_check, aggregator, payload_server, text, None, use_parser)


@GENERATED
@given(text=payloads(openmetrics=True))
def test_generated_openmetrics_payloads(dd_run_check, aggregator, payload_server, use_parser, text):
    differential(dd_run_check, aggregator, payload_server, text, OPENMETRICS_CONTENT_TYPE, use_parser)


# ------------------------------------------------------------------------------------------ malformed lines
COMBINED = """# HELP litellm_requests_metric_total Requests
# TYPE litellm_requests_metric_total counter
litellm_requests_metric_total{client_ip="10.0.0.1",model="a"} 1.0
litellm_requests_metric_total{client_ip="10.0.0.2",model="a"} 2.0
litellm_requests_metric_total{client_ip="10.0.0.1",model="b"} 4.0
litellm_requests_metric_total{client_ip="10.0.0.2",model="b"} 8.0
litellm_requests_metric_total{client_ip="10.0.0.1",model="c"} 16.0
# HELP litellm_deployment_state State
# TYPE litellm_deployment_state gauge
litellm_deployment_state{model_id="x"} 2.0
"""


def scrape_text(dd_run_check, aggregator, serve, text, **options):
    server = serve({'/metrics/': Response(text)})
    check = LitellmCheck('litellm', {}, [{'openmetrics_endpoint': f'{server.base_url}/metrics/', **options}])
    dd_run_check(check)
    (scraper,) = check.scrapers.values()
    return check, scraper


def values(aggregator, name):
    return {
        tuple(sorted(t for t in m.tags if not t.startswith('endpoint:'))): m.value for m in aggregator.metrics(name)
    }


def test_well_formed_combined_series(dd_run_check, aggregator, serve):
    scrape_text(dd_run_check, aggregator, serve, COMBINED)
    # client_ip is dropped: the series of each model are added up.
    assert values(aggregator, 'litellm.requests.metric.count') == {
        ('model:a',): 3.0,
        ('model:b',): 12.0,
        ('model:c',): 16.0,
    }
    aggregator.assert_metric('litellm.scrape.skipped_lines', value=0, count=1)
    aggregator.assert_service_check(HEALTH, ServiceCheck.OK)


@pytest.mark.parametrize(
    'broken, withheld',
    [
        # An unescaped quote (LiteLLM has shipped one): the labels cannot be trusted past `model`.
        ('litellm_requests_metric_total{client_ip="10.0.0.2",model="b"x"} 8.0', {'model:a', 'model:b', 'model:c'}),
        # The labels are readable, the value is not: only the tag set it belonged to is withheld.
        ('litellm_requests_metric_total{client_ip="10.0.0.2",model="b"} 8.0.1', {'model:b'}),
        ('litellm_requests_metric_total{client_ip="10.0.0.2",model="b"}', {'model:b'}),
        ('litellm_requests_metric_total{client_ip="10.0.0.2",model="b"} 8.0 1 2', {'model:b'}),
        ('litellm_requests_metric_total{client_ip="10.0.0.2",model="b"} ٨', {'model:b'}),
        # The model label was read before the problem: only model b is at risk.
        ('litellm_requests_metric_total{model="b",client_ip="10.0.0.2} 8.0', {'model:b'}),
        # Nothing identifies the series: every tag set of the family is at risk.
        ('litellm_requests_metric_total{client_ip=10.0.0.2,model="b"} 8.0', {'model:a', 'model:b', 'model:c'}),
        # Invalid UTF-8 in the name: the labels still tell the tag set.
        ('\udcff\udcfe{client_ip="10.0.0.2",model="b"} 8.0', {'model:b'}),
        ('\udcff\udcfe', {'model:a', 'model:b', 'model:c'}),
    ],
)
def test_a_malformed_line_costs_only_the_tag_sets_it_belonged_to(dd_run_check, aggregator, serve, broken, withheld):
    text = COMBINED.replace('litellm_requests_metric_total{client_ip="10.0.0.2",model="b"} 8.0', broken)
    text = text.encode('utf-8', 'surrogateescape')  # the invalid UTF-8 bytes of the last case
    check, scraper = scrape_text(dd_run_check, aggregator, serve, text)
    expected = {('model:a',): 3.0, ('model:b',): 12.0, ('model:c',): 16.0}
    assert values(aggregator, 'litellm.requests.metric.count') == {
        tags: value for tags, value in expected.items() if tags[0] not in withheld
    }
    # The next family and the rest of the scrape are untouched.
    assert values(aggregator, 'litellm.deployment.state') == {('model_id:x',): 2.0}
    aggregator.assert_metric('litellm.scrape.skipped_lines', value=1, count=1)
    aggregator.assert_metric('litellm.scrape.series', value=1 + 3 - len(withheld))
    (health,) = aggregator.service_checks(HEALTH)
    assert health.status == ServiceCheck.WARNING
    assert health.message.startswith('Skipped 1 malformed line of the metrics of')
    assert '(first: line 6, ' in health.message
    assert check.warnings == [health.message]


def test_the_base_parser_misreads_what_the_strict_one_skips(dd_run_check, aggregator, serve):
    text = COMBINED.replace('{client_ip="10.0.0.1",model="c"} 16.0', '{model="c"x",client_ip="10.0.0.1"} 16.0')
    scrape_text(dd_run_check, aggregator, serve, text, fast_parser=False)
    assert ('model:c',) in values(aggregator, 'litellm.requests.metric.count')  # `c"x` read as `c`
    aggregator.reset()
    scrape_text(dd_run_check, aggregator, serve, text)
    assert ('model:c',) not in values(aggregator, 'litellm.requests.metric.count')


def test_lines_of_any_kind_of_damage_are_skipped_alone(dd_run_check, aggregator, serve):
    good = read(os.path.join('real', NEWEST, 'metrics.txt'))
    lines = good.split('\n')
    damage = [
        '<<garbage line>>',
        'litellm_in_flight_requests{x="' + 'y' * 70_000 + '"} 1.0',
        # Over body.OVERLONG_LINE: read past without being held whole.
        'litellm_in_flight_requests{x="' + 'z' * 3_000_000 + '"} 1.0',
        'litellm_in_flight_requests 1.0 extra tokens',
        b'litellm_in_flight_requests{x="\xff\xfe"} 1.0'.decode('utf-8', 'surrogateescape'),
        'litellm_in_flight_requests{x="\x00"} 1.0',
        'litellm_in_flight_requests{x="a",x="b"} 1.0',
        '# TYPE litellm_unknown_thing',
    ]
    # Between two families, where they interrupt nothing of the rename table.
    at = next(i for i, line in enumerate(lines) if line.startswith('# HELP litellm_deployment_state'))
    text = '\n'.join(lines[:at] + damage + lines[at:]).encode('utf-8', 'surrogateescape')
    server = serve({'/metrics/': Response(good)})
    instance = {'openmetrics_endpoint': f'{server.base_url}/metrics/'}
    dd_run_check(LitellmCheck('litellm', {}, [instance]))
    clean = submissions(aggregator)
    aggregator.reset()
    server.routes['/metrics/'] = Response(text)
    dd_run_check(LitellmCheck('litellm', {}, [instance]))
    assert submissions(aggregator)[0] == clean[0]
    aggregator.assert_metric('litellm.scrape.skipped_lines', value=len(damage), count=1)


def test_a_sample_of_another_name_inside_a_family(dd_run_check, aggregator, serve):
    """prometheus_client would end the family at a line with a broken name and lose the rest as untyped; here
    the rest rejoins its family and the broken line is withheld like an unreadable one."""
    text = COMBINED.replace(
        'litellm_requests_metric_total{client_ip="10.0.0.2",model="a"}',
        'litellm_requests_metric_tXtal{client_ip="10.0.0.2",model="a"}',
    )
    scrape_text(dd_run_check, aggregator, serve, text)
    assert values(aggregator, 'litellm.requests.metric.count') == {('model:b',): 12.0, ('model:c',): 16.0}
    aggregator.assert_metric('litellm.scrape.skipped_lines', value=1)
    aggregator.reset()
    scrape_text(dd_run_check, aggregator, serve, text, fast_parser=False)
    assert values(aggregator, 'litellm.requests.metric.count') == {('model:a',): 1.0}


def test_openmetrics_after_eof_and_exemplars(dd_run_check, aggregator, serve):
    text = (
        '# TYPE litellm_requests_metric counter\n'
        'litellm_requests_metric_total{model="a"} 1.0 # {trace_id="abc"} 1.0 1700000000.0\n'
        'litellm_requests_metric_total{model="b"} 2.0\n'
        '# EOF\n'
    )
    server = serve({'/metrics/': Response(text, content_type=OPENMETRICS_CONTENT_TYPE)})
    instance = {'openmetrics_endpoint': f'{server.base_url}/metrics/'}
    fast, base, scraper = both_paths(dd_run_check, aggregator, instance, runs=1)
    assert scraper.reader.skipped == 0
    assert_same(fast, base)
    after = 'litellm_requests_metric_total{model="b"} 5.0\nlitellm_requests_metric_total{model="c"} 3.0\n'
    server.routes['/metrics/'] = Response(text + after, content_type=OPENMETRICS_CONTENT_TYPE)
    aggregator.reset()
    check = LitellmCheck('litellm', {}, [instance])
    dd_run_check(check)
    dd_run_check(check)  # the second run: the series are known (the cache must not take lines after `# EOF`)
    assert {m.value for m in aggregator.metrics('litellm.requests.metric.count') if 'model:b' in m.tags} == {2.0}
    assert set(values(aggregator, 'litellm.requests.metric.count')) == {('model:a',), ('model:b',)}
    assert [m.value for m in aggregator.metrics('litellm.scrape.skipped_lines')] == [2.0, 2.0]


def test_a_body_with_no_readable_line_is_a_failed_scrape(dd_run_check, aggregator, serve):
    server = serve({'/metrics/': Response('upstream connect error\nno healthy upstream\n')})
    check = LitellmCheck('litellm', {}, [{'openmetrics_endpoint': f'{server.base_url}/metrics/'}])
    with pytest.raises(Exception, match='not in the Prometheus text format'):
        dd_run_check(check)
    assert aggregator.service_checks(HEALTH)[0].status == ServiceCheck.CRITICAL


# ----------------------------------------------------------------------------------------------- the cache
def churning(generation, series=200):
    """A payload whose series change with `generation`, as callers come and go."""
    lines = ['# HELP litellm_requests_metric_total Requests', '# TYPE litellm_requests_metric_total counter']
    lines += [f'litellm_requests_metric_total{{user="u{generation}-{i}"}} {i}.0' for i in range(series)]
    lines += ['# TYPE litellm_request_total_latency_metric histogram']
    for i in range(series // 10):
        for le in ('0.1', '1.0', '+Inf'):
            lines.append(f'litellm_request_total_latency_metric_bucket{{le="{le}",user="u{generation}-{i}"}} 1.0')
        lines.append(f'litellm_request_total_latency_metric_count{{user="u{generation}-{i}"}} 1.0')
        lines.append(f'litellm_request_total_latency_metric_sum{{user="u{generation}-{i}"}} 0.5')
    return '\n'.join(lines) + '\n'


@pytest.mark.parametrize('cache_size', [None, 150, 0])
def test_the_series_cache_follows_the_live_series(dd_run_check, aggregator, serve, cache_size):
    server = serve({})
    options = {} if cache_size is None else {'series_cache_size': cache_size}
    instance = {'openmetrics_endpoint': f'{server.base_url}/metrics/', **options}
    fast = LitellmCheck('litellm', {}, [instance])
    base = LitellmCheck('litellm', {}, [{**instance, 'fast_parser': False}])
    live = 200 + 20 * 5
    for generation in range(12):
        server.routes['/metrics/'] = Response(churning(generation // 2))
        aggregator.reset()
        dd_run_check(fast)
        got = submissions(aggregator)
        aggregator.reset()
        dd_run_check(base)
        assert got == submissions(aggregator)
        reader = fast.scrapers[instance["openmetrics_endpoint"]].reader.series
        # The series of this scrape and the one before at most, and never more than the cap.
        assert reader.entries <= min(2 * live, cache_size if cache_size is not None else 10**9)
    if cache_size is None:
        assert reader.entries >= live


def test_options_are_checked(serve):
    from datadog_checks.base.errors import ConfigurationError

    for bad in (-1, 'many', True):
        check = LitellmCheck(
            'litellm', {}, [{'openmetrics_endpoint': 'http://127.0.0.1:9/metrics/', 'series_cache_size': bad}]
        )
        with pytest.raises(ConfigurationError, match='series_cache_size'):
            check.configure_scrapers()


# ----------------------------------------------------------------------------------- the hooks into the base
def test_every_litellm_sample_is_submitted_by_a_base_transformer(dd_run_check, serve_fixture, monkeypatch):
    """The check plugs in a parser and a tag step; the base library's transformers submit every LiteLLM sample."""
    instance = serve_fixture('real', NEWEST, 'metrics.txt')
    check = LitellmCheck('litellm', {}, [instance])
    callers = {}
    for method in ('gauge', 'monotonic_count', 'count'):
        submit = getattr(check, method)

        def spy(name, *args, _submit=submit, **kwargs):
            callers.setdefault(name, set()).add(sys._getframe(1).f_globals['__name__'])
            return _submit(name, *args, **kwargs)

        monkeypatch.setattr(check, method, spy)
    dd_run_check(check)
    dd_run_check(check)
    own = {'scrape.series', 'scrape.skipped_lines', 'scrape.truncated'}
    families = {name: modules for name, modules in callers.items() if name not in own}
    assert len(families) > 50
    for name, modules in families.items():
        assert all(module.startswith('datadog_checks.base.checks.openmetrics.v2.transformers') for module in modules), (
            name,
            modules,
        )


def test_every_option_the_base_reads_is_classified():
    """An option a later base library reads must be named in CACHED_OPTIONS or BASE_PATH_OPTIONS."""
    from datadog_checks.litellm.parsing.options import BASE_PATH_OPTIONS, CACHED_OPTIONS
    from datadog_checks.litellm.scraper import LitellmScraper

    read = set()

    class Recording(dict):
        def get(self, key, default=None):
            read.add(key)
            return super().get(key, default)

        def __getitem__(self, key):
            read.add(key)
            return super().__getitem__(key)

        def __contains__(self, key):
            read.add(key)
            return super().__contains__(key)

    check = LitellmCheck('litellm', {}, [{'openmetrics_endpoint': 'http://127.0.0.1:9/metrics/'}])
    LitellmScraper(check, Recording(check.get_config_with_defaults(check.instance)))
    assert read, 'nothing recorded: the base no longer reads its options with get()'
    assert read - CACHED_OPTIONS - BASE_PATH_OPTIONS == set()


def test_every_option_of_the_spec_is_classified():
    from datadog_checks.litellm.config_models.instance import InstanceConfig
    from datadog_checks.litellm.parsing.options import BASE_PATH_OPTIONS, CACHED_OPTIONS

    assert set(InstanceConfig.model_fields) - CACHED_OPTIONS - BASE_PATH_OPTIONS == set()


@pytest.mark.parametrize('option', ['telemetry', 'share_labels', 'a_later_base_option'])
def test_options_the_cache_does_not_honour_go_to_the_base_path(dd_run_check, aggregator, serve_fixture, option):
    value = {'share_labels': {'litellm_deployment_state': {'labels': ['api_base']}}}.get(option, True)
    check = LitellmCheck('litellm', {}, [serve_fixture('real', NEWEST, 'metrics.txt', **{option: value})])
    dd_run_check(check)
    (scraper,) = check.scrapers.values()
    assert scraper.reader is not None and not scraper.reader.cached


@pytest.mark.parametrize(
    'content_type, parser',
    [
        ('application/openmetrics-text; version=1.0.0', 'prometheus_client.openmetrics.parser'),
        ('text/plain', 'prometheus_client.parser'),
    ],
)
def test_the_one_private_name_of_the_base_still_picks_its_parser(content_type, parser):
    """scraper.BASE_CONTENT_TYPE: the base's `parse_metric_families` picks its parser from it."""
    from datadog_checks.litellm.scraper import BASE_CONTENT_TYPE

    check = LitellmCheck('litellm', {}, [{'openmetrics_endpoint': 'http://127.0.0.1:9/metrics/', 'fast_parser': False}])
    check.configure_scrapers()
    (scraper,) = check.scrapers.values()
    setattr(scraper, BASE_CONTENT_TYPE, content_type)
    assert scraper.parse_metric_families.__module__ == parser


# ------------------------------------------------------------------ a series read with the labels of the last
PIECES = st.lists(
    st.sampled_from(
        ['a="1"', 'b="q,r"', 'c="q,le="', 'd=""', 'e="x\\"y"', ',le="1"', 'le="2"', '"', ',', ' ', 'l', 'f="1",']
    ),
    max_size=5,
)


def read_alone(key, last=(None, None)):
    try:
        name, labels, text = parse_series(key, last)
    except ValueError as e:
        return type(e), None
    return (name, labels), text


@settings(max_examples=400, deadline=None)
@given(before=PIECES, after=PIECES, bound=st.sampled_from(['0.5', '+Inf', '1e3', 'x', '']), at=st.integers(0, 6))
def test_a_series_reads_the_same_after_any_other(before, after, bound, at):
    """The buckets, count and sum of a histogram series reuse the labels of the line before them when their text
    less the bound is the same: a line then reads exactly as alone (the same labels, or the same error), wherever
    its `le` is and whatever the line before was, broken lines and values holding `,le="` included."""
    pair = f'le="{bound}"'
    first = ','.join(before[:at] + [pair] + before[at:])
    read, text = read_alone(f'x_bucket{{{first}}}')
    last = (None, None)
    if text is not None:  # as the reader keeps it: only from a line read whole
        last = (text, {k: v for k, v in read[1].items() if k != 'le'})
    for pieces in (before, after):
        for second in (','.join(pieces), ','.join([pair] + pieces), ','.join(pieces + [pair])):
            for name in ('x_bucket', 'x_count'):
                key = f'{name}{{{second}}}'
                assert read_alone(key, last)[0] == read_alone(key)[0], (first, key)
