"""Real scrape sequences (tools/harness/sequences.py) walked run after run: what each process really counted, what
the Agent makes of raw values (the naive reading) and of what the check submits."""

import json
import lzma
import os
from collections import defaultdict

from prometheus_client.parser import text_string_to_metric_families

from datadog_checks.base.stubs import aggregator as stub
from datadog_checks.litellm.metrics import METRIC_MAP

from .common import FIXTURES

SEQUENCES = os.path.join(FIXTURES, 'sequences')
MONOTONIC = stub.METRIC_ENUM_MAP['monotonic_count']
FAMILIES = frozenset('litellm.' + (entry if isinstance(entry, str) else entry['name']) for entry in METRIC_MAP.values())


def sequence_files():
    """(version, scenario) of every committed sequence."""
    found = []
    for version in sorted(os.listdir(SEQUENCES)):
        for name in sorted(os.listdir(os.path.join(SEQUENCES, version))):
            if name.endswith('.json.xz'):
                found.append((version, name[: -len('.json.xz')]))
    return found


def load(version, scenario):
    with open(os.path.join(SEQUENCES, version, f'{scenario}.json.xz'), 'rb') as f:
        return json.loads(lzma.decompress(f.read()))


class MonotonicCount:
    """The Agent's monotonic count of one context (datadog-agent pkg/metrics), one sample and one flush a run."""

    def __init__(self):
        self.previous = None

    def flush(self, value, flush_first_value):
        previous, self.previous = self.previous, value
        if previous is None:
            return value if flush_first_value else 0.0
        if value >= previous:
            return value - previous
        return value if flush_first_value else 0.0


def family_totals(body):
    """{Datadog name: total over every series} of the counters and histograms of a body, read by prometheus_client
    (independent of the check); histogram buckets by their bound: {(name, bound): total}."""
    totals = defaultdict(float)
    for family in text_string_to_metric_families(body):
        if family.type not in ('counter', 'histogram') or family.name not in METRIC_MAP:
            continue
        name = 'litellm.' + _name(METRIC_MAP[family.name])
        for sample in family.samples:
            if sample.name.endswith('_created') or sample.labels.get('le') == '+Inf':
                continue  # the +Inf bucket is submitted as the histogram's count
            if family.type == 'counter':
                totals[name + '.count'] += sample.value
            elif sample.name.endswith('_bucket'):
                totals[(name + '.bucket', float(sample.labels['le']))] += sample.value
            else:
                totals[name + sample.name[len(family.name) :].replace('_', '.')] += sample.value
    return totals


def _name(entry):
    return entry if isinstance(entry, str) else entry['name']


def truth(runs, processes):
    """What the processes counted between the check's first and last scrape of each, family by family: a process
    met after the first run that started after the previous run counts whole. `processes[i]` names the process
    that answered run i, `started_after[i]` whether it started after run i-1."""
    first, last = {}, {}
    for i, run in enumerate(runs):
        process = processes[i]
        totals = family_totals(run['body'])
        if process not in first:
            first[process] = {} if (i and run.get('restarted')) else totals
        last[process] = totals
    counted = defaultdict(float)
    for process in last:
        for key in set(first[process]) | set(last[process]):
            counted[key] += last[process].get(key, 0.0) - first[process].get(key, 0.0)
    return counted


def naive(runs):
    """What the Agent counts from raw series values, each series its own context (the check before it kept totals)."""
    contexts = defaultdict(MonotonicCount)
    counted = defaultdict(float)
    for i, run in enumerate(runs):
        for family in text_string_to_metric_families(run['body']):
            if family.type not in ('counter', 'histogram') or family.name not in METRIC_MAP:
                continue
            totals = family_totals_of(family)
            for (key, series), value in totals.items():
                counted[key] += contexts[(key, series)].flush(value, i > 0)
    return counted


def family_totals_of(family):
    name = 'litellm.' + _name(METRIC_MAP[family.name])
    out = {}
    for sample in family.samples:
        if sample.name.endswith('_created') or sample.labels.get('le') == '+Inf':
            continue
        series = tuple(sorted((k, v) for k, v in sample.labels.items() if k != 'le'))
        if family.type == 'counter':
            key = name + '.count'
        elif sample.name.endswith('_bucket'):
            key = (name + '.bucket', float(sample.labels['le']))
        else:
            key = name + sample.name[len(family.name) :].replace('_', '.')
        out[(key, series)] = sample.value
    return out


class Agent:
    """The Agent's side of the check's monotonic counts, run after run; `counted` by family as family_totals."""

    def __init__(self):
        self.contexts = defaultdict(MonotonicCount)
        self.counted = defaultdict(float)

    def take(self, aggregator, names):
        """Flush a run's monotonic counts; how many were submitted."""
        taken = 0
        for name in names:
            if name.rsplit('.', 1)[0] not in FAMILIES:
                continue  # the bundled 2.x names, the same counts again
            for metric in aggregator.metrics(name):
                if metric.type != MONOTONIC:
                    continue
                context = (metric.name, tuple(sorted(metric.tags)), metric.hostname)
                delta = self.contexts[context].flush(metric.value, metric.flush_first_value)
                key = name
                if name.endswith('.bucket'):
                    bound = [t for t in metric.tags if t.startswith('upper_bound:')][0].split(':', 1)[1]
                    key = (name, float(bound))
                self.counted[key] += delta
                taken += 1
        return taken


def differences(expected, got, tolerance=1e-6):
    """{key: (expected, got)} where they differ."""
    return {
        key: (expected.get(key, 0.0), got.get(key, 0.0))
        for key in set(expected) | set(got)
        if abs(expected.get(key, 0.0) - got.get(key, 0.0)) > tolerance * max(1.0, abs(expected.get(key, 0.0)))
    }


def answering(runs):
    """Which process answered each run, independently of the check: the load balancer's record for replicas; else
    the start time and the `_created` values of the body (runs whose values agree on every series they share, with
    at least one shared, are one process); a run marked `restarted` starts a new one."""
    names, processes = [], []  # processes: (start, {series: created})
    for run in runs:
        if run.get('answered'):
            names.append(run['answered'])
            continue
        start, created = None, {}
        for line in run['body'].splitlines():
            if line.startswith('process_start_time_seconds '):
                start = float(line.split()[-1])
            elif not line.startswith('#') and '_created' in line.split('{')[0].split(' ')[0]:
                series, _, value = line.rpartition(' ')
                created[series] = float(value)
        found = None
        if not run.get('restarted'):
            for index, (known_start, known) in enumerate(processes):
                common = set(known) & set(created)
                if known_start == start and all(known[s] == created[s] for s in common) and (common or not created):
                    found = index
                    known.update(created)
                    break
        if found is None:
            processes.append((start, dict(created)))
            found = len(processes) - 1
        names.append(f'process-{found}')
    return names
