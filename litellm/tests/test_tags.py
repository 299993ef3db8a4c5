"""Tag defaults on real captures: no personal or empty tags, hashed keys, no "no limit" sentinel, generic tags
renamed, and series left with the same tags combined so that counts stay exact over scrapes."""

import hashlib
import re
from collections import defaultdict

import pytest
from prometheus_client.parser import text_string_to_metric_families

from datadog_checks.base.errors import ConfigurationError
from datadog_checks.base.utils.tagging import GENERIC_TAGS
from datadog_checks.dev.utils import get_metadata_metrics
from datadog_checks.litellm import LitellmCheck
from datadog_checks.litellm.metrics import METRIC_MAP
from datadog_checks.litellm.tags import GAUGE_COMBINE, GAUGE_DEFAULT, MAX, MIN, SUM, TagPolicy, hash_api_key
from tools.tag_sets import ALL_LABELS

from .common import NEWEST, read_fixture, real_fixture_dirs
from .http_server import Response

MULTIWORKER = '1.110.2-multiworker'
PERSONAL = ('client_ip', 'user_agent', 'user_email')
NO_LIMIT_TEXT = '9.223372036854776e+18'


def run(dd_run_check, instance):
    check = LitellmCheck('litellm', {}, [instance])
    dd_run_check(check)
    return check


def submitted(aggregator):
    """Every submission but the check's own metric: (name, tags without the endpoint, value)."""
    return [
        (m.name, frozenset(t for t in m.tags if not t.startswith('endpoint:')), m.value)
        for name in aggregator.metric_names
        if name != 'litellm.scrape.series'
        for m in aggregator.metrics(name)
    ]


def by_context(aggregator):
    values = {}
    for name, tags, value in submitted(aggregator):
        assert (name, tags) not in values, f'{name} {sorted(tags)} submitted twice in one scrape'
        values[(name, tags)] = value
    return values


def tag_names(aggregator):
    return {tag.split(':', 1)[0] for _, tags, _ in submitted(aggregator) for tag in tags}


def families(text):
    return text_string_to_metric_families(text.decode() if isinstance(text, bytes) else text)


def datadog_name(family, sample_name):
    """The Datadog name of a counter's or histogram's sample, from the rename table."""
    target = METRIC_MAP[family]
    target = target if isinstance(target, str) else target['name']
    suffix = sample_name[len(family) :]
    return f'litellm.{target}.' + {'_total': 'count', '': 'count', '_count': 'count', '_sum': 'sum'}.get(
        suffix, 'bucket'
    )


def expected_cumulative(text, dropped=PERSONAL + ('pid',)):
    """Counters and histograms grouped by hand: labels minus `dropped`, minus None and empty values, summed."""
    expected = defaultdict(float)
    for metric in families(text):
        if metric.type not in ('counter', 'histogram') or metric.name not in METRIC_MAP:
            continue
        for sample in metric.samples:
            if sample.name.endswith('_created') or sample.labels.get('le') == '+Inf':
                continue
            tags = set()
            for name, value in sample.labels.items():
                if name in dropped or value in ('None', ''):
                    continue
                if name == 'le':
                    name, value = 'upper_bound', str(float(value) or 0)
                tags.add(f'{name}:{value}')
            expected[(datadog_name(metric.name, sample.name), frozenset(tags))] += sample.value
    return expected


def scaled(text, factor):
    """A later scrape of the same proxy: every sample value multiplied by `factor(line)` (a counter stays a
    counter, a histogram a histogram as long as one series' lines share a factor). Its start time and the series'
    creation times stay: they tell the same process."""
    lines = []
    for line in text.decode().splitlines():
        name = line.split('{')[0].split(' ')[0]
        if line and not line.startswith('#') and not name.endswith('_created') and name != 'process_start_time_seconds':
            series, value = line.rsplit(' ', 1)
            if value not in ('+Inf', '-Inf', 'NaN', NO_LIMIT_TEXT):
                line = f'{series} {float(value) * factor(series)!r}'
        lines.append(line)
    return ('\n'.join(lines) + '\n').encode()


