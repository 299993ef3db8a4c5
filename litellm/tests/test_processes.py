"""Scrapes that reach a different LiteLLM process each time (parsing/processes.py), on real sequences run after run:
the check's counts, as the Agent's monotonic count turns them into deltas, equal what the processes counted; where
processes cannot be told apart the health check says so and no count is made up; no control warns."""

import pytest

from datadog_checks.base.constants import ServiceCheck
from datadog_checks.litellm import LitellmCheck
from datadog_checks.litellm.parsing import families
from datadog_checks.litellm.parsing.processes import Ledger

from .http_server import Response
from .sequences import Agent, answering, differences, family_totals, load, naive, sequence_files, truth

HEALTH = 'litellm.openmetrics.health'
SEQUENCES = sequence_files()
# Scenarios whose scrapes reach several processes; the others are one process at a time (the controls).
SEVERAL = ('workers', 'replicas_round_robin', 'replicas_random')
# The family counts compared in the figures: requests, through the load balancer or not.
REQUESTS = 'litellm.proxy.total_requests.metric.count'


submitted = []  # per run of the last walk: how many counter and histogram samples the check submitted


class Clock:
    """time.time() of the reader, set to each run's capture time (process start times are the proxy's clock)."""

    def __init__(self):
        self.now = 0.0

    def time(self):
        return self.now


def walk(dd_run_check, aggregator, serve, monkeypatch, runs, **options):
    """Run one check instance over the sequence's bodies; (what the Agent counted, health statuses and messages)."""
    current = {}
    server = serve({'/metrics/': lambda handler: Response(current['body'])(handler)})
    clock = Clock()
    monkeypatch.setattr(families, 'time', clock)
    check = LitellmCheck('litellm', {}, [{'openmetrics_endpoint': f'{server.base_url}/metrics/', **options}])
    agent = Agent()
    health = []
    submitted.clear()
    for run in runs:
        current['body'] = run['body']
        clock.now = run['scraped_at']
        aggregator.reset()
        dd_run_check(check)
        submitted.append(agent.take(aggregator, aggregator.metric_names))
        checks = aggregator.service_checks(HEALTH)
        health.append((checks[-1].status, checks[-1].message))
    return agent.counted, health


def figures(counted):
    return counted.get(REQUESTS, 0.0)


