"""Payloads for the parser tests: real captures rewritten as OpenMetrics, and hypothesis strategies for
well-formed Prometheus text and OpenMetrics payloads with the hard cases (escapes, exotic numbers, HELP/TYPE
oddities, untyped samples, `# EOF`)."""

from hypothesis import strategies as st
from prometheus_client.openmetrics.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8'


def _group(labels):
    return tuple(sorted((k, v) for k, v in labels.items() if k not in ('le', 'quantile')))


def to_openmetrics(text):
    """A Prometheus text capture as prometheus_client writes it in OpenMetrics: the `<name>_created` gauge
    families of the text format become `_created` samples after each series of their counter or histogram."""
    families = list(text_string_to_metric_families(text))
    by_name = {family.name: family for family in families}
    kept = []
    for family in families:
        base = family.name[: -len('_created')] if family.name.endswith('_created') else None
        if base in by_name and by_name[base].type in ('counter', 'histogram'):
            created = {_group(s.labels): s for s in family.samples}
            old, samples = by_name[base].samples, []
            for i, sample in enumerate(old):
                samples.append(sample)
                if i + 1 == len(old) or _group(old[i + 1].labels) != _group(sample.labels):
                    stamp = created.pop(_group(sample.labels), None)
                    if stamp is not None:
                        samples.append(Sample(base + '_created', stamp.labels, stamp.value))
            old[:] = samples
            continue
        kept.append(family)

    class Collector:
        def collect(self):
            return kept

    return generate_latest(Collector()).decode()


# ------------------------------------------------------------------------------------------ generated payloads
# Family names by type: mapped ones (each combine rule, the no-limit gauge, the time_elapsed start time, the
# unlicensed family) and unmapped ones.
NAMES = {
    'counter': [
        'litellm_requests_metric',
        'litellm_spend_metric',
        'litellm_deployment_success_responses',
        'litellm_not_a_premium_user_metric',
        'unmapped_counter',
    ],
    'gauge': [
        'litellm_remaining_requests',
        'litellm_in_flight_requests',
        'litellm_deployment_state',
        'litellm_remaining_api_key_requests_for_model',
        'process_start_time_seconds',
        'unmapped_gauge',
    ],
    'histogram': ['litellm_request_total_latency_metric', 'litellm_redis_latency', 'unmapped_histogram'],
    'summary': ['litellm_overhead_latency_metric'],
    'untyped': ['litellm_total_users', 'process_start_time_seconds', 'unmapped_untyped'],
}
# client_ip, user_agent and pid are dropped by the tag policy: series then combine. env is renamed.
LABEL_NAMES = ['model', 'team', 'client_ip', 'user_agent', 'hashed_api_key', 'env', 'pid', 'route']
TRICKY_VALUES = [
    'None',
    '',
    'gpt-4',
    'sk-1234',
    'a,b',
    'x}y',
    '{',
    'q"uote',
    'back\\slash',
    'ends with \\',
    'new\nline',
    'tab\there',
    ' # ',
    'a=b',
    'a,le=',  # a value ending as a bound pair begins: `a,le="` is no `le` label
    ',le="1"',
    'é',
    '日本',
    '\\n literally',
]
LABEL_VALUES = st.one_of(
    st.sampled_from(TRICKY_VALUES),
    st.text(alphabet=st.characters(codec='utf-8', exclude_categories=('Cs', 'Cc')), max_size=6),
)
EXOTIC_NUMBERS = [
    '0',
    '1',
    '12',
    '-1',
    '1.0',
    '-0.0',
    '1e-9',
    '1E3',
    '.5',
    '5.',
    '+Inf',
    '-Inf',
    'NaN',
    'inf',
    '1.7976931348623157e308',
    '4.9e-324',
    '9.223372036854776e+18',
]
NUMBERS = st.one_of(
    st.sampled_from(EXOTIC_NUMBERS),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(min_value=-(2**50), max_value=2**50).map(str),
)
COUNTS = st.one_of(st.sampled_from(['0', '1', '12', '1.0', '3e2']), st.integers(0, 2**40).map(str))
HELPS = st.sampled_from(['', 'doc', 'with \\\\ backslash', 'with "quotes"', 'multi\\nline', '  spaced  out  '])
BOUNDS = ['0.005', '0.1', '1', '1.0e1', '250']


