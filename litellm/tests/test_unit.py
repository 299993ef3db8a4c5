import math
import time

import pytest

from datadog_checks.base.constants import ServiceCheck
from datadog_checks.dev.utils import get_metadata_metrics
from datadog_checks.litellm import LitellmCheck
from datadog_checks.litellm.metrics import BUNDLED_CHECK_NAMES, METRIC_MAP, SEED_METRICS

from .common import CHECK_METRICS, NEWEST, real_fixture_dirs
from .common import SEED_METRICS as SEED_NAMES
from .http_server import Response

MASTER = 'hashed_api_key:litellm_proxy_master_key'


def run(dd_run_check, instance):
    check = LitellmCheck('litellm', {}, [instance])
    dd_run_check(check)
    return check


def test_seed_contract_in_metadata():
    metadata = get_metadata_metrics()
    for name, seed_type in SEED_NAMES.items():
        assert name in metadata, name
        assert metadata[name]['metric_type'] == seed_type, name
    assert len(SEED_NAMES) == 97


def test_rename_table_and_metadata_agree():
    """Every table target has its metadata rows, and every metadata row comes from the table (or repeats one of its
    names under the bundled 2.x check's name)."""
    metadata = set(get_metadata_metrics())
    targets = {'litellm.' + (t if isinstance(t, str) else t['name']) for t in METRIC_MAP.values()}
    for target in targets:
        assert metadata & {target, f'{target}.count', f'{target}.bucket', f'{target}.sum'}, target
    bundled = {f'litellm.{name}' for name in BUNDLED_CHECK_NAMES.values()}
    assert bundled <= metadata
    for row in metadata - CHECK_METRICS - bundled:
        base = row.rsplit('.', 1)[0] if row.rsplit('.', 1)[1] in ('count', 'bucket', 'sum') else row
        assert row in targets or base in targets, row


def test_seed_table_is_the_seed():
    """The seed part of the table yields exactly the seed's names."""
    metadata = get_metadata_metrics()
    produced = set()
    for target in SEED_METRICS.values():
        name = 'litellm.' + (target if isinstance(target, str) else target['name'])
        produced |= {n for n in (name, f'{name}.count', f'{name}.bucket', f'{name}.sum') if n in metadata}
    assert set(SEED_NAMES) <= produced


@pytest.mark.parametrize('version', real_fixture_dirs())
def test_real_capture_types_and_metadata(dd_run_check, aggregator, serve_fixture, version):
    run(dd_run_check, serve_fixture('real', version, 'metrics.txt'))
    assert aggregator.metric_names, version
    aggregator.assert_metrics_using_metadata(get_metadata_metrics(), check_submission_type=True)
    aggregator.assert_no_duplicate_metrics()
    aggregator.assert_service_check('litellm.openmetrics.health', ServiceCheck.OK)


def test_newest_capture_values_and_tags(dd_run_check, aggregator, serve_fixture):
    instance = serve_fixture('real', NEWEST, 'metrics.txt')
    run(dd_run_check, instance)
    endpoint = f'endpoint:{instance["openmetrics_endpoint"]}'

    # Requests per deployment, with the tags the check keeps by default (see test_tags.py).
    aggregator.assert_metric(
        'litellm.proxy.total_requests.metric.count',
        tags=[
            endpoint,
            MASTER,
            'api_provider:openai',
            'model_id:gpt-ok-a',
            'requested_model:gpt-ok',
            'route:/v1/chat/completions',
            'status_code:200',
            'user:default_user_id',
        ],
        count=1,
    )
    # The deployment that returns 500 is in complete outage (2), and was cooled down.
    states = {
        m.value
        for m in aggregator.metrics('litellm.deployment.state')
        if {'model_id:gpt-500-a', 'litellm_model_name:gpt-500'} <= set(m.tags)
    }
    assert states == {2}
    assert [m for m in aggregator.metrics('litellm.deployment.cooled_down.count') if 'exception_status:500' in m.tags]

    # Spend is in dollars and positive; latencies are seconds (sub-second sums here).
    spend = sum(m.value for m in aggregator.metrics('litellm.spend.metric.count'))
    assert 0 < spend < 0.01
    latency = aggregator.metrics('litellm.request.total_latency.metric.sum')
    counts = aggregator.metrics('litellm.request.total_latency.metric.count')
    assert 0 < sum(m.value for m in latency) / sum(m.value for m in counts) < 5

    # Histogram buckets carry their upper bound.
    aggregator.assert_metric_has_tag_prefix('litellm.llm.api.latency.metric.bucket', 'upper_bound:')

    # The process start time becomes uptime, in seconds.
    uptime = aggregator.metrics('litellm.process.uptime.seconds')[0].value
    assert 0 < uptime < time.time()

    # +Inf budgets are never submitted.
    for m in aggregator.metrics('litellm.remaining.api_key.budget.metric'):
        assert math.isfinite(m.value)


def test_renamed_token_counters_keep_seed_names(dd_run_check, aggregator, serve_fixture):
    """`litellm_input_tokens_metric` (LiteLLM >= 1.75) lands on the seed's `litellm.input.tokens.count`."""
    run(dd_run_check, serve_fixture('real', NEWEST, 'metrics.txt'))
    for name in ('input', 'output', 'total'):
        values = [m.value for m in aggregator.metrics(f'litellm.{name}.tokens.count')]
        assert values and all(v >= 0 for v in values) and sum(values) > 0, name
    total = sum(m.value for m in aggregator.metrics('litellm.total.tokens.count'))
    parts = sum(m.value for n in ('input', 'output') for m in aggregator.metrics(f'litellm.{n}.tokens.count'))
    assert total == parts


def test_health_critical_on_http_error(dd_run_check, aggregator, serve):
    server = serve({'/metrics/': Response(b'boom', status=500, content_type='text/plain')})
    with pytest.raises(Exception, match='500'):
        run(dd_run_check, {'openmetrics_endpoint': f'{server.base_url}/metrics/'})
    aggregator.assert_service_check('litellm.openmetrics.health', ServiceCheck.CRITICAL)
    assert not aggregator.metric_names


def test_scrape_series_counts_every_submission(dd_run_check, aggregator, serve_fixture):
    run(dd_run_check, serve_fixture('real', NEWEST, 'metrics.txt'))
    own = {'litellm.scrape.series', 'litellm.scrape.skipped_lines'}
    submitted = sum(len(aggregator.metrics(n)) for n in aggregator.metric_names if n not in own)
    aggregator.assert_metric('litellm.scrape.series', value=submitted, count=1)
    assert submitted > 500
