"""The scrape's fast path: lines grouped into families exactly as prometheus_client groups them, each series'
identity computed once and reused, samples of one tag set combined, submissions made directly.

Small named pieces, put together by `Reader`:
- `Plan`: what the check does with one kind of family (name, type, format): skip it, submit it here (FAST), or
  hand a parsed family to the base library's transformers (SLOW: types and options this module does not mirror).
- `Entry` / `Identity`: the series cache. The text before a sample's value (`name{labels}`) is looked up in its
  plan's cache; a miss parses it strictly once (exposition.py) and computes what the base library would do
  with it: the tag policy's labels (tags.py), the base's label renames and filters, the static tags, the
  submission method and name, the combine rule. Histogram bucket lines are series of their own here, so a
  scrape is a dict lookup per line.
- the accumulator: one dict per family from identity to value, combining series left with the same tags as
  `TagPolicy.apply` does; submitted when the family ends.

Every submission is the one the base library's path makes (names, types, values, tags, hostname,
`flush_first_value`); tests/test_parser.py compares both paths on every fixture and on generated payloads.
"""

import re

from prometheus_client.metrics_core import METRIC_TYPES, Metric
from prometheus_client.samples import Sample

from datadog_checks.base.checks.openmetrics.v2.labels import get_label_normalizer
from datadog_checks.base.checks.openmetrics.v2.transform import NATIVE_TRANSFORMERS, MetricTransformer
from datadog_checks.base.checks.openmetrics.v2.transformers import time_elapsed

from ..licence import UNLICENSED_FAMILY
from ..tags import NO_LIMIT
from . import exposition

DEFAULT_CACHE_SIZE = 100_000
VALUE_CACHE_SIZE = 20_000  # distinct value texts remembered (`1.0`, `0.0`, ...); cleared when full
SKIP, FAST, SLOW = 'skip', 'fast', 'slow'
GAUGE, MONOTONIC, ELAPSED = 'gauge', 'monotonic_count', 'time_elapsed'
# Transformer types submitted here; any other goes through the base library.
FAST_TRANSFORMERS = frozenset({'gauge', 'counter', 'histogram', 'time_elapsed'})
# Sample names a family of each type holds, as prometheus_client's parsers allow them.
TEXT_SUFFIXES = {
    'counter': ('',),
    'gauge': ('',),
    'summary': ('_count', '_sum', ''),
    'histogram': ('_count', '_sum', '_bucket'),
}
OM_SUFFIXES = {
    'counter': ('_total', '_created'),
    'summary': ('', '_count', '_sum', '_created'),
    'histogram': ('_count', '_sum', '_bucket', '_created'),
    'gaugehistogram': ('_gcount', '_gsum', '_bucket'),
    'info': ('_info',),
}
VALID_TYPES = frozenset(METRIC_TYPES) | {'untyped'}
_BLANK = ' \t\r\n\x0b\x0c'


def transformer_table(config):
    """{family name: (transformer type, Datadog name)} for the exact names of `metrics` and `extra_metrics`."""
    table = {}
    for raw_name, entry in MetricTransformer.normalize_metric_config(config).items():
        if re.escape(raw_name) == raw_name:  # as the base tells names from patterns
            table[raw_name] = (entry.get('type', 'native'), entry.get('name', raw_name))
    return table


class Identity:
    """What one combined tag set of a family becomes: its submission and what combining needs."""

    __slots__ = ('method', 'name', 'tags', 'counts', 'nolimit', 'reduce', 'key')

    def __init__(self, method, name, tags, counts, nolimit, reduce, key):
        self.method = method  # GAUGE, MONOTONIC, ELAPSED or None (counted in scrape.series, not submitted)
        self.name = name
        self.tags = tags
        self.counts = counts  # counted in `scrape.series` (every sample but the +Inf bucket)
        self.nolimit = nolimit  # LiteLLM's "no limit" value is dropped, as the tag policy drops it
        self.reduce = reduce
        self.key = key  # (sample name, labels kept by the tag policy but `le`, `le`): what TagPolicy combines by

    def kept(self):
        """(sample name, labels kept by the tag policy) of this tag set."""
        sample, base, bound = self.key
        labels = dict(zip(base[::2], base[1::2], strict=True))
        if bound is not None:
            labels['le'] = bound
        return sample, labels