@pytest.mark.parametrize('version, scenario', SEQUENCES, ids=[f'{v}-{s}' for v, s in SEQUENCES])
def test_counts_equal_what_the_processes_counted(dd_run_check, aggregator, serve, monkeypatch, version, scenario):
    data = load(version, scenario)
    runs = data['runs']
    processes = answering(runs)
    expected = truth(runs, processes)
    counted, health = walk(dd_run_check, aggregator, serve, monkeypatch, runs)

    assert not differences(expected, counted), differences(expected, counted)
    # No warning: every process here can be told apart (or it is only one).
    assert all(status == ServiceCheck.OK for status, _ in health), health
    if scenario.startswith('replicas'):
        assert len(set(processes)) > 1, processes  # the sequence did reach several processes
    if scenario in SEVERAL and len(set(processes)) > 1:
        # The naive reading (each raw value a sample of one context) is wrong there: the point of the exercise.
        assert differences(expected, naive(runs))
    if scenario == 'restart':
        # Counted higher after the restart than before it: the naive reading takes the new total for an increase.
        before, after = (family_totals(runs[i]['body'])[REQUESTS] for i in (len(runs) // 2 - 1, len(runs) // 2))
        assert after > before
        assert naive(runs)[REQUESTS] < expected[REQUESTS]


# Without their start time and `_created` values (dropped here by raw line filters; PROMETHEUS_DISABLE_CREATED_SERIES
# drops the latter at the source), the processes of these sequences share one identity.
NO_IDENTITY = [r'\A(?:# (?:HELP|TYPE) )?\w+_created[ {]', r'\A(?:# (?:HELP|TYPE) )?process_start_time_seconds[ {]']


@pytest.mark.parametrize('version, scenario', [s for s in SEQUENCES if s[1] in SEVERAL], ids=lambda v: str(v))
def test_processes_that_cannot_be_told_apart_warn_and_count_nothing(
    dd_run_check, aggregator, serve, monkeypatch, version, scenario
):
    runs = load(version, scenario)['runs']
    processes = answering(runs)
    _, health = walk(dd_run_check, aggregator, serve, monkeypatch, runs, raw_line_filters=NO_IDENTITY)
    statuses = [status for status, _ in health]
    returns = sum(a != b and a in processes[:i] for i, (a, b) in enumerate(zip(processes[1:], processes, strict=False)))
    if returns < 3:
        pytest.skip(f'{scenario} of {version}: the processes came back {returns} times only')
    assert ServiceCheck.WARNING in statuses, processes
    message = next(message for status, message in health if status == ServiceCheck.WARNING)
    assert 'cannot tell apart' in message and 'multiprocess' in message and 'each pod' in message
    # Once it warns, no count is made up: counters and histograms are not submitted while it lasts.
    warned = [i for i, status in enumerate(statuses) if status == ServiceCheck.WARNING]
    assert all(not submitted[i] for i in warned[1:]), (warned, submitted)


def scrape_ledger(ledger, tick, now, values, start=None, created=None, first_values_dropped=False):
    ledger.begin(tick, now, first_values_dropped)
    if start is not None:
        ledger.note_start(start)
    for series, value in (created or {}).items():
        ledger.note_created(series, value)
    ledger.resolve()
    totals = {key: ledger.count(key, value) for key, value in values.items()}
    ledger.end(complete=True)
    return totals


def test_a_multiprocess_proxy_restarted_counts_its_new_values():
    """No identity in the payload (a shared multiprocess directory): a fall is a restart, its new value is new."""
    ledger = Ledger()
    assert scrape_ledger(ledger, 1, 100.0, {'k': 10.0}, first_values_dropped=True) == {'k': 10.0}
    assert scrape_ledger(ledger, 2, 115.0, {'k': 12.0}) == {'k': 12.0}
    assert scrape_ledger(ledger, 3, 130.0, {'k': 3.0}) == {'k': 15.0}  # restarted: 3 new requests
    assert scrape_ledger(ledger, 4, 145.0, {'k': 5.0}) == {'k': 17.0}
    assert not ledger.mixed


def test_a_replica_started_after_the_previous_scrape_counts_whole_and_one_started_before_from_now_on():
    ledger = Ledger()
    scrape_ledger(ledger, 1, 100.0, {'k': 10.0}, start=50.0, first_values_dropped=True)
    # A replica up since 60 (before the previous scrape): its 7 are older than the check's view of it.
    assert scrape_ledger(ledger, 2, 115.0, {'k': 7.0}, start=60.0) == {'k': 10.0}
    # A replica started at 120, after the scrape at 115: all it counted is new.
    assert scrape_ledger(ledger, 3, 130.0, {"k": 4.0}, start=120.0) == {"k": 14.0}
    # Back to the first: 10 -> 13.
    assert scrape_ledger(ledger, 4, 145.0, {'k': 13.0}, start=50.0) == {'k': 17.0}
    # Workers sharing a start time, told apart by their series' creation times.
    scrape_ledger(ledger, 5, 160.0, {'w': 5.0}, start=70.0, created={'w': 71.0})
    assert scrape_ledger(ledger, 6, 175.0, {'w': 2.0}, start=70.0, created={'w': 72.5}) == {'w': 0.0}
    assert scrape_ledger(ledger, 7, 190.0, {'w': 6.0}, start=70.0, created={'w': 71.0}) == {'w': 1.0}
    assert scrape_ledger(ledger, 8, 205.0, {'w': 4.0}, start=70.0, created={'w': 72.5}) == {'w': 3.0}
    assert not ledger.mixed


def test_processes_sharing_one_identity_are_said_so_and_not_counted():
    ledger = Ledger()
    for tick, value in enumerate((10.0, 4.0, 11.0, 5.0, 12.0), start=1):
        scrape_ledger(ledger, tick, 100.0 + 15 * tick, {'k': value}, start=50.0, first_values_dropped=tick == 1)
    assert ledger.mixed
    assert scrape_ledger(ledger, 6, 200.0, {'k': 6.0}, start=50.0) == {'k': None}
