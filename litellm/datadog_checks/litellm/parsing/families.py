"""The scrape's parser, plugged in where the base library expects one (`parse_metric_families`): lines grouped
into families exactly as prometheus_client groups them, read strictly so that a malformed line costs that line
and not the scrape.

Families of the rename table are read into the series cache (series_cache.py): a line already seen is one hash
lookup and one number, the values of series left with the same tags are combined as they are read, and the
family is handed over as a `TaggedFamily`, one sample per tag set with the tags the base library gave it. The
base's own pipeline then runs on it (exclusions, the transformers, which submit); `LitellmScraper.
generate_sample_data` hands back the cached tags instead of building them again. Families the cache does not
take (options listed in `base_path_options`) are handed over as `PlainFamily`, samples as read.

One value per tag set per run: a series line read twice in one family is skipped as a repeated line, and a tag
set already handed over in this run (a family declared twice) is not handed over again. A family the body
stopped in (a cut body, an OpenMetrics body without `# EOF`) is not handed over at all: combined values would be
short, and a histogram missing buckets inconsistent.
"""

import logging
import time

from prometheus_client.metrics_core import METRIC_TYPES, Metric
from prometheus_client.samples import Sample

from ..tags import NO_LIMIT
from . import exposition
from .processes import START_TIME, Ledger
from .series_cache import (
    BOUND_ONLY_TRANSFORMERS,
    CACHED,
    PLAIN,
    RUN_MEMORY,
    SKIP,
    Joiner,
    Plan,
    SeriesCache,
    series_pairs,
)

INF = float('inf')
NO_INF = 'no `+Inf` bucket'
# A Sample built as a plain tuple (its optional fields empty): a namedtuple's own constructor costs twice as much.
SAMPLE_TAIL = (None,) * (len(Sample._fields) - 3)
_new = tuple.__new__
VALUE_CACHE_SIZE = 20_000  # distinct value texts remembered (`1.0`, `0.0`, ...); cleared when full
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
MONOTONIC_TYPES = frozenset({'counter', 'histogram'})  # submitted as monotonic counts, every sample
_BLANK = ' \t\r\n\x0b\x0c'
# Stands for lines the raw line filters dropped (`LitellmScraper.filter_connection_lines`): a damaged line
# amid them belonged to them, not to the family read before.
FILTERED = '\x00filtered'


class TaggedFamily(Metric):
    """A family read into the series cache: `sample_data` holds what `generate_sample_data` yields for it."""

    def __init__(self, name, typ, sample_data, series):
        super().__init__(name, '', typ)
        self.sample_data = sample_data
        self.series = series  # counted in `scrape.series`

    @property
    def samples(self):
        # Built when something reads them (the base's first-scrape handler): the transformers read `sample_data`.
        return [data[0] for data in self.sample_data]

    @samples.setter
    def samples(self, samples):
        # Emptied by Metric.__init__ and once submitted; samples replaced one for one keep their tags.
        tagged = {id(sample): (tags, hostname) for sample, tags, hostname in getattr(self, 'sample_data', ())}
        if any(id(sample) not in tagged for sample in samples):
            raise TypeError(f'samples of {self.name} replaced by samples the series cache did not tag')
        self.sample_data = [(sample, *tagged[id(sample)]) for sample in samples]


class PlainFamily(Metric):
    """A family handed over as read; `withheld` lists the (sample name, labels) of its unreadable lines."""

    def __init__(self, name, typ, samples, withheld):
        super().__init__(name, '', typ)
        self.samples = samples
        self.withheld = withheld


