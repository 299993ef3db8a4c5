"""The names Datadog's bundled check (2.x) gives three token families: sent next to this check's names by default,
with the same values and tags, and not at all with `bundled_check_names: false`."""

from collections import defaultdict

import pytest
from prometheus_client.parser import text_string_to_metric_families

from datadog_checks.litellm import LitellmCheck
from datadog_checks.litellm.metrics import BUNDLED_CHECK_NAMES

from .common import NEWEST, read_fixture
from .http_server import Response

# (payload, LiteLLM family, this check's name, the 2.x name): each family as a release of LiteLLM exports it.
NEWEST_SCRAPE = ('real', NEWEST, 'metrics.txt')
CASES = [
    (NEWEST_SCRAPE, 'litellm_input_tokens_metric', 'input.tokens.count', 'input_tokens.metric.count'),
    (NEWEST_SCRAPE, 'litellm_output_tokens_metric', 'output.tokens.count', 'output_tokens.metric.count'),
    (NEWEST_SCRAPE, 'litellm_remaining_tokens_metric', 'remaining_tokens', 'remaining_tokens.metric'),
    # LiteLLM 1.80.11 still exports the predecessor family; the 2.x name follows the value whichever family fed it.
    (('real', '1.80.11', 'metrics.txt'), 'litellm_remaining_tokens', 'remaining_tokens', 'remaining_tokens.metric'),
]


def series(aggregator, name):
    return sorted((m.type, m.value, tuple(sorted(m.tags))) for m in aggregator.metrics(f'litellm.{name}'))


def family_total(payload, family):
    """Sum of the family's samples in the payload (its `_total` samples for a counter)."""
    for parsed in text_string_to_metric_families(read_fixture(*payload, mode='r')):
        if parsed.name == family:
            return sum(s.value for s in parsed.samples if not s.name.endswith('_created'))
    raise AssertionError(f'{family} is not in {payload}')


def scrape(dd_run_check, serve_fixture, payload, **options):
    instance = serve_fixture(*payload, **options)
    dd_run_check(LitellmCheck('litellm', {}, [instance]))


def test_every_bundled_name_is_covered():
    assert {(seed, bundled) for _, _, seed, bundled in CASES} == set(BUNDLED_CHECK_NAMES.items())


@pytest.mark.parametrize('payload, family, seed, bundled', CASES, ids=lambda v: v if isinstance(v, str) else None)
def test_sent_under_both_names_by_default(dd_run_check, aggregator, serve_fixture, payload, family, seed, bundled):
    scrape(dd_run_check, serve_fixture, payload)
    ours, theirs = series(aggregator, seed), series(aggregator, bundled)
    assert ours and theirs == ours
    # The values are LiteLLM's: summed over tag sets they give the family's total (no sentinel in these captures).
    assert sum(value for _, value, _ in theirs) == pytest.approx(family_total(payload, family))
    tag_names = defaultdict(set)
    for _, _, tags in theirs:
        for tag in tags:
            tag_names[tag.split(':', 1)[0]].add(tag)
    assert 'endpoint' in tag_names and 'client_ip' not in tag_names  # the tag policy applies to both names


@pytest.mark.parametrize('payload, family, seed, bundled', CASES, ids=lambda v: v if isinstance(v, str) else None)
def test_not_sent_when_turned_off(dd_run_check, aggregator, serve_fixture, payload, family, seed, bundled):
    scrape(dd_run_check, serve_fixture, payload, bundled_check_names=False)
    assert series(aggregator, seed)
    assert not series(aggregator, bundled)


def test_turning_it_off_changes_nothing_else(dd_run_check, aggregator, serve):
    server = serve({'/metrics/': Response(read_fixture(*NEWEST_SCRAPE))})
    instance = {'openmetrics_endpoint': f'{server.base_url}/metrics/'}
    dd_run_check(LitellmCheck('litellm', {}, [instance]))
    with_aliases = {n: series(aggregator, n[len('litellm.') :]) for n in aggregator.metric_names}
    aggregator.reset()
    dd_run_check(LitellmCheck('litellm', {}, [{**instance, 'bundled_check_names': False}]))
    without = {n: series(aggregator, n[len('litellm.') :]) for n in aggregator.metric_names}
    bundled = {f'litellm.{name}' for name in BUNDLED_CHECK_NAMES.values()}
    assert set(with_aliases) - set(without) == bundled
    for name, submitted in without.items():
        if name not in ('litellm.process.uptime.seconds', 'litellm.scrape.series'):  # the clock; the count below
            assert with_aliases[name] == submitted, name
    # `litellm.scrape.series` counts what was submitted, the 2.x names included.
    added = sum(len(with_aliases[name]) for name in bundled)
    [(_, with_count, _)] = with_aliases['litellm.scrape.series']
    [(_, without_count, _)] = without['litellm.scrape.series']
    assert with_count == without_count + added
