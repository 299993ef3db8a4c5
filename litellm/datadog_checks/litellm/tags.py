"""Which LiteLLM labels become Datadog tags, and how series left with the same tags are combined.

Small named pieces, put together by `TagPolicy`. `LitellmScraper` applies it to each parsed family before the
transformers run (`TagPolicy.apply`); a parser that caches series identities can call `TagPolicy.labels` and
`TagPolicy.combiner` directly, once per series.

Why combine: dropping a label that told two series apart leaves two samples with the same tags. The base
check would submit both, and the Agent would read the pair as a reset and an increase of the same counter on
every run, inflating counts. Summing cumulative counters gives a cumulative counter again, as long as the
series summed stay the same: when one disappears (LiteLLM's `prometheus_metrics_ttl_seconds` removes idle
series), the sum drops once, which the Agent's monotonic count takes for a reset (no negative spike; the
increase of that run is lost).
"""

import hashlib
import operator
import re
from math import isfinite

from datadog_checks.base.config import is_affirmative
from datadog_checks.base.errors import ConfigurationError
from datadog_checks.base.utils.tagging import GENERIC_TAGS

from .routes import route_value

# Client addresses, user agents and e-mail addresses: personal data, and a new series for every caller.
PERSONAL_LABELS = frozenset({'client_ip', 'user_agent', 'user_email'})
# Multi-worker proxies (`--num_workers` with PROMETHEUS_MULTIPROC_DIR) give most gauges one series per worker
# process, labelled with its pid: a new context at every worker restart.
WORKER_LABELS = frozenset({'pid'})
DROPPED_LABELS = PERSONAL_LABELS | WORKER_LABELS

# How LiteLLM renders a missing value: prometheus_client writes Python's None as "None"; some fields are "".
EMPTY_VALUES = frozenset({'None', ''})

# Labels never dropped: without them histogram buckets and summary quantiles of one series would be combined.
STRUCTURAL_LABELS = frozenset({'le', 'quantile'})
# The same labels as the base names them when it builds tags (`le` becomes `upper_bound`).
BOUND_TAGS = frozenset({'upper_bound', 'lower_bound', 'quantile'})

# Tag names Datadog reserves or treats as generic (the base library's list): a LiteLLM label with such a name
# (for example a custom metadata label `env`) would override the host's or the service's own tag.
RESERVED_TAGS = frozenset({'host', 'device', 'source', 'service', 'env', 'version'}) | frozenset(GENERIC_TAGS)
RENAME_PREFIX = 'litellm_'
GENERIC_RENAMES = {name: RENAME_PREFIX + name for name in sorted(RESERVED_TAGS)}

# `sys.maxsize` as LiteLLM exports it (9.223372036854776e+18): "no limit" on the per-key, per-model gauges (LiteLLM
# 1.80 writes it for a key with a per-model limit too: it enforces the limit but does not read it back).
NO_LIMIT = float(2**63)

API_KEY_LABEL = 'hashed_api_key'
ROUTE_LABEL = 'route'
_SHA256_HEX = re.compile(r'[0-9a-f]{64}')
_HASHED_JWT = re.compile(r'hashed-jwt-[0-9a-f]{64}')
# Values LiteLLM puts in `hashed_api_key` that are names, not keys: the master key's alias (since about 1.85),
# its service accounts, and `other`, where its per-metric series limit folds the series over the limit.
API_KEY_NAMES = frozenset(
    {'litellm_proxy_master_key', 'litellm-internal-health-check', 'litellm-cli', 'litellm_internal_jobs', 'other'}
)


def hash_api_key(value):
    """The label value as LiteLLM logs a key: kept when it is already a hash or a name, hashed otherwise.

    LiteLLM hashes `sk-` keys (sha256 hex) and JWTs (`hashed-jwt-<sha256 hex>`) but passes any other key through
    in clear, for instance a rejected key that does not start with `sk-`.
    """
    if value in API_KEY_NAMES or value in EMPTY_VALUES or _SHA256_HEX.fullmatch(value) or _HASHED_JWT.fullmatch(value):
        return value
    token = value[7:] if value[:7].lower() == 'bearer ' else value
    digest = hashlib.sha256(token.encode()).hexdigest()
    # LiteLLM's own test for a JWT: three dot-separated parts.
    return f'hashed-jwt-{digest}' if token.count('.') == 2 else digest


