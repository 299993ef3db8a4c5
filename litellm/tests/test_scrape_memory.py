"""A scrape holds one parsed family at a time: the previous one is freed before the next is parsed."""

from datadog_checks.base.checks.openmetrics.v2.scraper import OpenMetricsScraper
from datadog_checks.litellm import LitellmCheck

from .common import NEWEST


def test_each_family_is_freed_before_the_next_is_parsed(dd_run_check, aggregator, serve_fixture, monkeypatch):
    parsed = []
    base_consume_metrics = OpenMetricsScraper.consume_metrics

    def recording(self, runtime_data):
        for metric in base_consume_metrics(self, runtime_data):
            # Every family handed out before this one has been submitted and must no longer hold its samples.
            assert all(not previous.samples for previous in parsed), parsed[-1].name
            parsed.append(metric)
            yield metric

    monkeypatch.setattr(OpenMetricsScraper, 'consume_metrics', recording)
    # The base library's parser (`fast_parser: false`); the strict reader holds no parsed family at all.
    dd_run_check(LitellmCheck('litellm', {}, [serve_fixture('real', NEWEST, 'metrics.txt', fast_parser=False)]))
    assert len(parsed) > 100
    assert not parsed[-1].samples
    # Freed only after submission: the request counter was submitted with its values.
    assert sum(m.value for m in aggregator.metrics('litellm.proxy.total_requests.metric.count')) > 0
