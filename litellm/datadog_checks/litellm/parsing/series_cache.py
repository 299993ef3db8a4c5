"""What each series becomes, remembered across runs: the tag step of a scrape, done once per series.

A sample line's series text (`name{labels}`, everything before its value) is looked up by its hash in the plan
of its family. A miss reads the labels strictly, applies the tag policy (tags.py) and asks the base library's own
`generate_sample_data` what it makes of that one sample: its tags, hostname and normalised labels. The answer is
kept as an `Identity`, the sample the base transformers will be handed each run with its tags. Series the policy
leaves with the same tags share one identity (their values are combined); each later one is a `Joiner`.

A first run meets every series at once (a 3,000-key proxy: 640,000 lines), so a miss does no more than it must:
the buckets, count and sum of a histogram series, read one after the other, share its labels, tag policy and
budget fate (`last_fate`: only the bound differs), and series folded by the tag budget ask the base once per
folded tag set and bound (`Plan.folded_sets`), not once per series.

Memory: a remembered series costs its hash slot and one small object, and an identity its tags and labels,
built by the base and held as they are; histogram buckets of one series share their label and tag strings.
Series not seen for two runs are forgotten, and at most `series_cache_size` are held at once.
"""

from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from . import exposition

# Enough for a proxy with 3,000 keys and more (a real 3,000-key scrape holds about 450,000 series, the bench's
# grown one 640,000), within about 250 MB; a series past it is still read and submitted, only not remembered.
DEFAULT_CACHE_SIZE = 1_000_000
SKIP, CACHED, PLAIN = 'skip', 'cached', 'plain'
# Transformer types that read a sample's value and name only, and of its labels the bucket bound or quantile:
# a cached sample carries just those (shared by every series with the same bound). Families of any other type
# (`metadata`, custom transformers) are handed over with all their labels.
BOUND_ONLY_TRANSFORMERS = frozenset(
    {'counter', 'gauge', 'histogram', 'summary', 'rate', 'counter_gauge', 'monotonic_gauge', 'time_elapsed', 'native'}
)
BOUND_LABELS = ('upper_bound', 'quantile')
# A run's memory budget: what the series and strings it meets for the first time may hold, about (measured: an
# identity 250 bytes with its cache entry, a series joining one 140, a string its length plus 90, and 150 a
# series while its family is read: the family's indexes). Past it the run stops as a cut body; the next run goes
# on from what the cache kept, so a cache larger than one run's budget fills over a few runs. It bounds what a
# hostile body of new series costs a run (one 60 MB family of new series: about 80 MB of RSS), and holds a 3,000-key
# proxy's first run with the default tag budget (640,000 series: about 100 MiB); without a tag budget that run
# would hold about 160 MiB, and the cache fills in two runs.
RUN_MEMORY = 128 * 1024 * 1024
IDENTITY_COST, JOINER_COST, STRING_COST, READING_COST = 250, 140, 90, 150
INF = float('inf')
MISSING = object()


class Bound:
    """What a sample's bound or quantile gives it, shared by every series with the same one: the labels the
    transformers read, a bucket's bound tag (kept apart from its series' tags) and its bound as a number."""

    __slots__ = ('labels', 'tag', 'le', 'counts')

    def __init__(self, labels, tag, le):
        self.labels = labels
        self.tag = tag
        self.le = le
        self.counts = le != INF  # counted in `scrape.series`: every sample but the +Inf bucket


class Identity:
    """One combined tag set of a family: the sample handed to the base transformers, with its tags."""

    __slots__ = ('seen', 'sent', 'name', 'tags', 'bound', 'hostname', 'reduce', 'series', 'key')

    def __init__(self, name, tags, bound, hostname, reduce):
        self.series = None  # a histogram's line: its series (labels but `le`), shared by its buckets
        self.seen = 0  # the run that last read this series: a second reading in one run is a repeated line
        self.sent = 0  # the run that last handed it over: a family declared twice must not give it two values
        self.name = name
        self.tags = tags  # shared by the samples of one series (a bucket's bound tag is in `bound`)
        self.bound = bound
        self.hostname = hostname
        self.reduce = reduce
        self.key = hash((name, tags, bound.tag, hostname))  # the submission, stable when the series is met anew

    @property
    def ident(self):
        """A cache entry's identity, as for a Joiner."""
        return self