class Entry:
    """One series line's cached reading: its identity (None when the policy or a filter drops it)."""

    __slots__ = ('ident', 'seen')

    def __init__(self, ident, seen):
        self.ident = ident
        self.seen = seen


class Plan:
    """What the check does with the families of one (format, name, type)."""

    __slots__ = ('name', 'typ', 'metric_name', 'munge', 'allowed', 'mode', 'kind', 'dd_name', 'cache', 'idents')

    def __init__(self, name, typ, metric_name, munge, allowed, mode, kind=None, dd_name=None):
        self.name = name
        self.typ = typ
        self.metric_name = metric_name  # the family's name after prometheus_client's counter `_total` rule
        self.munge = munge  # suffix prometheus_client adds to a text counter's sample names
        self.allowed = allowed
        self.mode = mode
        self.kind = kind  # transformer type (native types resolved)
        self.dd_name = dd_name
        self.cache = {} if mode is FAST else None  # series text -> Entry
        self.idents = {}  # Identity.key -> Identity: series left with the same tags share one


class Family:
    """The family being read: its samples so far and what was withheld from it."""

    __slots__ = ('name', 'typ', 'allowed', 'plan', 'acc', 'samples', 'taints', 'suspended', 'interrupters')

    def __init__(self, name, typ, allowed):
        self.name = name
        self.typ = typ  # None until a TYPE line (OpenMetrics: `unknown` then)
        self.allowed = allowed
        self.plan = None  # decided at the first sample, or at the end of a family without samples
        self.acc = None
        self.samples = None
        self.taints = []  # (sample name or None, labels) of lines that could not be read
        self.suspended = False  # a sample of another family came in (an untyped one, or a broken name)
        self.interrupters = []