def by_caller(series):
    # Callers from the second address grew three times, the others twice: merged members grow differently.
    return 3 if 'client_ip="127.0.0.2"' in series else 2


@pytest.mark.parametrize('version', real_fixture_dirs())
def test_no_personal_worker_or_empty_tags(dd_run_check, aggregator, serve_fixture, version):
    run(dd_run_check, serve_fixture('real', version, 'metrics.txt'))
    assert not tag_names(aggregator) & {*PERSONAL, 'pid'}
    for name, tags, _ in submitted(aggregator):
        for tag in tags:
            assert tag.split(':', 1)[1] not in ('None', ''), (name, tag)
    aggregator.assert_no_duplicate_metrics()


def test_combined_series_keep_every_count(dd_run_check, aggregator, serve_fixture):
    """Two client addresses and two user agents: their series are summed, and nothing is lost or counted twice."""
    text = read_fixture('real', NEWEST, 'metrics.txt')
    assert re.search(rb'client_ip="127\.0\.0\.2"', text) and b'user_agent="OpenAI/Python 1.99.0"' in text
    run(dd_run_check, serve_fixture('real', NEWEST, 'metrics.txt'))
    values = by_context(aggregator)
    expected = expected_cumulative(text)
    for context, value in expected.items():
        assert values[context] == pytest.approx(value), context
    # The capture did need combining: series of one tag set came from several callers.
    raw_series = sum(
        1
        for metric in families(text)
        if metric.name == 'litellm_proxy_total_requests_metric'
        for s in metric.samples
        if s.name.endswith('_total')
    )
    combined = [k for k in expected if k[0] == 'litellm.proxy.total_requests.metric.count']
    assert len(combined) < raw_series
    gpt_ok_a = frozenset(
        {
            'api_provider:openai',
            'hashed_api_key:litellm_proxy_master_key',
            'model_id:gpt-ok-a',
            'requested_model:gpt-ok',
            'route:/v1/chat/completions',
            'status_code:200',
            'user:default_user_id',
        }
    )
    members = [
        s.value
        for metric in families(text)
        if metric.name == 'litellm_proxy_total_requests_metric'
        for s in metric.samples
        if s.name.endswith('_total')
        and s.labels['model_id'] == 'gpt-ok-a'
        and s.labels['requested_model'] == 'gpt-ok'
        and s.labels['status_code'] == '200'
    ]
    assert len(members) > 1
    assert values[('litellm.proxy.total_requests.metric.count', gpt_ok_a)] == sum(members)


def two_scrapes(dd_run_check, aggregator, serve, first, second):
    """Submissions by context of one check scraping `first`, then `second`."""
    server = serve({'/metrics/': Response(first)})
    check = LitellmCheck('litellm', {}, [{'openmetrics_endpoint': f'{server.base_url}/metrics/'}])
    dd_run_check(check)
    before = by_context(aggregator)
    aggregator.reset()
    server.routes['/metrics/'] = Response(second)
    dd_run_check(check)
    return before, by_context(aggregator)


def test_counts_stay_exact_over_two_scrapes(dd_run_check, aggregator, serve):
    """Each tag set is submitted once per scrape, and its increase between scrapes is the true increase of the
    sum of the series it combines, though those grew at different rates."""
    first = read_fixture('real', NEWEST, 'metrics.txt')
    second = scaled(first, by_caller)
    before, after = two_scrapes(dd_run_check, aggregator, serve, first, second)

    truth_before, truth_after = expected_cumulative(first), expected_cumulative(second)
    assert truth_before.keys() == truth_after.keys()
    uneven = 0
    for context, value in truth_after.items():
        increase = after[context] - before[context]
        assert increase == pytest.approx(value - truth_before[context]), context
        # Agent-side: a monotonic count never sees a decrease here, so no reset is read.
        assert increase >= 0
        uneven += increase not in (truth_before[context], 2 * truth_before[context])
    # Some tag sets combined series that grew at different rates (x2 and x3).
    assert uneven > 0