class Joiner:
    """A series whose tags are those of an identity read before it: its value is combined into that one."""

    __slots__ = ('ident', 'seen', 'series')

    def __init__(self, ident):
        self.ident = ident
        self.seen = 0
        self.series = None


class Folded(Joiner):
    """A series over the tag budget: its value is combined into its folded tag set's identity (tags.TagBudget)."""

    __slots__ = ()


class Plan:
    """What the reader does with the families of one (format, name, type): skip them (the base would not submit
    them), read them into cached identities, or hand their samples over as they are (PLAIN)."""

    __slots__ = (
        'name',
        'typ',
        'metric_name',
        'munge',
        'allowed',
        'mode',
        'nolimit',
        'cache',
        'idents',
        'counted',
        'created',
        'joined',
        'folds',
        'folded_sets',
    )

    def __init__(self, name, typ, metric_name, munge, allowed, mode, nolimit=False):
        self.name = name
        self.typ = typ
        self.metric_name = metric_name  # the family's name after prometheus_client's counter `_total` rule
        self.munge = munge  # the suffix prometheus_client's text parser adds to a counter's sample names
        self.allowed = allowed
        self.mode = mode
        self.nolimit = nolimit  # LiteLLM's "no limit" value is dropped from this family, as the tag policy does
        self.cache = {} if mode is CACHED else None  # hash of the series text -> Identity or Joiner
        self.idents = None  # (name, tags, bound, hostname) -> Identity, while a run meets new series
        self.counted = False  # counters and histograms: totals kept per process (processes.py)
        self.created = False  # creation times of a counter's or histogram's series (text format)
        self.joined = False  # the tag policy gave two series of this family one tag set
        self.folds = False  # the cache holds series folded by the tag budget
        self.folded_sets = None  # (sample, folded tag set, bound) -> identity, while the family is read


