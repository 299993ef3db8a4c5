"""One value per tag set per run, and strict where the format is strict: a repeated series line, a family declared
twice, combined values past the largest float, an OpenMetrics body without `# EOF`, histograms that break their
invariants, and damage amid the lines the raw line filters drop."""

import pytest

from datadog_checks.base.constants import ServiceCheck
from datadog_checks.litellm import LitellmCheck

from .common import NEWEST, read_fixture
from .http_server import Response
from .parser_payloads import OPENMETRICS_CONTENT_TYPE, to_openmetrics

HEALTH = 'litellm.openmetrics.health'
REQUESTS = 'litellm.requests.metric.count'
COUNTER = '# HELP litellm_requests_metric_total Requests\n# TYPE litellm_requests_metric_total counter\n'
LATENCY = '# HELP litellm_request_total_latency_metric Latency\n# TYPE litellm_request_total_latency_metric histogram\n'


def scrape(dd_run_check, aggregator, serve, text, content_type=None, runs=1, **options):
    server = serve({'/metrics/': Response(text, **({'content_type': content_type} if content_type else {}))})
    check = LitellmCheck('litellm', {}, [{'openmetrics_endpoint': f'{server.base_url}/metrics/', **options}])
    for _ in range(runs):
        aggregator.reset()
        dd_run_check(check)
    (scraper,) = check.scrapers.values()
    return scraper


def values(aggregator, name):
    return sorted(
        (m.value, tuple(sorted(t for t in m.tags if not t.startswith('endpoint:')))) for m in aggregator.metrics(name)
    )


@pytest.mark.parametrize('fast_parser', [True])
def test_a_repeated_series_line_is_skipped_and_its_first_value_kept(dd_run_check, aggregator, serve, fast_parser):
    text = COUNTER + 'litellm_requests_metric_total{model="a"} 5\n' + 'litellm_requests_metric_total{model="a"} 7\n'
    text += 'litellm_requests_metric_total{model="b"} 1\n'
    for runs in (1, 2):  # the first run reads the series anew, the second from the cache
        scraper = scrape(dd_run_check, aggregator, serve, text, runs=runs, fast_parser=fast_parser)
        assert scraper.reader.skipped == 1
        assert 'a repeated series' in scraper.reader.first_skipped[1]
    # Second run: the counter's value is 5 (not 12): the first value kept, no second value for the tag set.
    assert [m.value for m in aggregator.metrics(REQUESTS) if 'model:a' in m.tags] == [5]
    aggregator.assert_service_check(HEALTH, ServiceCheck.WARNING)


def test_a_family_declared_twice_gives_each_tag_set_one_value(dd_run_check, aggregator, serve):
    text = COUNTER + 'litellm_requests_metric_total{model="a"} 5\n'
    text += '# HELP litellm_spend_metric_total Spend\n# TYPE litellm_spend_metric_total counter\n'
    text += 'litellm_spend_metric_total{model="a"} 1.5\n'
    text += COUNTER + 'litellm_requests_metric_total{model="a"} 9\nlitellm_requests_metric_total{model="b"} 2\n'
    scrape(dd_run_check, aggregator, serve, text, runs=2)
    got = [(m.value, 'model:a' in m.tags) for m in aggregator.metrics(REQUESTS)]
    assert sorted(got) == [(2, False), (5, True)]  # model:a once, with its first value; model:b from the repeat


def test_series_combined_past_the_largest_float_are_not_submitted(dd_run_check, aggregator, serve):
    # client_ip is dropped: both series become one tag set, whose sum would be infinite.
    text = COUNTER + 'litellm_requests_metric_total{model="a",client_ip="1.1.1.1"} 1e308\n'
    text += 'litellm_requests_metric_total{model="a",client_ip="2.2.2.2"} 1e308\n'
    text += 'litellm_requests_metric_total{model="b",client_ip="2.2.2.2"} 3\n'
    scrape(dd_run_check, aggregator, serve, text, runs=2)
    assert values(aggregator, REQUESTS) == [(3, ('model:b',))]