# How gauge series with the same tags are combined, by LiteLLM family; metadata.csv says the same per metric.
# Remaining budgets, requests, tokens and hours: the most constrained value (the series of one key, team or
# deployment repeat it, each worker holds its last reading, or each deployment of a key's model holds the count
# left after its own last request). Per-worker amounts: the sum. Everything else:
# the largest value, never more than one series reported (the worst deployment state, configured limits, rate
# limit usage read from shared counters, database counts that only one worker sets).
SUM, MIN, MAX = 'sum', 'min', 'max'
GAUGE_COMBINE = {
    **dict.fromkeys(
        (
            'litellm_in_flight_requests',
            'litellm_redis_circuit_breaker_state',
            'litellm_admission_admitted_requests',
            'litellm_admission_queued_requests',
            'litellm_in_memory_spend_update_queue_size',
            'litellm_in_memory_daily_spend_update_queue_size',
        ),
        SUM,
    ),
    **dict.fromkeys(
        (
            'litellm_remaining_requests',
            'litellm_remaining_tokens',
            'litellm_remaining_requests_metric',
            'litellm_remaining_tokens_metric',
            'litellm_remaining_api_key_requests_for_model',
            'litellm_remaining_api_key_tokens_for_model',
            'litellm_remaining_api_key_budget_metric',
            'litellm_remaining_team_budget_metric',
            'litellm_remaining_user_budget_metric',
            'litellm_remaining_org_budget_metric',
            'litellm_remaining_customer_budget_metric',
            'litellm_provider_remaining_budget_metric',
            'litellm_api_key_budget_remaining_hours_metric',
            'litellm_team_budget_remaining_hours_metric',
            'litellm_user_budget_remaining_hours_metric',
            'litellm_org_budget_remaining_hours_metric',
            'litellm_customer_budget_remaining_hours_metric',
        ),
        MIN,
    ),
}
GAUGE_DEFAULT = MAX
_REDUCERS = {SUM: operator.add, MIN: min, MAX: max}
_CUMULATIVE_TYPES = frozenset({'counter', 'histogram', 'summary', 'gaugehistogram'})
_GAUGE_TYPES = frozenset({'gauge', 'unknown', 'untyped'})


def gauge_rule(family):
    return GAUGE_COMBINE.get(family, GAUGE_DEFAULT)