class Family:
    """The family being read: its samples so far and what was withheld from it."""

    __slots__ = (
        'name',
        'typ',
        'allowed',
        'plan',
        'acc',
        'samples',
        'taints',
        'suspended',
        'interrupters',
        'members',
        'member_values',
    )

    def __init__(self, name, typ, allowed):
        self.name = name
        self.typ = typ  # None until a TYPE line (OpenMetrics: `unknown` then)
        self.allowed = allowed
        self.plan = None  # decided at the first sample, or at the end of a family without samples
        self.acc = None
        self.samples = None  # PLAIN: the samples; their series texts are in `acc`, to find repeated lines
        self.taints = []  # (sample name or None, labels) of lines that could not be read
        self.suspended = False  # a sample of another family came in (an untyped one, or a broken name)
        self.interrupters = []
        # CACHED histograms whose series may share tag sets: the cache entry of each sample read, and its value (two
        # flat lists: a tuple per line would be a garbage-collected object per line, a full collection the sooner)
        self.members = self.member_values = None


class Reader:
    """Reads the scrape's lines for one scraper. With `cached`, families go through the series cache;
    without, every family is handed over as read (the base library then tags it)."""

    def __init__(self, scraper, cached, cache_size):
        self.scraper = scraper
        self.cached = cached
        self.series = SeriesCache(scraper, cache_size)
        self.ledger = Ledger()  # which process answered, and the totals submitted for counters and histograms
        self.pending = []  # counter and histogram families read before the answering process is known
        self.values = {}
        self.tick = 0
        self.skipped = 0
        self.first_skipped = None
        self.withheld = 0
        self.read_ok = 0
        self.cut = None  # why the last family was not handed over, for a body that did not end as it must
        self.dropped = 0
        self.ready = []
        self.family = self.unit = None
        self.last_series = (None, None)  # (labels text less the bound, labels but `le`) of the last series parsed

    # ---------------------------------------------------------------------------------------------- a scrape
    def read(self, lines):
        """Yield the families of `lines` (the base's `parse_metric_families`)."""
        self._begin()
        ready = self.ready
        values = self.values
        tick = self.tick
        cache = acc = skipping = members = member_values = None
        nolimit = False
        for line in lines:
            if cache is not None:
                # The hot path: a series of the family being read, seen before.
                close = line.rfind('}')
                if close > 0:
                    entry = cache.get(hash(line[: close + 1]))
                    if entry is not None and entry.seen != tick:
                        rest = line[close + 1 :]
                        value = values.get(rest)
                        if value is None:
                            value = self._value(rest)
                        if value is not None:
                            entry.seen = tick
                            ident = entry.ident
                            if ident is not None and value - value == 0 and (value != NO_LIMIT or not nolimit):
                                previous = acc.get(ident)
                                acc[ident] = value if previous is None else ident.reduce(previous, value)
                                if members is not None:
                                    members.append(entry)
                                    member_values.append(value)
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
            if self.over_budget:
                break  # the rest of the body is not read: the run's memory stays bounded
            cache, acc, skipping = self.cache, self.acc, self.skipping
            if cache is not None:
                nolimit = self.family.plan.nolimit
                members, member_values = self.family.members, self.family.member_values
            if ready:
                yield from ready
                ready.clear()
        self._end()
        if ready:
            yield from ready
            ready.clear()

    def _begin(self):
        self.openmetrics = None  # decided at the first line, when the response's Content-Type is known
        self.tick += 1
        self.skipped = 0
        self.first_skipped = None
        self.withheld = 0
        self.read_ok = 0
        self.cut = None
        self.cut_kind = None
        self.dropped = 0
        self.family = self.unit = None
        self.family_start = 0
        self.cache = self.acc = None
        self.skipping = None
        self.eof = False
        self.filtered_before = -1
        self.over_budget = False
        self.debug = self.scraper.log.isEnabledFor(logging.DEBUG)
        self.ready.clear()
        self.series.begin(self.tick)
        # The base submits counters' first values from its second run on, unless the last run failed.
        self.ledger.begin(self.tick, time.time(), not getattr(self.scraper, 'flush_first_value', False))
        self.pending = []

    def _end(self):
        cut, self.cut_kind = self.scraper.body_cut()
        if self.over_budget:
            cut = f'the series it holds would take more than {RUN_MEMORY // 2**20} MiB of memory in one run'
            self.cut_kind = 'series'
        elif cut is None and self.openmetrics and not self.eof and self.read_ok:
            cut = 'the OpenMetrics body ended without its `# EOF` line'
            self.cut_kind = 'connection'
        if cut is not None:
            self.cut = cut
            if (self.family is not None or self.unit is not None) and (
                self.over_budget or not self.scraper.stopped_between_families()
            ):
                # The family the body stopped in may miss series: not handed over.
                self.dropped = max(self.scraper.line_number() - self.family_start + 1, 1)
                self.family = self.unit = None
        self._close_family()
        self._resolve()
        self.ledger.end(complete=cut is None and not self.withheld)
        self.series.sweep(self.tick)
        self.scraper.refuse_unreadable_body(self)

    # ----------------------------------------------------------------------------------------------- a line
    def _line(self, line):
        if line is FILTERED:
            self.filtered_before = self.scraper.line_number()  # the number of the line after them
            return
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
            name = self._exotic_name(line)
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
            self.family_start = self.scraper.line_number()
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

    def _exotic_name(self, line):
        """A quoted (UTF-8) name in a HELP/TYPE line, read by prometheus_client's own parser if it can."""
        family = next(iter(self._library_parse(line, typed=False)), None)
        if family is None or not family.name:
            self._skip(line, 'a quoted metric name this prometheus_client cannot read', taint=False)
            return None
        return family.name

    def _library_parse(self, line, typed=True):
        """prometheus_client's public parser on one line (for the syntax the strict reader leaves to it), under
        the TYPE of the family being read (exemplars are only valid in some types); [] when it cannot read it."""
        family = self.unit or self.family
        header = f'# TYPE {family.name} {family.typ}\n' if typed and family is not None and family.typ else ''
        try:
            line.encode('utf-8')
            if self.openmetrics:
                from prometheus_client.openmetrics.parser import text_string_to_metric_families

                return list(text_string_to_metric_families(header + line + '\n# EOF\n'))
            from prometheus_client.parser import text_string_to_metric_families

            return list(text_string_to_metric_families(header + line + '\n'))
        except Exception:
            return []

    # --------------------------------------------------------------------------------------------- a sample
    def _sample(self, line):
        key, rest = exposition.split_sample(line)
        try:
            value = exposition.parse_value(rest)
            name, labels, text = exposition.parse_series(key, self.last_series)
        except exposition.Exotic:
            self._exotic_sample(line, 'a syntax this check does not read')
            return
        except exposition.Malformed as e:
            if self.openmetrics and ' # ' in line:
                self._exotic_sample(line, str(e))  # an exemplar
            else:
                self._skip(line, str(e))
            return
        if text is not None and text != self.last_series[0]:
            self.last_series = (text, {label: v for label, v in labels.items() if label != 'le'})
        self._add(name, labels, value, key, line, text)

    def _exotic_sample(self, line, reason):
        """A line in a syntax the strict reader does not read (quoted names, exemplars): prometheus_client's own
        parser reads it, or it is skipped."""
        samples = [sample for family in self._library_parse(line) for sample in family.samples]
        if len(samples) != 1:
            samples = [sample for family in self._library_parse(line, typed=False) for sample in family.samples]
        if len(samples) != 1:
            self._skip(line, reason)
            return
        sample = samples[0]
        value = sample.value
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) or not sample.name:
            self._skip(line, reason)
            return
        self._add(sample.name, dict(sample.labels), value, None, line)

    def _add(self, name, labels, value, key, line, text=None):
        """Give one read sample to its family, following prometheus_client's grouping."""
        unit = self.unit
        if unit is not None:
            if name in unit.allowed:
                self._accept(unit, name, labels, value, key, line, text)
                if self.family is not None and unit.plan.mode is SKIP:
                    self.family.interrupters.append((self.scraper.line_number(), line, labels))
                return
            self._close(unit)
            self.unit = None
        family = self.family
        if family is not None and name in family.allowed:
            if family.suspended:
                self._resume(family)
            self._accept(family, name, labels, value, key, line, text)
            return
        # A sample of no declared family: prometheus_client makes it a family of its own, untyped (text format:
        # of this one sample; OpenMetrics: with the samples of the same name that follow).
        if family is not None:
            family.suspended = True  # ended for prometheus_client; resumed here if its samples come back
        else:
            self.family_start = self.scraper.line_number()
        typ = 'unknown' if self.openmetrics else 'untyped'
        unit = Family(name, typ, frozenset((name,)))
        self._accept(unit, name, labels, value, key, line, text)
        if family is not None and unit.plan.mode is SKIP:
            family.interrupters.append((self.scraper.line_number(), line, labels))
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

    def _accept(self, family, name, labels, value, key, line, text=None):
        """One read sample into its family; `text` is its labels text less the bound (exposition.series_text)."""
        if name == START_TIME and not labels:
            self.ledger.note_start(value)  # prometheus_client's, one unlabelled sample
        elif self.openmetrics and name.endswith('_created') and family.typ in MONOTONIC_TYPES:
            # OpenMetrics: a series' creation time, a sample of its family; never submitted
            self.read_ok += 1
            if not self.ledger.resolved:
                self.ledger.note_created(key or name, value)
            return
        plan = family.plan or self._plan(family)
        mode = plan.mode
        if mode is SKIP:
            self.read_ok += 1
            if plan.created and not self.ledger.resolved:
                self.ledger.note_created(key or name, value)  # its values tell which process answered
            elif family is self.family and not family.suspended and self.unit is None:
                self.skipping = family.allowed
            return
        sample = name + plan.munge
        if mode is PLAIN:
            problem = _unreadable_bound(plan.typ, sample, labels)
            if problem:
                self._skip(line, problem)
                return
            series = key if key is not None else (sample, tuple(sorted(labels.items())))
            if series in family.acc:
                self._skip(line, 'a repeated series (its first value is kept)', taint=False)
                return
            self.read_ok += 1
            family.acc[series] = None
            family.samples.append(Sample(sample, labels, value))
            return
        entry = plan.cache.get(hash(key)) if key is not None else None
        if entry is None:
            try:
                ident = self.series.identity(plan, sample, labels, text)
            except exposition.Malformed as e:
                self._skip(line, str(e))
                return
            entry = ident if ident is not None else Joiner(None)  # None: a series the base does not submit
            if plan.typ == 'histogram':
                entry.series = self.series.share(plan, text, labels)
            if not self.series.remember(plan, hash(key) if key is not None else None, entry):
                self.over_budget = True
                return
        elif entry.seen == self.tick:
            self._skip(line, 'a repeated series (its first value is kept)', taint=False)
            return
        self.read_ok += 1
        entry.seen = self.tick
        ident = entry.ident
        if ident is not None and value - value == 0 and (value != NO_LIMIT or not plan.nolimit):
            acc = family.acc
            previous = acc.get(ident)
            acc[ident] = value if previous is None else ident.reduce(previous, value)
            if family.members is not None:
                family.members.append(entry)
                family.member_values.append(value)
        if family is self.family and not family.suspended and self.unit is None:
            self.cache, self.acc = plan.cache, family.acc

    # ------------------------------------------------------------------------------------------- a family
    def _plan(self, family):
        typ = family.typ or 'unknown'
        key = (self.openmetrics, family.name, typ, family.allowed)
        plan = family.plan = self.series.plan(key, lambda: self._new_plan(family.name, typ, family.allowed))
        family.acc = {}
        if plan.mode is PLAIN:
            family.samples = []
        elif plan.mode is CACHED and plan.typ == 'histogram' and (plan.joined or not plan.cache):
            # Its series may share tag sets (the tag policy joined two before, or this is its first reading): each
            # series is checked as read, by the series its cache entry remembers.
            family.members, family.member_values = [], []
        return plan

    def _new_plan(self, name, typ, allowed):
        metric_name, munge = name, ''
        if typ == 'counter' and not self.openmetrics:
            # prometheus_client's text parser names a counter family without `_total` and its samples with it.
            if name.endswith('_total'):
                metric_name = name[:-6]
            else:
                munge = '_total'
        plan_args = (name, typ if typ in METRIC_TYPES else 'unknown', metric_name, munge, allowed)
        if not self.cached:
            return Plan(*plan_args, PLAIN)
        kind = self.scraper.transforms(Metric(metric_name, '', plan_args[1]))
        if kind is None:
            plan = Plan(*plan_args, SKIP)
            # Text format: a counter's or histogram's creation times are a gauge family of their own.
            plan.created = not self.openmetrics and name.endswith('_created') and typ == 'gauge'
            return plan
        if kind not in BOUND_ONLY_TRANSFORMERS:
            return Plan(*plan_args, PLAIN)
        nolimit = not self.scraper.tag_policy.submits(plan_args[1], NO_LIMIT)
        plan = Plan(*plan_args, CACHED, nolimit)
        plan.counted = kind in MONOTONIC_TYPES and typ == kind  # submitted as monotonic counts: the ledger's
        return plan

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
            if plan.created and self.ledger.created and not self.ledger.resolved:
                self._resolve()  # the first creation times read tell which process answered
            return
        if plan.counted and not self.ledger.resolved:
            if self.ledger.created or not self.ledger.expects_created or len(self.pending) >= 2:
                self._resolve()
            else:
                # Its creation times come next (text format): handed over once the process is known.
                self.pending.append(family)
                return
        if plan.mode is PLAIN:
            # A histogram's series are checked by the scraper, as for the base library's parser.
            self.ready.append(PlainFamily(plan.metric_name, plan.typ, family.samples, family.taints))
            return
        self.series.release(plan)
        acc = family.acc
        if family.taints:
            self.withhold(family.taints, acc, self._kept)
        histogram = plan.typ == 'histogram'
        ledger = self.ledger if plan.counted else None
        suspect = False  # a series whose buckets do not rise in order, or end without `+Inf`, as read
        last_tags = last_le = last_value = None
        tick = self.tick
        sample_data = []
        idents = [] if histogram else None  # the identity of each sample, to withhold a broken series
        series = 0
        for ident, value in acc.items():
            if value - value != 0:
                continue  # combined values past the largest float: not a number to submit
            if ident.sent == tick:
                self.withheld += 1  # handed over already in this run, by the same family declared before
                continue
            ident.sent = tick
            submitted = value
            if ledger is not None:
                submitted = ledger.count(ident.key, value)
                if submitted is None:
                    continue  # processes that cannot be told apart: no count to submit
            bound = ident.bound
            if histogram:
                idents.append(ident)
                if bound.le is not None:
                    # The buckets of a series are read one after the other: checked in passing, grouped if not.
                    if ident.tags is last_tags:
                        suspect = suspect or bound.le <= last_le or value < last_value
                    else:
                        suspect = suspect or (last_tags is not None and last_le != INF)
                        last_tags = ident.tags
                    last_le, last_value = bound.le, value
            tags = ident.tags if bound.tag is None else ident.tags + (bound.tag,)
            sample_data.append(
                (_new(Sample, (ident.name, bound.labels, submitted) + SAMPLE_TAIL), tags, ident.hostname)
            )
            series += bound.counts
        if histogram and (plan.joined or suspect or (last_tags is not None and last_le != INF)):
            doomed = self._broken_series(plan, family, suspect or (last_tags is not None and last_le != INF))
            if doomed:
                kept = [(data, ident) for data, ident in zip(sample_data, idents, strict=True)]
                kept = [(data, ident) for data, ident in kept if _tag_set(ident) not in doomed]
                sample_data = [data for data, _ in kept]
                series = sum(ident.bound.counts for _, ident in kept)
        self.ready.append(TaggedFamily(plan.metric_name, plan.typ, sample_data, series))

    def _resolve(self):
        """The answering process is known (or all that tells it has been read): the families waiting for it are
        handed over."""
        if not self.ledger.resolved:
            self.ledger.resolve()
        pending, self.pending = self.pending, []
        for family in pending:
            self._close(family)

    def _broken_series(self, plan, family, suspect):
        """The tag sets of a cached histogram whose buckets cannot be trusted, named to the scraper. Series the
        tag policy joins are checked as read (`members`): a broken one costs the tag set it joins."""
        members = family.members
        if plan.joined and members is not None:
            values = family.member_values
            problems = histogram_problems(
                lambda: ((entry.series, entry.ident.bound.le, v) for entry, v in zip(members, values, strict=True))
            )
            doomed = {_tag_set(entry.ident) for entry in members if entry.series in problems}
            named = by_tag_set(problems, self.scraper.tag_policy)
        elif suspect:
            problems = histogram_problems(
                lambda: ((_tag_set(ident), ident.bound.le, v) for ident, v in family.acc.items())
            )
            doomed = set(problems)
            static = set(self.scraper.tags)
            named = {
                tuple(t.partition(':')[::2] for t in key[0] if t not in static): why for key, why in problems.items()
            }
        else:
            return None
        for labels, problem in named.items():
            self.scraper.broken_series(plan.metric_name, labels, problem)
        return doomed

    def withhold(self, taints, combined, describe):
        """Drop from `combined` (a dict or list) every tag set an unreadable line could have contributed to: its
        sample name (if known) and the labels read before the problem match. A combined count missing a series
        would drop, which the Agent takes for a reset, then jump back: one scrape without it loses nothing."""
        policy = self.scraper.tag_policy
        conditions = [(name, policy.labels(labels).items()) for name, labels in taints]

        def hit(item):
            sample, kept = describe(item)
            return any(
                (name is None or name == sample) and all(_same_label(kept.get(k), v, k) for k, v in constraint)
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

    def _kept(self, ident):
        """(sample name, labels after the tag policy) of a cached identity, read back from its tags: the first
        tag of each name (static tags come after), renamed back to the label's name, `le` for the bound."""
        names = {tag: label for label, tag in self.scraper.rename_labels.items()}
        labels = {}
        for tag in ident.tags if ident.bound.tag is None else ident.tags + (ident.bound.tag,):
            name, _, value = tag.partition(':')
            labels.setdefault(names.get(name, name), value)
        if 'upper_bound' in ident.bound.labels:
            labels['le'] = ident.bound.labels['upper_bound']
        return ident.name, labels

    # ----------------------------------------------------------------------------------------- bad lines
    def _skip(self, line, reason, taint=True):
        """A line that cannot be read: counted, logged, and withheld from its family's combined tag sets."""
        line_number = self.scraper.line_number()
        self._count_skip(line_number, line, reason)
        if not taint or self.filtered_before == line_number:
            return  # a line amid those the raw line filters dropped is not one of the family read before
        name, labels = exposition.lenient_head(line)
        for family in (self.unit, self.family):
            if family is not None and (name is None or name in family.allowed):
                break
        else:
            return  # not a line of the family being read
        family.taints.append((name + _munge(family, self.openmetrics) if name is not None else None, labels))

    def _count_skip(self, line_number, line, reason):
        self.skipped += 1
        first = self.first_skipped is None
        if first or self.debug:
            shown = self.scraper.loggable(line)  # only when shown: a flood of bad lines stays cheap
            if first:
                self.first_skipped = (line_number, reason, shown)
            if self.debug:
                self.scraper.log.debug('Skipped line %s of the LiteLLM metrics (%s): %s', line_number, reason, shown)


def histogram_problems(buckets):
    """{series: why its buckets break the format's invariants} for the broken series of a histogram. `buckets()`
    yields (series, bound, value) in exposition order, bound None for a count or sum; the buckets of each series
    must rise with their bound and end with `+Inf`. A first pass follows the order; only if it fails are the
    buckets grouped by series and sorted."""
    # The buckets of a series come one after the other: each series is looked up once, when the next one begins.
    problems = {}
    ended = set()
    series = last_bound = last_value = None
    ordered = True
    for key, bound, value in buckets():
        if bound is None:
            continue
        if key is series or key == series:
            if bound <= last_bound or value < last_value:
                ordered = False
                break
        else:
            if series is not None:
                ended.add(series)
                if last_bound != INF:
                    problems[series] = NO_INF
            if key in ended:
                ordered = False  # its buckets are not together: grouped below
                break
            series = key
        last_bound, last_value = bound, value
    if ordered:
        if series is not None and last_bound != INF:
            problems[series] = NO_INF
        return problems
    groups = {}
    for key, bound, value in buckets():
        if bound is not None:
            groups.setdefault(key, []).append((bound, value))
    problems = {}
    for key, values in groups.items():
        values.sort()
        if values[-1][0] != INF:
            problems[key] = NO_INF
        elif any(b[1] < a[1] or b[0] == a[0] for a, b in zip(values, values[1:], strict=False)):
            problems[key] = 'a bucket counting less than a smaller bound, or a bound repeated'
    return problems


def broken_plain_series(samples, policy):
    """(samples to submit, {tag set: problem}) of a histogram handed over as read (the base library's parser or a
    PlainFamily). A series is its labels but `le`, in any order; one that breaks the invariants costs the tag set
    the tag policy gives it, with every series joining that tag set (their sum could not be trusted)."""
    problems = by_tag_set(histogram_problems(lambda: _plain_buckets(samples, policy)), policy)
    if not problems:
        return samples, problems
    return [sample for sample in samples if _policy_tag_set(policy, sample.labels) not in problems], problems


def by_tag_set(problems, policy):
    """{tag set as (label, value) pairs: problem} of broken series: named by what becomes their tags, never by a
    label the policy drops (client addresses, e-mails) or an unhashed key."""
    named = {}
    for series, problem in problems.items():
        named.setdefault(_policy_tag_set(policy, dict(series)), problem)
    return named


def _plain_buckets(samples, policy):
    for sample in samples:
        if not policy.submits('histogram', sample.value) or (policy.exclude_samples and policy.excluded(sample.labels)):
            continue  # not submitted: as in the series cache, it takes no part
        bound = sample.labels.get('le') if sample.name.endswith('_bucket') else None
        if bound is not None:
            try:
                bound = exposition.number(bound)
            except exposition.Malformed:
                continue  # the base cannot read it either
        yield series_pairs(sample.labels), bound, sample.value


def _policy_tag_set(policy, labels):
    return series_pairs(policy.labels(labels))


def _tag_set(ident):
    """The tag set a cached identity is submitted with (its bound apart), whatever the order of its tags."""
    return tuple(sorted(ident.tags)), ident.hostname


def _same_label(kept, taint, name):
    if name != 'le' or kept is None or kept == taint:
        return kept == taint
    try:
        return float(kept) == float(taint)  # the base rewrites bounds canonically (`1` as `1.0`)
    except ValueError:
        return False


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


def _munge(family, openmetrics):
    """The suffix prometheus_client's text parser adds to the sample names of a counter typed without `_total`."""
    if family.plan is not None:
        return family.plan.munge
    return '_total' if not openmetrics and family.typ == 'counter' and not family.name.endswith('_total') else ''