def test_counts_stay_exact_between_real_scrapes(dd_run_check, aggregator, serve):
    """The capture's scrape before traffic and after it: the same proxy, counters that really moved."""
    first = read_fixture('real', MULTIWORKER, 'metrics_before_traffic.txt')
    second = read_fixture('real', MULTIWORKER, 'metrics.txt')
    before, after = two_scrapes(dd_run_check, aggregator, serve, first, second)
    truth_before, truth_after = expected_cumulative(first), expected_cumulative(second)
    common = [c for c in truth_before if c in truth_after]
    assert any(truth_after[c] > truth_before[c] for c in common)
    for context in common:
        assert after[context] - before[context] == pytest.approx(truth_after[context] - truth_before[context])


def test_base_label_filters_are_combined_too(dd_run_check, aggregator, serve_fixture):
    """`exclude_labels` makes series identical as well: they are summed, not submitted twice."""
    text = read_fixture('real', NEWEST, 'metrics.txt')
    run(dd_run_check, serve_fixture('real', NEWEST, 'metrics.txt', exclude_labels=['model_id', 'hashed_api_key']))
    values = by_context(aggregator)
    expected = expected_cumulative(text, dropped=PERSONAL + ('pid', 'model_id', 'hashed_api_key'))
    for context, value in expected.items():
        assert values[context] == pytest.approx(value), context


def test_include_labels_combines_and_keeps_buckets_apart(dd_run_check, aggregator, serve_fixture):
    """With `include_labels`, everything else is left out and combined; a histogram's buckets stay apart."""
    text = read_fixture('real', NEWEST, 'metrics.txt')
    run(dd_run_check, serve_fixture('real', NEWEST, 'metrics.txt', include_labels=['requested_model']))
    values = by_context(aggregator)
    by_model = defaultdict(float)
    for (name, tags), value in expected_cumulative(text).items():
        kept = frozenset(t for t in tags if t.split(':', 1)[0] in ('requested_model', 'upper_bound'))
        by_model[(name, kept)] += value
    for context, value in by_model.items():
        assert values[context] == pytest.approx(value), context
    assert {t for (n, tags) in values if n == 'litellm.llm.api.latency.metric.bucket' for t in tags} >= {
        'upper_bound:0.005',
        'upper_bound:600.0',
    }


def test_hostname_label_survives(dd_run_check, aggregator, serve_fixture):
    """The label the base reads the host name from is never left out, even one left out by default."""
    run(dd_run_check, serve_fixture('real', NEWEST, 'metrics.txt', hostname_label='client_ip'))
    hosts = {m.hostname for m in aggregator.metrics('litellm.spend.metric.count')}
    assert hosts == {'127.0.0.1', '127.0.0.2'}
    aggregator.assert_no_duplicate_metrics()


def test_filter_on_a_dropped_label_still_applies(dd_run_check, aggregator, serve_fixture):
    """`exclude_metrics_by_labels` matches LiteLLM's labels, even those that do not become tags."""
    text = read_fixture('real', NEWEST, 'metrics.txt')
    instance = serve_fixture('real', NEWEST, 'metrics.txt', exclude_metrics_by_labels={'user_agent': ['^OpenAI/']})
    run(dd_run_check, instance)
    total = sum(v for n, _, v in submitted(aggregator) if n == 'litellm.proxy.total_requests.metric.count')
    raw = [
        s
        for m in families(text)
        if m.name == 'litellm_proxy_total_requests_metric'
        for s in m.samples
        if s.name.endswith('_total')
    ]
    kept = sum(s.value for s in raw if not s.labels.get('user_agent', '').startswith('OpenAI/'))
    assert 0 < kept < sum(s.value for s in raw)
    assert total == kept


