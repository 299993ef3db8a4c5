"""Every LiteLLM family of every version: each family in any fixture maps, each metadata row can be sent."""

import os
import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from datadog_checks.dev.utils import get_metadata_metrics
from datadog_checks.litellm import LitellmCheck
from datadog_checks.litellm.metrics import METRIC_MAP
from tools import generate_derived

from .common import (
    CHECK_METRICS,
    DERIVED_FIXTURES,
    FIXTURES,
    NEWEST,
    NOT_IN_ANY_FIXTURE,
    SEED_METRICS,
    SEED_NOT_IN_CAPTURE,
    read_fixture,
)

PAYLOADS = sorted(
    os.path.relpath(os.path.join(root, name), FIXTURES)
    for root, _, names in os.walk(FIXTURES)
    for name in names
    if name.endswith('.txt')
)
# Families a check must not submit: the Python runtime and process, except the start time (uptime).
RUNTIME = re.compile(r'^(python|process)_')


def families(relpath):
    return {family.name: family.type for family in text_string_to_metric_families(read_fixture(relpath, mode='r'))}


def run(dd_run_check, instance):
    dd_run_check(LitellmCheck('litellm', {}, [instance]))


def test_derived_payloads_are_generated_not_edited():
    rendered = generate_derived.render()
    assert sorted(rendered) == sorted(os.listdir(DERIVED_FIXTURES))
    for name, text in rendered.items():
        with open(os.path.join(DERIVED_FIXTURES, name)) as f:
            assert f.read() == text, f'{name} differs from what tools/generate_derived.py renders'
        assert text.startswith('# DERIVED payload')


@pytest.mark.parametrize('payload', PAYLOADS)
def test_every_litellm_family_is_mapped(payload):
    found = families(payload)
    unmapped = [
        name
        for name in found
        if name.startswith('litellm_') and not name.endswith('_created') and name not in METRIC_MAP
    ]
    assert not unmapped, f'{payload}: unmapped LiteLLM families {unmapped}'
    runtime = [name for name in found if RUNTIME.match(name) and name in METRIC_MAP]
    assert runtime in ([], ['process_start_time_seconds'])


@pytest.mark.parametrize('payload', PAYLOADS)
def test_every_payload_submits_metadata_types(dd_run_check, aggregator, serve, payload):
    from .http_server import Response

    server = serve({'/metrics/': Response(read_fixture(payload))})
    run(dd_run_check, {'openmetrics_endpoint': f'{server.base_url}/metrics/'})
    aggregator.assert_metrics_using_metadata(get_metadata_metrics(), check_submission_type=True)
    aggregator.assert_no_duplicate_metrics()
    assert not [
        n
        for n in aggregator.metric_names
        if n.startswith(('litellm.python', 'litellm.process.')) and n != 'litellm.process.uptime.seconds'
    ]


def submitted_names(dd_run_check, aggregator, serve, **options):
    from .http_server import Response

    names = set()
    for payload in PAYLOADS:
        aggregator.reset()
        server = serve({'/metrics/': Response(read_fixture(payload))})
        run(dd_run_check, {'openmetrics_endpoint': f'{server.base_url}/metrics/', **options})
        names |= set(aggregator.metric_names) | set(aggregator._histogram_buckets)
    return names


def test_every_metadata_row_is_sent_by_some_fixture(dd_run_check, aggregator, serve):
    """Nothing is listed that cannot be sent; what no fixture can send yet is listed, with the reason."""
    sent = submitted_names(dd_run_check, aggregator, serve)
    sent |= submitted_names(dd_run_check, aggregator, serve, histogram_buckets_as_distributions=True)
    never_sent = set(get_metadata_metrics()) - sent - CHECK_METRICS
    assert sorted(never_sent) == sorted(NOT_IN_ANY_FIXTURE)


def test_distributions_use_the_bare_histogram_name(dd_run_check, aggregator, serve_fixture):
    run(dd_run_check, serve_fixture('real', NEWEST, 'metrics.txt', histogram_buckets_as_distributions=True))
    metadata = get_metadata_metrics()
    buckets = aggregator._histogram_buckets
    assert 'litellm.request.total_latency.metric' in buckets
    for name in buckets:
        assert name in metadata and f'{name}.bucket' in metadata, name
    # Without collect_counters_with_distributions, no .sum/.count/.bucket of a histogram family goes out.
    for name in buckets:
        for suffix in ('.sum', '.count', '.bucket'):
            assert not aggregator.metrics(name + suffix), name + suffix
    stub = buckets['litellm.request.total_latency.metric'][0]
    assert 'upper_bound:0.005' in stub.tags and stub.monotonic


def test_distributions_with_counters(dd_run_check, aggregator, serve_fixture):
    instance = serve_fixture(
        'real', NEWEST, 'metrics.txt', histogram_buckets_as_distributions=True, collect_counters_with_distributions=True
    )
    run(dd_run_check, instance)
    assert aggregator.metrics('litellm.request.total_latency.metric.sum')
    assert aggregator.metrics('litellm.request.total_latency.metric.count')
    assert not aggregator.metrics('litellm.request.total_latency.metric.bucket')
    aggregator.assert_metrics_using_metadata(get_metadata_metrics(), check_submission_type=True)


def series(aggregator, name, *tags):
    """Values of the series of `name` carrying every tag in `tags`."""
    return [m.value for m in aggregator.metrics(name) if set(tags) <= set(m.tags)]


def test_derived_database_payload_values_and_tags(dd_run_check, aggregator, serve_fixture):
    run(dd_run_check, serve_fixture('derived', 'database_1.110.2.txt'))
    assert series(aggregator, 'litellm.org.budget.remaining_hours.metric', 'org_id:org-retail', 'org_alias:Retail') == [
        240.0
    ]
    assert series(aggregator, 'litellm.customer.budget.remaining_hours.metric', 'end_user:customer-42') == [5.0]
    assert series(aggregator, 'litellm.postgres.failed_requests.count', 'error_class:TimeoutError') == [2]
    assert series(
        aggregator, 'litellm.redis.spend_update_queue.size', 'redis_spend_update_queue:redis_spend_update_queue'
    )
    assert series(aggregator, 'litellm.total_users') == [120.0]


def test_licensed_pre_1_75_token_counters_keep_seed_names(dd_run_check, aggregator, serve_fixture):
    run(dd_run_check, serve_fixture('derived', 'licensed_1.74.txt'))
    assert series(aggregator, 'litellm.input.tokens.count', 'team:team-checkout') == [1830]
    assert series(aggregator, 'litellm.remaining.requests', 'model_group:gpt-4o') == [4999.0]
    assert series(aggregator, 'litellm.deployment.failure_by_tag_responses.count', 'tag:checkout') == [5]


def test_seed_metrics_real_captures_cannot_fill_are_listed(dd_run_check, aggregator, serve):
    from .http_server import Response

    sent = set()
    for payload in (p for p in PAYLOADS if p.startswith('real')):
        aggregator.reset()
        server = serve({'/metrics/': Response(read_fixture(payload))})
        run(dd_run_check, {'openmetrics_endpoint': f'{server.base_url}/metrics/'})
        sent |= set(aggregator.metric_names)
    assert sorted(set(SEED_METRICS) - sent) == sorted(SEED_NOT_IN_CAPTURE)