def test_an_openmetrics_body_without_eof_is_cut_and_its_last_family_dropped(dd_run_check, aggregator, serve):
    text = to_openmetrics(read_fixture('real', NEWEST, 'metrics.txt', mode='r'))
    assert text.endswith('# EOF\n')
    last_family = text[: -len('# EOF\n')].rsplit('# HELP ', 1)[1].split(' ', 1)[0]
    scraper = scrape(dd_run_check, aggregator, serve, text[: -len('# EOF\n')], OPENMETRICS_CONTENT_TYPE, runs=2)
    assert scraper.reader.cut == 'the OpenMetrics body ended without its `# EOF` line'
    assert scraper.reader.dropped > 0
    (health,) = aggregator.service_checks(HEALTH)
    assert health.status == ServiceCheck.WARNING and '# EOF' in health.message
    aggregator.assert_metric('litellm.scrape.truncated', value=1)
    complete = scrape(dd_run_check, aggregator, serve, text, OPENMETRICS_CONTENT_TYPE, runs=2)
    assert complete.reader.cut is None
    assert last_family  # the families before it are the same with and without the end
    aggregator.assert_service_check(HEALTH, ServiceCheck.OK)


def histogram(buckets, count=None):
    lines = [f'litellm_request_total_latency_metric_bucket{{model="a",le="{le}"}} {value}' for le, value in buckets]
    total = count if count is not None else buckets[-1][1]
    lines += [f'litellm_request_total_latency_metric_count{{model="a"}} {total}']
    lines += ['litellm_request_total_latency_metric_sum{model="a"} 1.5']
    return LATENCY + '\n'.join(lines) + '\n'


@pytest.mark.parametrize('fast_parser', [True, False])
@pytest.mark.parametrize('content_type', [None, OPENMETRICS_CONTENT_TYPE], ids=['text', 'openmetrics'])
@pytest.mark.parametrize(
    'buckets, problem',
    [
        ([('0.1', 1), ('1.0', 3)], 'no `+Inf` bucket'),
        ([('0.1', 4), ('1.0', 3), ('+Inf', 5)], 'less than a smaller bound'),
        ([('1.0', 3), ('0.1', 4), ('+Inf', 5)], 'less than a smaller bound'),
    ],
    ids=['no +Inf', 'decreasing', 'out of order and decreasing'],
)
def test_a_histogram_that_breaks_its_invariants_is_withheld(
    dd_run_check, aggregator, serve, buckets, problem, content_type, fast_parser
):
    text = histogram(buckets) + COUNTER + 'litellm_requests_metric_total{model="a"} 5\n'
    if content_type:
        if not fast_parser:
            pytest.skip("prometheus_client's OpenMetrics parser refuses the whole body")
        text = to_openmetrics(text)
    scraper = scrape(dd_run_check, aggregator, serve, text, content_type, runs=2, fast_parser=fast_parser)
    assert problem in scraper.broken[0] and 'model="a"' in scraper.broken[0]
    for suffix in ('bucket', 'count', 'sum'):
        assert not aggregator.metrics(f'litellm.request.total_latency.metric.{suffix}')
    assert values(aggregator, REQUESTS) == [(5, ('model:a',))]  # the rest is submitted
    (health,) = aggregator.service_checks(HEALTH)
    assert health.status == ServiceCheck.WARNING and 'litellm_request_total_latency_metric' in health.message


def test_a_valid_histogram_out_of_order_is_submitted(dd_run_check, aggregator, serve):
    text = histogram([('1.0', 3), ('0.1', 1), ('+Inf', 5)])
    scraper = scrape(dd_run_check, aggregator, serve, text, runs=2)
    assert scraper.broken == []
    aggregator.assert_metric('litellm.request.total_latency.metric.count', value=5)


def test_damage_amid_filtered_lines_costs_those_lines_only(dd_run_check, aggregator, serve):
    # A `_created` block the default raw line filters drop, one of its lines damaged past recognition.
    created = (
        '# HELP litellm_requests_metric_created Requests\n# TYPE litellm_requests_metric_created gauge\n'
        'litellm_requests_metric_created{model="a"} 1.7e9\n'
        '\x00\x00ated{model="a" 1.7e9\n'
        'litellm_requests_metric_created{model="b"} 1.7e9\n'
    )
    text = COUNTER + 'litellm_requests_metric_total{model="a"} 5\nlitellm_requests_metric_total{model="b"} 2\n'
    scraper = scrape(dd_run_check, aggregator, serve, text + created, runs=2)
    assert scraper.reader.skipped == 1 and scraper.reader.withheld == 0
    assert values(aggregator, REQUESTS) == [(2, ('model:b',)), (5, ('model:a',))]