def test_keep_labels_brings_personal_labels_back(dd_run_check, aggregator, serve_fixture):
    run(dd_run_check, serve_fixture('real', NEWEST, 'metrics.txt', keep_labels=['client_ip', 'user_agent']))
    names = tag_names(aggregator)
    assert {'client_ip', 'user_agent'} <= names
    assert 'user_email' not in names  # only `None` in the capture, dropped as an empty value
    aggregator.assert_metric_has_tag(
        'litellm.proxy.total_requests.metric.count', 'user_agent:OpenAI/Python 1.99.0', at_least=1
    )
    aggregator.assert_metric_has_tag('litellm.spend.metric.count', 'client_ip:127.0.0.2', at_least=1)
    text = read_fixture('real', NEWEST, 'metrics.txt')
    for context, value in expected_cumulative(text, dropped=('user_email', 'pid')).items():
        assert by_context(aggregator)[context] == pytest.approx(value)


def test_all_defaults_off_is_every_label(dd_run_check, aggregator, serve_fixture):
    run(dd_run_check, serve_fixture('real', NEWEST, 'metrics.txt', **ALL_LABELS))
    aggregator.assert_metric_has_tag('litellm.proxy.total_requests.metric.count', 'team:None', at_least=1)
    aggregator.assert_metric_has_tag('litellm.proxy.total_requests.metric.count', 'user_email:None', at_least=1)
    aggregator.assert_metric_has_tag(
        'litellm.proxy.total_requests.metric.count', 'user_agent:harness-client-a/1.0', at_least=1
    )
    # The sentinel is submitted as LiteLLM exports it.
    values = {m.value for m in aggregator.metrics('litellm.remaining.api_key.requests_for_model')}
    assert values == {float(NO_LIMIT_TEXT)}
    aggregator.assert_no_duplicate_metrics()


def test_no_limit_sentinel_not_submitted(dd_run_check, aggregator, serve_fixture):
    text = read_fixture('real', NEWEST, 'metrics.txt')
    assert b'litellm_remaining_api_key_tokens_for_model{' in text and NO_LIMIT_TEXT.encode() in text
    run(dd_run_check, serve_fixture('real', NEWEST, 'metrics.txt'))
    for name in ('litellm.remaining.api_key.requests_for_model', 'litellm.remaining.api_key.tokens_for_model'):
        assert not aggregator.metrics(name), name
    # Finite limits of the same kind are kept: the provider's remaining requests are real numbers.
    assert aggregator.metrics('litellm.remaining_requests.metric')


def test_raw_api_keys_are_hashed(dd_run_check, aggregator, serve):
    """LiteLLM passes a key that is neither `sk-` nor a JWT through in clear: the check hashes it like LiteLLM."""
    text = read_fixture('real', NEWEST, 'metrics.txt').decode()
    hashes = sorted(set(re.findall(r'hashed_api_key="([0-9a-f]{64})"', text)))
    assert len(hashes) == 2
    raw, jwt = 'custom-auth-token-123', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl'
    payload = text.replace(hashes[0], raw).replace(hashes[1], f'Bearer {jwt}')
    server = serve({'/metrics/': Response(payload)})
    run(dd_run_check, {'openmetrics_endpoint': f'{server.base_url}/metrics/'})
    keys = {t for _, tags, _ in submitted(aggregator) for t in tags if t.startswith('hashed_api_key:')}
    assert keys == {
        'hashed_api_key:litellm_proxy_master_key',
        'hashed_api_key:' + hashlib.sha256(raw.encode()).hexdigest(),
        'hashed_api_key:hashed-jwt-' + hashlib.sha256(jwt.encode()).hexdigest(),
    }
    assert not any(raw in t or jwt in t for _, tags, _ in submitted(aggregator) for t in tags)

    aggregator.reset()
    run(dd_run_check, {'openmetrics_endpoint': f'{server.base_url}/metrics/', 'hash_unhashed_api_keys': False})
    aggregator.assert_metric_has_tag('litellm.proxy.total_requests.metric.count', f'hashed_api_key:{raw}')