class TagPolicy:
    """Label rewriting, value filters and combining for one instance's configuration."""

    def __init__(
        self,
        drop_labels=DROPPED_LABELS,
        only_labels=None,
        drop_empty=True,
        hash_api_keys=True,
        drop_no_limit=True,
        exclude_samples=None,
        always_keep=(),
        probed_routes=True,
        budget=None,
    ):
        always_keep = STRUCTURAL_LABELS | frozenset(always_keep)
        self.drop_labels = frozenset(drop_labels) - always_keep
        # With the base's `include_labels`, only those labels (and the structural ones) become tags.
        self.only_labels = frozenset(only_labels) | always_keep if only_labels else None
        self.drop_empty = drop_empty
        self.hash_api_keys = hash_api_keys
        self.drop_no_limit = drop_no_limit
        # The base's `exclude_metrics_by_labels` ({label: predicate}): matched on LiteLLM's labels before any is
        # dropped, so it keeps working on the labels this policy removes.
        self.exclude_samples = exclude_samples or {}
        self.probed_routes = probed_routes  # probed paths in `route` become `<prefix>/*` or `other` (routes.py)
        self.budget = budget  # a TagBudget, or None: no limit

    @classmethod
    def from_config(cls, config, exclude_samples=None, hostname_label=''):
        keep_labels = config.get('keep_labels') or []
        if not isinstance(keep_labels, list) or not all(isinstance(label, str) for label in keep_labels):
            raise ConfigurationError('Setting `keep_labels` must be an array of label names')
        # The base's own label filters join the dropped labels, so series they make identical are combined too.
        exclude_labels = config.get('exclude_labels') or []
        include_labels = config.get('include_labels') or []
        # The label the base reads the hostname from must survive.
        always_keep = {hostname_label} if hostname_label else set()
        return cls(
            drop_labels=(DROPPED_LABELS - set(keep_labels)) | set(exclude_labels),
            only_labels=include_labels,
            drop_empty=_flag(config, 'drop_none_tags', True),
            hash_api_keys=_flag(config, 'hash_unhashed_api_keys', True),
            drop_no_limit=not _flag(config, 'submit_no_limit_sentinels', False),
            exclude_samples=exclude_samples,
            always_keep=always_keep,
            probed_routes=_probed_routes(config),
            budget=TagBudget.from_config(config),
        )

    def labels(self, labels):
        """The labels of one series that become tags (a new dict; names are renamed later by the base)."""
        kept = {}
        for name, value in labels.items():
            if name in self.drop_labels or (self.only_labels is not None and name not in self.only_labels):
                continue
            if self.drop_empty and value in EMPTY_VALUES:
                continue
            if name == API_KEY_LABEL and self.hash_api_keys:
                value = hash_api_key(value)
            elif name == ROUTE_LABEL and self.probed_routes:
                value = route_value(value)
            kept[name] = value
        return kept

    def excluded(self, labels):
        for name, value in labels.items():
            excluder = self.exclude_samples.get(name)
            if excluder is not None and excluder(value):
                return True
        return False

    def submits(self, family_type, value):
        """Whether a sample's value is submitted at all: never NaN or infinite (the base drops them anyway, but
        they must not take part in a minimum or a sum), and not LiteLLM's "no limit" gauge value."""
        if not isfinite(value):
            return False
        return not (self.drop_no_limit and value == NO_LIMIT and family_type in _GAUGE_TYPES)

    @staticmethod
    def combiner(family, family_type, sample_name):
        """The function combining two values of series with the same tags in this family."""
        if family_type == 'summary' and sample_name == family:
            # Quantiles do not add up; the largest is an honest bound.
            return max
        if family_type in _CUMULATIVE_TYPES:
            # Counts, sums and buckets add up.
            return operator.add
        return _REDUCERS[gauge_rule(family)]

    def apply(self, metric, budgeted=True):
        """Rewrite one parsed family in place: tags' labels, dropped values, series over the budget folded, series
        with the same tags combined. The budget decides each series' fate as the series cache does: at its first
        sample in exposition order, whatever its value (series_cache.py)."""
        family, family_type = metric.name, metric.type
        budget = self.budget if budgeted else None
        combined = {}
        for sample in metric.samples:
            if self.exclude_samples and self.excluded(sample.labels):
                continue
            labels = self.labels(sample.labels)
            if budget is not None:
                labels, folded = budget.fate(family, labels)
                if folded:
                    budget.count(family, labels)
            if not self.submits(family_type, sample.value):
                continue
            key = (sample.name, tuple(sorted(labels.items())))
            previous = combined.get(key)
            if previous is None:
                combined[key] = sample._replace(labels=labels)
            else:
                combine = self.combiner(family, family_type, sample.name)
                combined[key] = previous._replace(value=combine(previous.value, sample.value))
        metric.samples = list(combined.values())
        return metric


OTHER = 'other'  # the value of a folded label, as LiteLLM's own per-metric series limit writes it
# The smallest budget: room for a tag set of its own and the folded one, for each bound of LiteLLM's largest
# histograms (36 buckets in 1.79-1.80).
MIN_BUDGET = 100
DEFAULT_BUDGET = 1000