class SeriesCache:
    """The plans of one scraper and the identities they remember."""

    def __init__(self, scraper, cache_size=DEFAULT_CACHE_SIZE):
        self.scraper = scraper
        self.cache_size = cache_size
        self.plans = {}
        self.entries = 0
        self.inserted = 0
        self.strings = {}  # one copy of each label name, value and tag the cache holds
        self.bounds = {}  # one Bound of each
        self.tag_sets = {}  # one copy of each tuple of tags: the buckets, count and sum of a series share one
        self.static_tags = None
        # The series read last: (plan, series text short of the bound, labels after the budget but the bound, its
        # folded tag set or None), and (plan, series text, shared pairs). A histogram series' lines repeat them.
        self.last_fate = (None, None, None, None)
        self.last_shared = (None, None, None)

    def begin(self, tick):
        self.tick = tick
        self.inserted = 0
        self.unremembered = {}  # family -> folded series read this run that the cache did not keep
        self.cost = 0  # what the series and strings met for the first time in this run hold, about, in bytes
        self.reading = 0  # of which the indexes of the family being read, given back when it ends
        for plan in self.plans.values():
            plan.idents = plan.folded_sets = None  # a family the last run stopped in was not released
        if self.scraper.tags is not self.static_tags:
            # Every identity holds the scraper's tags: built anew when they change.
            self.clear()
            self.static_tags = self.scraper.tags

    def clear(self):
        self.plans.clear()
        self.entries = 0
        self.strings.clear()
        self.bounds.clear()
        self.tag_sets.clear()

    def intern(self, value):
        shared = self.strings.get(value)
        if shared is None:
            shared = self.strings[value] = value
            self.cost += len(value) + STRING_COST
        return shared

    def share(self, plan, text, labels):
        """One copy of a histogram series' (label, value) pairs (`series_pairs`) for the cache entries of all its
        buckets, count and sum (read one after the other: one series text, `text`, short of the bound)."""
        last = self.last_shared
        if text is not None and last[0] is plan and last[1] == text:
            return last[2]
        series = series_pairs(labels)
        shared = self.tag_sets.get(series)
        if shared is None:
            intern = self.intern
            shared = tuple((intern(name), intern(value)) for name, value in series)
            self.tag_sets[shared] = shared
            self.cost += 56 + 64 * len(series)  # the tuple and its pairs (their strings are counted by `intern`)
        self.last_shared = (plan, text, shared)
        return shared

    def plan(self, key, new_plan):
        plan = self.plans.get(key)
        if plan is None:
            if len(self.plans) > 10_000:
                self.clear()  # family names do not churn; if they ever do, memory stays bounded
            plan = self.plans[key] = new_plan()
        return plan

    def remember(self, plan, key, entry):
        """Keep a series read for the first time (while the cache has room); False once what this run met for the
        first time would hold more than RUN_MEMORY."""
        self.cost += (JOINER_COST if isinstance(entry, Joiner) else IDENTITY_COST) + READING_COST
        self.reading += READING_COST
        if key is not None and self.entries < self.cache_size:
            plan.cache[key] = entry
            self.entries += 1
            self.inserted += 1
            if entry.__class__ is Folded:
                plan.folds = True
        elif entry.__class__ is Folded and entry.ident.bound.counts:
            self.unremembered[plan.metric_name] = self.unremembered.get(plan.metric_name, 0) + 1
        return self.cost <= RUN_MEMORY

    def identity(self, plan, sample, labels, text=None):
        """The identity of one series of a CACHED family, or None when the base library would not submit it.
        `text` is its series text short of the bound (exposition.series_text), if known. Raises
        exposition.Malformed for a sample the base's label normaliser cannot read."""
        policy = self.scraper.tag_policy
        if policy.exclude_samples and policy.excluded(labels):
            return None
        budget = policy.budget
        last = self.last_fate
        bound = labels.get('le')
        if text is not None and last[0] is plan and last[1] == text:
            # The next bucket, count or sum of the series read last: its fate is known.
            _, _, tag_labels, folded = last
            if bound is not None and budget is not None:
                budget.note_bound(plan.metric_name, bound)
        else:
            labels = policy.labels(labels)
            folded = None
            if budget is not None:
                # The series' fate, decided once: kept by the budget's own tables, not by this cache.
                labels, folded = budget.fate(plan.metric_name, labels)
            tag_labels = {name: value for name, value in labels.items() if name != 'le'}
            if folded:
                folded = tuple(tag_labels.items())  # the folded tag set, but the bound
            if text is not None:
                self.last_fate = (plan, text, tag_labels, folded)
        if folded:
            # Many series fold into one tag set: the base is asked once per tag set and bound while the family is
            # read, not once per series.
            if plan.folded_sets is None:
                plan.folded_sets = {}
            memo = (sample, folded, bound)
            ident = plan.folded_sets.get(memo, MISSING)
            if ident is MISSING:
                entry = self._identity(plan, sample, _with_bound(tag_labels, bound))
                ident = plan.folded_sets[memo] = entry and entry.ident
            else:
                plan.joined = plan.joined or ident is not None
            return None if ident is None else Folded(ident)
        return self._identity(plan, sample, _with_bound(tag_labels, bound))

    def _identity(self, plan, sample, labels):
        """The identity of a series by its labels after the tag policy and the budget."""
        scraper = self.scraper
        probe = Metric(plan.metric_name, '', plan.typ)
        probe.samples = [Sample(sample, labels, 0)]
        try:
            given = next(iter(scraper.tag_step(probe)), None)
        except ValueError:
            raise exposition.Malformed('a bucket bound or quantile that is not a number') from None
        if given is None:
            return None  # excluded by one of the base's label filters
        normalised, tags, hostname = given
        if plan.typ == 'histogram' and sample.endswith('_bucket') and 'upper_bound' not in normalised.labels:
            raise exposition.Malformed('a histogram bucket without its `le` bound')
        intern = self.intern
        labels = normalised.labels
        tags = [intern(tag) for tag in tags]
        bound = None
        if 'upper_bound' in labels:
            bound = f'{scraper.rename_labels.get("upper_bound", "upper_bound")}:{labels["upper_bound"]}'
            if bound in tags:
                tags.remove(bound)
                bound = intern(bound)
            else:
                bound = None
        tags = tuple(tags)
        tags = self.tag_sets.setdefault(tags, tags)
        # Series left with the same submission (name, tags, hostname) are one identity: their values combine.
        key = (intern(sample), tags, bound, hostname)
        ident = self.idents(plan).get(key)
        if ident is not None:
            plan.joined = True
            return Joiner(ident)
        bounds = tuple((name, labels[name]) for name in BOUND_LABELS if name in labels)
        shared = self.bounds.get((bounds, bound))
        if shared is None:
            le = float(labels['upper_bound']) if bound is not None else None
            shared = self.bounds[(bounds, bound)] = Bound(dict(bounds), bound, le)
        ident = plan.idents[key] = Identity(
            key[0], tags, shared, hostname, scraper.tag_policy.combiner(plan.metric_name, plan.typ, sample)
        )
        return ident

    def idents(self, plan):
        """The identities of a plan by submission, built when its family meets a new series and dropped when the
        family ends (`release`): the cache itself holds only series texts and identities."""
        if plan.idents is None:
            plan.idents = {}
            for entry in plan.cache.values():
                ident = entry.ident
                # Not one handed over already in this run: a family declared again gets its own (Reader._close).
                if ident is not None and ident.sent != self.tick:
                    plan.idents[(ident.name, ident.tags, ident.bound.tag, ident.hostname)] = ident
        return plan.idents

    def release(self, plan):
        plan.idents = plan.folded_sets = None
        self.cost -= self.reading
        self.reading = 0

    def folded(self, tick):
        """{family: series folded by the tag budget in this run} (every sample but a +Inf bucket)."""
        folded = dict(self.unremembered)
        for plan in self.plans.values():
            if plan.folds:
                count = sum(
                    1
                    for entry in plan.cache.values()
                    if entry.seen == tick and entry.__class__ is Folded and entry.ident.bound.counts
                )
                if count:
                    folded[plan.metric_name] = folded.get(plan.metric_name, 0) + count
        return folded

    def sweep(self, tick):
        """Forget the series not read in this run or the one before (LiteLLM drops idle series), so the cache
        holds about the live series whatever their churn."""
        if not self.inserted and self.entries <= self.cache_size:
            return
        keep_from = tick - 1
        entries = 0
        for plan in self.plans.values():
            if plan.cache is None:
                continue
            stale = [key for key, entry in plan.cache.items() if entry.seen < keep_from]
            for key in stale:
                del plan.cache[key]
            entries += len(plan.cache)
        self.entries = entries
        # Strings and tag tuples of forgotten series are dropped with the tables once they outnumber the live
        # ones: only the sharing of what is cached next is lost.
        if len(self.strings) > 2 * entries + 10_000:
            self.strings.clear()
        if len(self.tag_sets) > 2 * entries + 1000:
            self.tag_sets.clear()


def _with_bound(labels, bound):
    """Labels but the bound, and the bound (the base reads it as `le`)."""
    if bound is None:
        return labels
    labels = dict(labels)
    labels['le'] = bound
    return labels


def series_pairs(labels):
    """A histogram series as read: its labels but the bound, whatever their order."""
    return tuple(sorted((name, value) for name, value in labels.items() if name != 'le'))