def test_raw_key_and_its_hash_are_one_series(dd_run_check, aggregator, serve):
    """A key LiteLLM labelled once in clear and once hashed is one key: one tag set, counts summed."""
    text = read_fixture('real', NEWEST, 'metrics.txt').decode()
    key = 'sk-not-a-real-key'
    digest = hashlib.sha256(key.encode()).hexdigest()
    line = next(
        line
        for line in text.splitlines()
        if line.startswith('litellm_proxy_total_requests_metric_total{') and 'litellm_proxy_master_key' in line
    )
    series = line.rsplit(' ', 1)[0]
    in_clear, hashed = (series.replace('litellm_proxy_master_key', k) for k in (key, digest))
    payload = text.replace(line, f'{in_clear} 5.0\n{hashed} 7.0\n{line}')
    server = serve({'/metrics/': Response(payload)})
    run(dd_run_check, {'openmetrics_endpoint': f'{server.base_url}/metrics/'})
    mine = [
        v
        for n, tags, v in submitted(aggregator)
        if f'hashed_api_key:{digest}' in tags and n.startswith('litellm.proxy.total')
    ]
    assert mine == [12.0]


def test_hash_api_key_values():
    digest = hashlib.sha256(b'sk-abc').hexdigest()
    assert hash_api_key(digest) == digest
    assert hash_api_key(f'hashed-jwt-{digest}') == f'hashed-jwt-{digest}'
    assert hash_api_key('sk-abc') == digest
    assert hash_api_key('Bearer sk-abc') == digest
    assert hash_api_key(digest.upper()) == hashlib.sha256(digest.upper().encode()).hexdigest()
    for name in ('litellm_proxy_master_key', 'litellm-internal-health-check', 'other', 'None', ''):
        assert hash_api_key(name) == name


def test_generic_label_names_are_renamed(dd_run_check, aggregator, serve):
    """Custom metadata labels named like Datadog's reserved tags get a `litellm_` prefix; the stub's generic-tag
    check stays on, so a leaked one fails the run."""
    reserved = sorted({'host', 'service', 'env', 'version', 'source', 'device'} | set(GENERIC_TAGS))
    extra = ','.join(f'{name}="v-{name}"' for name in reserved)
    text = read_fixture('real', NEWEST, 'metrics.txt').decode()
    payload = text.replace(
        'litellm_proxy_total_requests_metric_total{', f'litellm_proxy_total_requests_metric_total{{{extra},'
    )
    server = serve({'/metrics/': Response(payload)})
    run(dd_run_check, {'openmetrics_endpoint': f'{server.base_url}/metrics/'})
    for name in reserved:
        aggregator.assert_metric_has_tag('litellm.proxy.total_requests.metric.count', f'litellm_{name}:v-{name}')
    assert not tag_names(aggregator) & set(reserved)

    # The instance's own renames win over the defaults.
    aggregator.reset()
    run(dd_run_check, {'openmetrics_endpoint': f'{server.base_url}/metrics/', 'rename_labels': {'env': 'stage'}})
    aggregator.assert_metric_has_tag('litellm.proxy.total_requests.metric.count', 'stage:v-env')
    aggregator.assert_metric_has_tag('litellm.proxy.total_requests.metric.count', 'litellm_host:v-host')


def raw_gauges(text):
    """Gauge samples of the rename table's families: {(family, labels without pid): [values]}."""
    grouped = defaultdict(list)
    for metric in families(text):
        if metric.type != 'gauge' or metric.name not in METRIC_MAP:
            continue
        for s in metric.samples:
            labels = frozenset((k, v) for k, v in s.labels.items() if k != 'pid' and v not in ('None', ''))
            grouped[(metric.name, labels)].append(s.value)
    return grouped