class TagBudget:
    """At most `limit` tag sets per metric, a bucket's bound counting as part of its tag set: the fate of each
    series (its own tag set, or folded) decided at its first sample and kept while the check runs.

    Per family: the tag sets kept as they are (first seen, in exposition order), while they leave room for the
    folded ones; past them, the labels that vary most among the kept tag sets (measured once, when the family
    first overflows) are set to `other` (a partial fold), while the family has room for such tag sets; past
    those, every series folds into one tag set, the folded labels `other` and no other label. Admitted tag sets
    are never given back, and the room of a family never grows, so a series refused once is refused at every
    run: its fate does not depend on the series cache remembering it, and no series moves between `other` and
    its own tag set. Memory: the admitted tag sets, at most `limit` per family."""

    def __init__(self, limit):
        self.limit = limit
        self.families = {}
        self.folded = {}  # family -> series (every sample but a +Inf bucket) folded in this run
        self.reported = {}  # family -> the folded labels last logged

    @classmethod
    def from_config(cls, config):
        limit = config.get('max_tag_sets_per_metric')
        limit = DEFAULT_BUDGET if limit is None else limit
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0 or 0 < limit < MIN_BUDGET:
            raise ConfigurationError(
                f'Setting `max_tag_sets_per_metric` must be 0 (no limit) or an integer of at least {MIN_BUDGET}'
            )
        return cls(limit) if limit else None

    def begin(self):
        self.folded = {}

    def fate(self, family, labels):
        """(labels, folded): the labels of a series after the budget, from its labels after the tag policy."""
        state = self.families.get(family)
        if state is None:
            state = self.families[family] = FamilyBudget()
        tag_set = []
        for name, value in labels.items():
            if name in STRUCTURAL_LABELS:
                state.note_bound(value, self.limit)
            else:
                tag_set.append((name, value))
        tag_set = tuple(sorted(tag_set))
        if tag_set in state.kept:
            return labels, False
        room = self.limit // max(len(state.bounds), 1)  # tag sets of this family
        reserve = max(room // 10, 1)  # of which the folded ones
        if state.fold_labels is None and len(state.kept) + reserve < room:
            state.kept.add(tag_set)
            return labels, False
        if state.fold_labels is None:
            state.fold_labels = most_varying(state.kept | {tag_set}, reserve - 1)
        folded = tuple((name, OTHER if name in state.fold_labels else value) for name, value in tag_set)
        if folded not in state.folds:
            if len(state.folds) + 1 < reserve:
                state.folds.add(folded)
            else:
                folded = tuple((name, OTHER) for name in state.fold_labels)
        result = dict(folded)
        result.update((name, value) for name, value in labels.items() if name in STRUCTURAL_LABELS)
        return result, True

    def note_bound(self, family, bound):
        """A bucket of a series whose fate is known (the bounds of a family set its room, as in `fate`)."""
        self.families[family].note_bound(bound, self.limit)

    def count(self, family, labels, series=1):
        """Count a folded sample in this run (a +Inf bucket is not a submitted series)."""
        if not labels.get('le', '').endswith('Inf'):
            self.folded[family] = self.folded.get(family, 0) + series

    def folded_labels(self):
        """{family: the labels folded in it}, for the families that fold."""
        return {family: state.fold_labels for family, state in self.families.items() if state.fold_labels}


class FamilyBudget:
    __slots__ = ('kept', 'folds', 'bounds', 'fold_labels')

    def __init__(self):
        self.kept = set()
        self.folds = set()
        self.bounds = set()
        self.fold_labels = None

    def note_bound(self, bound, limit):
        if len(self.bounds) <= limit:  # past the limit, bounds alone leave no room: not counted
            self.bounds.add(bound)


def most_varying(tag_sets, room):
    """The labels to fold so that the tag sets, those labels set to `other`, are at most `room`: the labels with
    the most distinct values first (a key and its alias vary together, and fold together)."""
    values = {}
    for tag_set in tag_sets:
        for name, value in tag_set:
            values.setdefault(name, set()).add(value)
    ranked = sorted((name for name in values if len(values[name]) > 1), key=lambda name: (-len(values[name]), name))
    for count in range(1, len(ranked) + 1):
        folded = frozenset(ranked[:count])
        left = {tuple((name, value) for name, value in tag_set if name not in folded) for tag_set in tag_sets}
        if len(left) <= room:
            return tuple(sorted(folded))
    return tuple(sorted(ranked)) or tuple(sorted(values))


def _probed_routes(config):
    value = config.get('probed_routes') or 'fold'
    if value not in ('fold', 'keep'):
        raise ConfigurationError('Setting `probed_routes` must be `fold` or `keep`')
    return value == 'fold'


def _flag(config, name, default):
    value = config.get(name)
    return default if value is None else is_affirmative(value)