class Reader:
    """Reads the scrape's lines for one scraper. With `fast`, families it can submit are submitted as they end
    and the others are yielded as prometheus_client Metrics; without, every family is yielded (for the options
    the fast path does not mirror: the base library's own pipeline then runs on them)."""

    def __init__(self, scraper, fast, cache_size=DEFAULT_CACHE_SIZE):
        self.scraper = scraper
        self.fast = fast
        self.cache_size = cache_size
        self.table = transformer_table(scraper.config)
        self.native_types = {}  # family name -> type the base's `native` transformer was first built with
        self.plans = {}
        self.entries = 0
        self.values = {}
        self.shared = {}  # label names, values, tags and label sets the cache holds: one copy of each
        self.tick = 0
        self.static_tags = None
        self.inserted = 0
        self.skipped = 0
        self.first_skipped = None
        self.withheld = 0
        self.read_ok = 0
        self.ready = []
        self.family = self.unit = None

    # ---------------------------------------------------------------------------------------------- a scrape
    def read(self, lines, runtime_data=None, line_number=lambda: 0):
        """Yield the families not submitted here; submit the others. `line_number()` numbers the line just
        read (for the log)."""
        self._begin(runtime_data, line_number)
        scraper = self.scraper
        search = scraper.raw_line_filter.search if scraper.raw_line_filter is not None else None
        ignored = scraper.submit_telemetry_number_of_ignored_lines if scraper.enable_telemetry else None
        ready = self.ready
        values = self.values
        tick = self.tick
        cache = acc = skipping = None
        for line in lines:
            if search is not None and search(line):
                if ignored is not None:
                    ignored()
                continue
            if cache is not None:
                # The hot path: a series of the family being read, seen before.
                close = line.rfind('}')
                if close > 0:
                    entry = cache.get(line[: close + 1])
                    if entry is not None:
                        rest = line[close + 1 :]
                        value = values.get(rest)
                        if value is None:
                            value = self._value(rest)
                        if value is not None:
                            entry.seen = tick
                            ident = entry.ident
                            if ident is not None and value - value == 0 and (value != NO_LIMIT or not ident.nolimit):
                                previous = acc.get(ident)
                                acc[ident] = value if previous is None else ident.reduce(previous, value)
                            continue
            elif skipping is not None:
                # A family the check does not submit: only its samples' names are read, to find where it ends.
                brace = line.find('{')
                if brace > 0:
                    if line[:brace] in skipping:
                        continue
                else:
                    space = line.find(' ')
                    if space > 0 and line[:space] in skipping:
                        continue
            self._line(line)
            cache, acc, skipping = self.cache, self.acc, self.skipping
            if ready:
                yield from ready
                ready.clear()
        self._end()
        if ready:
            yield from ready
            ready.clear()

    def _begin(self, runtime_data, line_number):
        self.runtime_data = runtime_data
        self.line_number = line_number
        self.openmetrics = None  # decided at the first line, when the response's Content-Type is known
        self.tick += 1
        self.inserted = 0
        self.skipped = 0
        self.first_skipped = None
        self.withheld = 0
        self.read_ok = 0
        self.family = self.unit = None
        self.cache = self.acc = None
        self.skipping = None
        self.eof = False
        self.ready.clear()
        if self.scraper.tags is not self.static_tags:
            # The identities hold the scraper's tags: built anew when they change.
            self.clear()
            self.static_tags = self.scraper.tags

    def _end(self):
        self._close_family()
        if self.inserted or self.entries > self.cache_size:
            self._sweep()

    def clear(self):
        self.plans.clear()
        self.entries = 0
        self.shared.clear()

    def _sweep(self):
        """Forget the series not seen in this scrape or the one before (LiteLLM drops idle series), so the
        cache holds about the live series whatever their churn."""
        keep_from = self.tick - 1
        entries = 0
        for plan in self.plans.values():
            if plan.cache is None:
                continue
            stale = [key for key, entry in plan.cache.items() if entry.seen < keep_from]
            for key in stale:
                del plan.cache[key]
            if stale:
                live = {id(entry.ident) for entry in plan.cache.values()}
                plan.idents = {k: i for k, i in plan.idents.items() if id(i) in live}
            entries += len(plan.cache)
        self.entries = entries
        if len(self.shared) > 4 * self.cache_size + 1000:
            self.shared.clear()  # only sharing is lost

    # ----------------------------------------------------------------------------------------------- a line
    def _line(self, line):
        if self.openmetrics is None:
            self.openmetrics = self.scraper.openmetrics_format()
        if not line or line[0] in _BLANK or line[-1] in _BLANK:
            line = line.strip()
            if not line:
                return  # a blank line (OpenMetrics has none; they cost nothing either way)
        if self.eof:
            self._skip(line, 'a line after `# EOF`')
            return
        if line[0] == '#':
            self._comment(line)
        elif len(line) > exposition.MAX_LINE_LENGTH:
            self._skip(line, f'longer than {exposition.MAX_LINE_LENGTH} characters', taint=False)
        else:
            self._sample(line)

    def _value(self, rest):
        try:
            value = exposition.parse_value(rest)
        except exposition.Malformed:
            return None
        if ' ' not in rest.strip():
            if len(self.values) >= VALUE_CACHE_SIZE:
                self.values.clear()
            self.values[rest] = value
        return value

    def _comment(self, line):
        openmetrics = self.openmetrics
        if openmetrics and line == '# EOF':
            self._close_family()  # and no more hot path: a line after it is skipped
            self.eof = True
            return
        parts = exposition.split_comment(line, openmetrics)
        keyword = parts[1] if len(parts) > 1 else ''
        if keyword not in ('HELP', 'TYPE') and not (openmetrics and keyword == 'UNIT'):
            return  # any other comment
        if len(parts) < 3 or (keyword == 'TYPE' and len(parts) < 4):
            self._skip(line, f'a {keyword} line without a metric name or type', taint=False)
            return
        try:
            name = exposition.comment_name(parts[2])
        except exposition.Exotic:
            name = self._exotic_name(line, parts[2])
            if name is None:
                return
        except exposition.Malformed as e:
            self._skip(line, str(e), taint=False)
            return
        self.read_ok += 1
        family = self.family
        if self.unit is not None or family is None or name != family.name or family.suspended:
            # A new family (prometheus_client: any HELP/TYPE/UNIT of another name; after a sample of another
            # family, of any name).
            self._close_family()
            family = self.family = Family(name, None, frozenset((name,)))
            if not openmetrics:
                family.typ = 'untyped'
        if keyword != 'TYPE':
            return
        typ = parts[3]
        if family.plan is not None:
            # The type is fixed by the first sample: a later TYPE line contradicts it.
            self._skip(line, 'a TYPE line after the samples of its family', taint=False)
            return
        if typ not in VALID_TYPES or (typ == 'untyped' and openmetrics):
            self._skip(line, f'unknown metric type {typ!r}', taint=False)
            typ = 'unknown' if openmetrics else 'untyped'
        family.typ = typ
        suffixes = (OM_SUFFIXES if openmetrics else TEXT_SUFFIXES).get(typ, ('',))
        family.allowed = frozenset(name + suffix for suffix in suffixes)

    def _exotic_name(self, line, token):
        """A quoted (UTF-8) name in a HELP/TYPE line, read by prometheus_client (>= 0.22) if it can."""
        try:
            from prometheus_client.parser import _unquote_unescape

            name, _ = _unquote_unescape(token)
        except Exception:
            name = None
        if not name:
            self._skip(line, 'a quoted metric name this prometheus_client cannot read', taint=False)
            return None
        return name

    # --------------------------------------------------------------------------------------------- a sample
    def _sample(self, line):
        key, rest = exposition.split_sample(line)
        try:
            value = exposition.parse_value(rest)
            name, labels = exposition.parse_series(key, self.share)
        except exposition.Exotic:
            self._exotic_sample(line, 'a syntax this check does not read')
            return
        except exposition.Malformed as e:
            if self.openmetrics and ' # ' in line:
                self._exotic_sample(line, str(e))  # an exemplar
            else:
                self._skip(line, str(e))
            return
        self._add(name, labels, value, key, line)

    def _exotic_sample(self, line, reason):
        """A line in a syntax the strict reader does not read (quoted names, exemplars): prometheus_client's own
        sample parser reads it, or it is skipped."""
        try:
            line.encode('utf-8')
            if self.openmetrics:
                from prometheus_client.openmetrics import parser
            else:
                from prometheus_client import parser
            sample = parser._parse_sample(line)
            value = sample.value
            if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError('no value (a native histogram?)')
            if not isinstance(sample.labels, dict) or not sample.name:
                raise ValueError('no labels')
        except Exception:
            self._skip(line, reason)
            return
        self._add(sample.name, dict(sample.labels), value, None, line)

    def _add(self, name, labels, value, key, line):
        """Give one read sample to its family, following prometheus_client's grouping."""
        unit = self.unit
        if unit is not None:
            if name in unit.allowed:
                self._accept(unit, name, labels, value, key, line)
                if self.family is not None and unit.plan.mode is SKIP:
                    self.family.interrupters.append((self.line_number(), line, labels))
                return
            self._close(unit)
            self.unit = None
        family = self.family
        if family is not None and name in family.allowed:
            if family.suspended:
                self._resume(family)
            self._accept(family, name, labels, value, key, line)
            return
        # A sample of no declared family: prometheus_client makes it a family of its own, untyped (text format:
        # of this one sample; OpenMetrics: with the samples of the same name that follow).
        if family is not None:
            family.suspended = True  # ended for prometheus_client; resumed here if its samples come back
        typ = 'unknown' if self.openmetrics else 'untyped'
        unit = Family(name, typ, frozenset((name,)))
        self._accept(unit, name, labels, value, key, line)
        if family is not None and unit.plan.mode is SKIP:
            family.interrupters.append((self.line_number(), line, labels))
        if self.openmetrics:
            self.unit = unit
        else:
            self._close(unit)
        self.cache = self.acc = self.skipping = None

    def _resume(self, family):
        """Samples of a family came back after samples of another name: prometheus_client would lose them as
        untyped families of their own; here they rejoin their family, and the lines that interrupted it (broken
        names, most likely) are withheld from it like unreadable lines."""
        family.suspended = False
        for line_number, line, labels in family.interrupters:
            self._count_skip(line_number, line, 'a sample of another name inside this family')
            family.taints.append((None, labels))
        family.interrupters = []

    def _accept(self, family, name, labels, value, key, line):
        self.read_ok += 1
        plan = family.plan or self._plan(family)
        mode = plan.mode
        if mode is SKIP:
            if family is self.family and not family.suspended and self.unit is None:
                self.skipping = family.allowed
            return
        sample = name + plan.munge
        if mode is SLOW:
            problem = _unreadable_bound(plan.typ, sample, labels)
            if problem:
                self._skip(line, problem)
                return
            family.samples.append(Sample(sample, labels, value))
            return
        entry = plan.cache.get(key) if key is not None else None
        if entry is None:
            try:
                ident = self._identity(plan, sample, labels)
            except exposition.Malformed as e:
                self._skip(line, str(e))
                return
            entry = Entry(ident, self.tick)
            if key is not None and self.entries < self.cache_size:
                plan.cache[key] = entry
                self.entries += 1
                self.inserted += 1
        entry.seen = self.tick
        ident = entry.ident
        if ident is not None and value - value == 0 and (value != NO_LIMIT or not ident.nolimit):
            acc = family.acc
            previous = acc.get(ident)
            acc[ident] = value if previous is None else ident.reduce(previous, value)
        if family is self.family and not family.suspended and self.unit is None:
            self.cache, self.acc = plan.cache, family.acc

    # ------------------------------------------------------------------------------------------- a family
    def _plan(self, family):
        typ = family.typ or 'unknown'
        key = (self.openmetrics, family.name, typ, family.allowed)
        plan = self.plans.get(key)
        if plan is None:
            if len(self.plans) > 10_000:
                self.clear()  # family names do not churn; if they ever do, memory stays bounded
            plan = self.plans[key] = self._new_plan(family.name, typ, family.allowed)
        family.plan = plan
        if plan.mode is FAST:
            family.acc = {}
        elif plan.mode is SLOW:
            family.samples = []
        return plan

    def _new_plan(self, name, typ, allowed):
        metric_name, munge = name, ''
        if typ == 'counter' and not self.openmetrics:
            # prometheus_client's text parser names a counter family without `_total` and its samples with it.
            if name.endswith('_total'):
                metric_name = name[:-6]
            else:
                munge = '_total'
        plan_args = (name, typ, metric_name, munge, allowed)
        if not self.fast:
            return Plan(*plan_args, SLOW)
        scraper = self.scraper
        if metric_name in scraper.exclude_metrics or (
            scraper.exclude_metrics_pattern is not None and scraper.exclude_metrics_pattern.search(metric_name)
        ):
            return Plan(*plan_args, SKIP)
        entry = self.table.get(metric_name)
        if entry is None:
            # Not in the rename table: a wildcard of `metrics` may still match, which the base library resolves.
            return Plan(*plan_args, SLOW if scraper.metric_transformer.metric_patterns else SKIP)
        kind, dd_name = entry
        if kind == 'native':
            if typ not in NATIVE_TRANSFORMERS:
                return Plan(*plan_args, SKIP)  # as the base skips untyped families and types it does not know
            kind = self._native_type(metric_name, typ)
        return Plan(*plan_args, FAST if kind in FAST_TRANSFORMERS else SLOW, kind, dd_name)

    def _native_type(self, metric_name, typ):
        """The base's `native` transformer keeps the type it first saw a family with; so does this path. The
        base's own transformer is built with it too, so that families read by the base library agree."""
        known = self.native_types.get(metric_name)
        if known is None:
            known = self.native_types[metric_name] = typ
            transformer = self.scraper.metric_transformer.transformer_data[metric_name][1]
            transformer(Metric(metric_name, '', typ), iter(()), self.runtime_data)
        return known

    def saw_native(self, metric):
        """Called before the base library transforms a family: its `native` transformer is built with this type
        if it is the first."""
        entry = self.table.get(metric.name)
        if entry is not None and entry[0] == 'native' and metric.type in NATIVE_TRANSFORMERS:
            self.native_types.setdefault(metric.name, metric.type)

    def _identity(self, plan, sample, labels):
        """What the base library does with one sample of this family: TagPolicy.apply, then
        generate_sample_data's tags, then the transformer. None when nothing is submitted or counted."""
        scraper = self.scraper
        policy = scraper.tag_policy
        if policy.exclude_samples and policy.excluded(labels):
            return None
        kept = policy.labels(labels)
        # The series' labels without its bucket bound, shared by its bucket, count and sum lines.
        base = self.share(tuple(item for pair in sorted(kept.items()) if pair[0] != 'le' for item in pair))
        combine_key = (sample, base, kept.get('le'))
        ident = plan.idents.get(combine_key)
        if ident is not None:
            return ident
        labels = dict(kept)
        try:
            get_label_normalizer(plan.typ)(labels)
        except ValueError:
            raise exposition.Malformed('a bucket bound or quantile that is not a number') from None
        if plan.typ == 'histogram' and sample.endswith('_bucket') and 'upper_bound' not in labels:
            raise exposition.Malformed('a histogram bucket without its `le` bound')
        tags = []
        excluders = scraper.exclude_metrics_by_labels
        rename = scraper.rename_labels
        share = self.share
        for label, value in labels.items():
            excluder = excluders.get(label)
            if excluder is not None and excluder(value):
                return None
            if label in scraper.exclude_labels or (scraper.include_labels and label not in scraper.include_labels):
                continue
            tags.append(share(f'{rename.get(label, label)}:{value}'))
        tags.extend(scraper.tags)
        counts = not labels.get('upper_bound', '').endswith('inf')
        method, name = self._submission(plan, sample, labels)
        if method is None and not counts:
            return None
        ident = plan.idents[combine_key] = Identity(
            method,
            name,
            tuple(tags),
            counts,
            not policy.submits(plan.typ, NO_LIMIT),
            policy.combiner(plan.metric_name, plan.typ, sample),
            combine_key,
        )
        return ident

    def _submission(self, plan, sample, labels):
        """(method, name) of the base transformer for this sample, as the transformers decide it."""
        kind, name, share = plan.kind, plan.dd_name, self.share
        if kind == 'gauge':
            return GAUGE, name
        if kind == 'counter':
            return MONOTONIC, share(f'{name}.count')
        if kind == 'time_elapsed':
            return ELAPSED, name
        # histogram
        if sample.endswith('_sum'):
            return MONOTONIC, share(f'{name}.sum')
        if sample.endswith('_count'):
            return MONOTONIC, share(f'{name}.count')
        if sample.endswith('_bucket') and self.scraper.metric_transformer.collect_histogram_buckets:
            bound = labels.get('upper_bound')
            if bound is not None and not bound.endswith('inf'):
                return MONOTONIC, share(f'{name}.bucket')
        return None, None

    def share(self, value):
        """The one copy of `value` the cache keeps."""
        return self.shared.setdefault(value, value)

    def _close_family(self):
        if self.unit is not None:
            self._close(self.unit)
            self.unit = None
        if self.family is not None:
            self._close(self.family)
            self.family = None
        self.cache = self.acc = self.skipping = None

    def _close(self, family):
        plan = family.plan or self._plan(family)
        if plan.mode is SKIP:
            return
        if plan.mode is SLOW:
            metric = Metric(plan.metric_name, '', plan.typ if plan.typ in METRIC_TYPES else 'unknown')
            metric.samples = family.samples
            metric.withheld = family.taints  # applied after the tag policy (LitellmScraper.policy_applied)
            self.ready.append(metric)
            return
        scraper = self.scraper
        if plan.metric_name == UNLICENSED_FAMILY:
            scraper.unlicensed = True
        acc = family.acc
        if family.taints:
            self.withhold(family.taints, acc, Identity.kept)
        flush_first_value = self.runtime_data['flush_first_value']
        gauge, monotonic_count = scraper.check.gauge, scraper.check.monotonic_count
        series = 0
        for ident, value in acc.items():
            series += ident.counts
            method = ident.method
            if method is MONOTONIC:
                monotonic_count(ident.name, value, tags=ident.tags, hostname='', flush_first_value=flush_first_value)
            elif method is GAUGE:
                gauge(ident.name, value, tags=ident.tags, hostname='')
            elif method is ELAPSED:
                # The base's clock, read as its time_elapsed transformer reads it.
                gauge(ident.name, time_elapsed.get_timestamp() - value, tags=ident.tags, hostname='')
        scraper.series += series

    def withhold(self, taints, combined, describe):
        """Drop from `combined` (a dict or list) every tag set an unreadable line could have contributed to: its
        sample name (if known) and the labels read before the problem match. A combined count missing a series
        would drop, which the Agent takes for a reset, then jump back: one scrape without it loses nothing."""
        policy = self.scraper.tag_policy
        conditions = [(name, policy.labels(labels).items()) for name, labels in taints]

        def hit(item):
            sample, kept = describe(item)
            return any(
                (name is None or name == sample) and all(kept.get(k) == v for k, v in constraint)
                for name, constraint in conditions
            )

        if isinstance(combined, dict):
            doomed = [key for key in combined if hit(key)]
            for key in doomed:
                del combined[key]
        else:
            doomed = [item for item in combined if hit(item)]
            combined[:] = [item for item in combined if not hit(item)]
        self.withheld += len(doomed)

    # ----------------------------------------------------------------------------------------- bad lines
    def _skip(self, line, reason, taint=True):
        """A line that cannot be read: counted, logged, and withheld from its family's combined tag sets."""
        line_number = self.line_number()
        self._count_skip(line_number, line, reason)
        if not taint:
            return
        name, labels = exposition.lenient_head(line)
        for family in (self.unit, self.family):
            if family is not None and (name is None or name in family.allowed):
                break
        else:
            return  # not a line of the family being read
        family.taints.append((name + _munge(family, self.openmetrics) if name is not None else None, labels))

    def _count_skip(self, line_number, line, reason):
        self.skipped += 1
        shown = self.scraper.loggable(line)
        if self.first_skipped is None:
            self.first_skipped = (line_number, reason, shown)
        self.scraper.log.debug('Skipped line %s of the LiteLLM metrics (%s): %s', line_number, reason, shown)


def _unreadable_bound(typ, sample, labels):
    """What the base library's label normalizer would fail on in a family it transforms, or ''."""
    label = 'le' if typ == 'histogram' else 'quantile' if typ == 'summary' else None
    if label is None:
        return ''
    if label in labels:
        try:
            exposition.number(labels[label])
        except exposition.Malformed:
            return f'a `{label}` that is not a number'
    elif typ == 'histogram' and sample.endswith('_bucket'):
        return 'a histogram bucket without its `le` bound'
    return ''


def excerpt(line, limit=200):
    """A line fit for a log: cut, and with undecodable bytes shown as escapes."""
    text = line if len(line) <= limit else line[:limit] + '...'
    return text.encode('utf-8', 'backslashreplace').decode('utf-8')


def _munge(family, openmetrics):
    """The suffix prometheus_client's text parser adds to the sample names of a counter typed without `_total`."""
    if family.plan is not None:
        return family.plan.munge
    return '_total' if not openmetrics and family.typ == 'counter' and not family.name.endswith('_total') else ''