def test_multiworker_gauges_combined_per_family(dd_run_check, aggregator, serve_fixture):
    """Two workers: per-worker gauges lose `pid` and are combined by each family's rule."""
    text = read_fixture('real', MULTIWORKER, 'metrics.txt')
    assert text.count(b'pid="') > 50
    run(dd_run_check, serve_fixture('real', MULTIWORKER, 'metrics.txt'))
    aggregator.assert_no_duplicate_metrics()

    def value(name, **labels):
        tags = {f'{k}:{v}' for k, v in labels.items()}
        (match,) = [m.value for m in aggregator.metrics(name) if tags <= set(m.tags)]
        return match

    # Remaining provider limits: the lower of the two workers' last readings (9984 and 9982).
    assert value('litellm.remaining_requests.metric', model_id='gpt-ok-a') == 9982
    assert value('litellm.remaining_requests.metric', model_id='gpt-ok-b') == 9988
    # Deployment state: the worst any worker saw.
    assert value('litellm.deployment.state', model_id='gpt-flaky-bad', litellm_model_name='gpt-flaky') == 2
    # LiteLLM sums these over workers itself (no pid): passed through.
    assert value('litellm.redis.circuit_breaker.state', state='closed') == 2
    assert value('litellm.in_flight_requests') == 1

    # Every combined gauge follows its family's rule, checked against the raw per-worker values.
    rules = {SUM: sum, MIN: min, MAX: max}
    values_by_context = by_context(aggregator)
    checked = 0
    for (family, labels), values in raw_gauges(text).items():
        values = [v for v in values if v == v and abs(v) != float('inf') and v != float(NO_LIMIT_TEXT)]
        if not values:
            continue
        target = METRIC_MAP[family]
        name = 'litellm.' + (target if isinstance(target, str) else target['name'])
        got = values_by_context[(name, frozenset(f'{k}:{v}' for k, v in labels))]
        assert got == rules[GAUGE_COMBINE.get(family, GAUGE_DEFAULT)](values), (family, labels)
        checked += len(values) > 1
    assert checked >= 10


def test_multiworker_keep_pid(dd_run_check, aggregator, serve_fixture):
    run(dd_run_check, serve_fixture('real', MULTIWORKER, 'metrics.txt', keep_labels=['pid']))
    pids = {t for m in aggregator.metrics('litellm.deployment.state') for t in m.tags if t.startswith('pid:')}
    assert pids == {'pid:18570', 'pid:18571'}
    aggregator.assert_no_duplicate_metrics()


def test_gauge_rules_documented_in_metadata():
    """metadata.csv states each gauge's combining rule, as the policy applies it."""
    wording = {SUM: 'summed', MIN: 'lowest', MAX: 'highest'}
    metadata = get_metadata_metrics()
    for family, target in METRIC_MAP.items():
        name = 'litellm.' + (target if isinstance(target, str) else target['name'])
        row = metadata.get(name)
        # Gauge families only: a histogram's distribution row is a gauge too, next to its `.count` row.
        if row is None or row['metric_type'] != 'gauge' or f'{name}.count' in metadata or not isinstance(target, str):
            continue
        rule = GAUGE_COMBINE.get(family, GAUGE_DEFAULT)
        assert f'Combined series: {wording[rule]}' in row['description'], (name, rule)


def test_policy_on_a_series_identity():
    """The policy works on (name, labels) alone, for a parser that caches it per series."""
    policy = TagPolicy()
    labels = {
        'client_ip': '10.1.2.3',
        'user_agent': 'x',
        'team': 'None',
        'api_provider': '',
        'hashed_api_key': 'raw',
        'route': '/chat/completions',
        'le': '0.5',
    }
    assert policy.labels(labels) == {
        'hashed_api_key': hashlib.sha256(b'raw').hexdigest(),
        'route': '/chat/completions',
        'le': '0.5',
    }
    assert policy.combiner('litellm_spend_metric', 'counter', 'litellm_spend_metric_total')(1, 2) == 3
    assert policy.combiner('litellm_remaining_requests_metric', 'gauge', 'litellm_remaining_requests_metric')(5, 3) == 3
    assert policy.combiner('litellm_deployment_state', 'gauge', 'litellm_deployment_state')(0, 2) == 2
    assert policy.combiner('litellm_in_flight_requests', 'gauge', 'litellm_in_flight_requests')(1, 2) == 3


@pytest.mark.parametrize(
    'option, value',
    [('keep_labels', 'client_ip'), ('keep_labels', [1])],
)
def test_bad_options_are_clear_errors(option, value):
    check = LitellmCheck('litellm', {}, [{'openmetrics_endpoint': 'http://127.0.0.1:9/metrics/', option: value}])
    with pytest.raises(ConfigurationError, match=option):
        check.create_scraper(check.instance)
