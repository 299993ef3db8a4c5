"""The default `raw_line_filters` drop only lines the check never submits: same submissions, fewer lines parsed."""

import os
import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from datadog_checks.litellm import LitellmCheck
from datadog_checks.litellm.line_filters import RAW_LINE_FILTERS
from datadog_checks.litellm.metrics import METRIC_MAP
from tools.grow import grow

from .common import FIXTURES, NEWEST, scrape_payloads, submissions

FILTER = re.compile('|'.join(RAW_LINE_FILTERS))  # how the base joins them

PAYLOADS = scrape_payloads()


def read(path):
    with open(os.path.join(FIXTURES, path)) as f:
        return f.read()


def family_of(line):
    """The metric name a line is about: the third token of `# HELP/# TYPE`, the name before `{` or a space."""
    if line.startswith('#'):
        parts = line.split(' ', 3)
        return parts[2] if len(parts) > 2 and parts[1] in ('HELP', 'TYPE') else None
    return re.split(r'[ {]', line, maxsplit=1)[0]


def never_submitted(name):
    """Independent of the regexes: prometheus_client's runtime families, unless mapped (`_created` families are read:
    they tell which process answered)."""
    mapped = {name, name.removesuffix('_total')} & set(METRIC_MAP)
    return not mapped and name.startswith(('python_', 'process_'))


def kept(text):
    return '\n'.join(line for line in text.splitlines() if not FILTER.search(line)) + '\n'


@pytest.mark.parametrize('path', PAYLOADS)
def test_filters_drop_exactly_the_unsubmitted_families(path):
    text = read(path)
    dropped = 0
    for line in text.splitlines():
        name = family_of(line)
        expected = name is not None and never_submitted(name)
        assert bool(FILTER.search(line)) == expected, line[:120]
        dropped += expected
    # Every capture of a single-process proxy carries the runtime families; multi-worker ones do not.
    assert dropped or 'multiworker' in path or path.startswith('derived'), path


@pytest.mark.parametrize('path', PAYLOADS)
def test_filtered_payload_parses_to_the_same_families(path):
    """HELP/TYPE lines of kept families survive: the parser types every family as before."""
    text = read(path)
    before = {f.name: (f.type, f.samples) for f in text_string_to_metric_families(text)}
    after = {f.name: (f.type, f.samples) for f in text_string_to_metric_families(kept(text))}
    assert after == {name: family for name, family in before.items() if not never_submitted(name)}
    assert {name for name in after if name in METRIC_MAP} == {name for name in before if name in METRIC_MAP}


def run_both(dd_run_check, aggregator, instance, monkeypatch):
    # `process.uptime.seconds` is now minus the start time: freeze now so both runs submit the same value.
    monkeypatch.setattr(
        'datadog_checks.base.checks.openmetrics.v2.transformers.time_elapsed.get_timestamp', lambda: 2e9
    )
    results = []
    for filters in (None, []):
        aggregator.reset()
        config = dict(instance) if filters is None else {**instance, 'raw_line_filters': filters}
        check = LitellmCheck('litellm', {}, [config])
        dd_run_check(check)
        dd_run_check(check)  # the second run also submits the counters' first values' successors
        results.append(submissions(aggregator))
    return results


@pytest.mark.parametrize('path', PAYLOADS)
def test_same_submissions_with_and_without_filters(dd_run_check, aggregator, serve_fixture, monkeypatch, path):
    filtered, unfiltered = run_both(dd_run_check, aggregator, serve_fixture(*path.split(os.sep)), monkeypatch)
    assert filtered[0], path
    assert filtered == unfiltered


def test_same_submissions_on_a_grown_payload(dd_run_check, aggregator, serve, monkeypatch):
    """Many callers with realistic keys, teams and users: still the same submissions."""
    from .http_server import Response

    server = serve({'/metrics/': Response(grow(read(os.path.join('real', NEWEST, 'metrics.txt')), 3))})
    instance = {'openmetrics_endpoint': f'{server.base_url}/metrics/'}
    filtered, unfiltered = run_both(dd_run_check, aggregator, instance, monkeypatch)
    assert len(filtered[0]) > 2000
    assert filtered == unfiltered


@pytest.mark.parametrize(
    'line, dropped',
    [
        # prometheus_client's text format: `_created` is a gauge family of its own, read (processes.py).
        ('# HELP litellm_spend_metric_created Total spend on LLM requests', False),
        ('# TYPE litellm_spend_metric_created gauge', False),
        ('litellm_spend_metric_created{model="gpt"} 1.7e+09', False),
        ('litellm_auth_latency_created 1.7e+09', False),
        ('# TYPE litellm_spend_metric_total counter', False),
        ('litellm_spend_metric_total{model="gpt"} 1.0', False),
        # OpenMetrics: `_created` is a sample of the counter family, whose TYPE line has no suffix.
        ('# TYPE litellm_spend_metric counter', False),
        ('litellm_spend_metric_created{model="gpt"} 1.7e+09', False),
        ('# TYPE litellm_managed_batch_created_total counter', False),
        ('litellm_managed_batch_created_total{model="m"} 2.0', False),
        # A mapped family named `..._created` exported as a gauge is kept.
        ('# TYPE litellm_managed_file_created gauge', False),
        ('litellm_managed_file_created{model="m"} 3.0', False),
        # Label values and help texts never match: the patterns hold at the start of the line only.
        ('litellm_requests_metric_total{route="/x_created{",user_agent="process_"} 1.0', False),
        ('# HELP litellm_requests_metric_total counts process_ and _created things', False),
        # prometheus_client's runtime collectors, except the mapped start time.
        ('# HELP python_gc_objects_collected_total Objects collected during gc', True),
        ('python_info{implementation="CPython"} 1.0', True),
        ('process_resident_memory_bytes 4.5e+08', True),
        ('# TYPE process_start_time_seconds gauge', False),
        ('process_start_time_seconds 1.7e+09', False),
        ('# EOF', False),
        ('', False),
    ],
)
def test_filter_patterns(line, dropped):
    assert bool(FILTER.search(line)) == dropped


def test_default_and_opt_out(serve_fixture):
    instance = serve_fixture('real', NEWEST, 'metrics.txt')
    check = LitellmCheck('litellm', {}, [instance])
    assert check.get_default_config()['raw_line_filters'] == list(RAW_LINE_FILTERS)
    check.configure_scrapers()
    (scraper,) = check.scrapers.values()
    assert scraper.raw_line_filter.pattern == FILTER.pattern

    check = LitellmCheck('litellm', {}, [{**instance, 'raw_line_filters': []}])
    check.configure_scrapers()
    (scraper,) = check.scrapers.values()
    assert scraper.raw_line_filter is None