def escape(value):
    return value.replace('\\', '\\\\').replace('\n', '\\n').replace('"', '\\"')


def render_labels(labels, extra='', at=None):
    """`{k="v",...}`, with `extra` (a bucket's bound or a quantile) last, or at index `at` (prometheus_client writes
    `le` last in old releases, in the sorted order of the labels in new ones)."""
    pairs = [f'{k}="{escape(v)}"' for k, v in labels]
    if extra:
        pairs.insert(len(pairs) if at is None else at, extra)
    return '{' + ','.join(pairs) + '}' if pairs else ''


@st.composite
def families(draw, openmetrics):
    types = ['counter', 'gauge', 'histogram', 'summary', 'untyped']
    typ = draw(st.sampled_from(types))
    name = draw(st.sampled_from(NAMES[typ]))
    label_names = draw(st.lists(st.sampled_from(LABEL_NAMES), unique=True, max_size=3))
    series = draw(st.lists(st.tuples(*[LABEL_VALUES] * len(label_names)), min_size=1, max_size=4, unique=True))
    if openmetrics:
        series = list(dict.fromkeys(series))  # OpenMetrics has no duplicate series
    lines = []
    help_text = draw(st.none() | HELPS)
    sample_name = name
    if typ == 'counter':
        with_total = openmetrics or draw(st.booleans())
        sample_name = name + '_total'
        declared = name if openmetrics or not with_total else name + '_total'
        if not with_total:
            sample_name = name
    else:
        declared = name
    metadata = []
    if help_text is not None:
        metadata.append(f'# HELP {declared} {help_text}')
    if typ != 'untyped':
        metadata.append(f'# TYPE {declared} {typ}')
    elif openmetrics and draw(st.booleans()):
        metadata.append(f'# TYPE {declared} unknown')
    if draw(st.booleans()):
        metadata.reverse()
    lines += metadata
    stamp = (lambda: '') if openmetrics else (lambda: draw(st.sampled_from(['', '', ' 1700000000000', ' -5'])))
    # One bucket layout per histogram family, as every exporter writes it (series combined by the tag policy
    # then add up into a histogram again).
    bounds = sorted(draw(st.sets(st.sampled_from(BOUNDS), max_size=3)), key=float) + ['+Inf']
    at = draw(st.none() | st.integers(0, len(label_names)))  # where `le` is written among the labels
    for values in series:
        labels = list(zip(label_names, values, strict=True))
        if typ == 'histogram':
            total = 0
            for bound in bounds:
                total += draw(st.integers(0, 5))
                le = 'le="' + bound + '"'
                lines.append(f'{name}_bucket{render_labels(labels, le, at)} {total}{stamp()}')
            lines.append(f'{name}_count{render_labels(labels)} {total}{stamp()}')
            lines.append(f'{name}_sum{render_labels(labels)} {draw(COUNTS)}{stamp()}')
        elif typ == 'summary':
            for quantile in ('0.5', '0.99'):
                bound = 'quantile="' + quantile + '"'
                lines.append(f'{name}{render_labels(labels, bound)} {draw(COUNTS)}{stamp()}')
            lines.append(f'{name}_count{render_labels(labels)} {draw(COUNTS)}{stamp()}')
            lines.append(f'{name}_sum{render_labels(labels)} {draw(COUNTS)}{stamp()}')
        else:
            value = draw(COUNTS if openmetrics and typ == 'counter' else NUMBERS)
            lines.append(f'{sample_name}{render_labels(labels)} {value}{stamp()}')
    return name, lines


@st.composite
def payloads(draw, openmetrics=False):
    """A well-formed payload: families of distinct names, with comments and blank lines in between (text)."""
    drawn = draw(st.lists(families(openmetrics), min_size=1, max_size=6, unique_by=lambda f: f[0]))
    lines = []
    for _, family in drawn:
        if not openmetrics:
            lines += draw(st.sampled_from([[], [''], ['# a comment, not HELP or TYPE'], ['#']]))
        lines += family
    if openmetrics:
        lines.append('# EOF')
    return '\n'.join(lines) + '\n'
