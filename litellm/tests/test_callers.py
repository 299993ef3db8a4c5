"""The real captures of the harness's `callers` profile (tests/fixtures/real/*-callers): sequences of scrapes of one
proxy as its callers grow (capture.json says how). These tests keep the data known good: what was recorded is what
is committed, no key is in it, it grows run over run, scanners' paths are in `route`, and the check reads it."""

import hashlib
import re

import pytest

from datadog_checks.litellm import LitellmCheck
from datadog_checks.litellm.tags import DEFAULT_BUDGET
from tools.grow import grow_keys

from .common import NEWEST_CALLERS, callers_fixture_dirs, final_scrape, read_capture, scrape_sequence
from .http_server import Response

CAPTURES = callers_fixture_dirs()
# The routes LiteLLM serves that the profile's callers call.
SERVED_ROUTES = {'/v1/chat/completions', '/v1/embeddings'}
# Pass-through prefixes the profile probes (tools/harness/callers.py), as LiteLLM records them in `route`.
PASS_THROUGH = re.compile(
    r'/(openai|anthropic|vertex_ai|vertex-ai|gemini|bedrock|azure|cohere|mistral|assemblyai|vllm)/'
)
# Per-caller families that every release captured fills.
PER_CALLER = ('litellm_spend_metric_total', 'litellm_request_total_latency_metric_bucket')
# Labels the check drops by default (tags.DROPPED_LABELS), with their value and comma.
DROPPED = re.compile(rb'(?:client_ip|user_agent|user_email|pid)="(?:[^"\\]|\\.)*",?')


def label_values(body, label):
    return set(re.findall(rb'[{,]' + label.encode() + rb'="((?:[^"\\]|\\.)*)"', body))


def tag_sets(body, metric):
    """Distinct label sets of one sample name, without the labels the check drops by default."""
    lines = re.findall(rb'^' + re.escape(metric.encode()) + rb'\{(.*)\} ', body, re.M)
    return {DROPPED.sub(b'', labels) for labels in lines}


def test_sequences_from_two_releases():
    assert len({read_capture(c)['litellm_version'] for c in CAPTURES}) >= 2
    for capture in CAPTURES:
        data = read_capture(capture)
        assert data['profile'] == 'callers'
        assert data['proxy_config']['general_settings']['custom_auth'] == 'budget_auth.callers_user_api_key_auth'
        assert data['proxy_config']['litellm_settings']['enable_end_user_cost_tracking_prometheus_only'] is True
        active = [s['active_callers'] for s in data['scrapes']]
        assert len(active) >= 5 and active == sorted(active) and active[-1] == data['callers'] >= 500
        # compressed: a few MB at most per scrape
        assert all(s['compressed_bytes'] < 4 << 20 for s in data['scrapes'])


@pytest.mark.parametrize('capture', CAPTURES)
def test_scrapes_are_the_recorded_bodies_without_keys(capture):
    data = read_capture(capture)
    assert not re.search(r'sk-[0-9a-f]{48}', str(data))
    bodies = list(scrape_sequence(capture))
    assert len(bodies) == len(data['scrapes'])
    for scrape, body in zip(data['scrapes'], bodies, strict=False):
        assert hashlib.sha256(body).hexdigest() == scrape['sha256']
        assert (len(body), body.count(b'\n')) == (scrape['bytes'], scrape['lines'])
        # the callers', guessed and master keys (`sk-` and 48 hex digits, random per run) appear nowhere
        assert not re.search(rb'sk-[0-9a-f]{48}', body), scrape['file']


@pytest.mark.parametrize('capture', CAPTURES)
def test_callers_and_tag_sets_grow_run_over_run(capture):
    data = read_capture(capture)
    keys, sizes = [], []
    for scrape, body in zip(data['scrapes'], scrape_sequence(capture), strict=False):
        keys.append(len(label_values(body, 'hashed_api_key')))
        sizes.append({metric: len(tag_sets(body, metric)) for metric in PER_CALLER})
        assert {m: scrape['metrics'][m]['tag_sets'] for m in PER_CALLER} == sizes[-1]
    # each scrape's callers (plus unknown keys, which LiteLLM labels by their hash too) are more than the one before
    assert keys == sorted(keys) and keys[-1] > data['callers'] > keys[0]
    for metric in PER_CALLER:
        counts = [s[metric] for s in sizes]
        assert counts == sorted(counts) and counts[-1] > counts[-2] and counts[-1] > 5 * counts[0], (metric, counts)
    # a realistic budget (about 1,000 tag sets per metric) is exceeded several times over in the later scrapes
    assert sizes[-1]['litellm_request_total_latency_metric_bucket'] > 5000
    assert max(data['scrapes'][-1]['metrics'][m]['tag_sets'] for m in data['scrapes'][-1]['metrics']) > 5000


@pytest.mark.parametrize('capture', CAPTURES)
def test_probed_paths_are_in_route(capture):
    body = final_scrape(capture)
    routes = label_values(body, 'route')
    routes = {r.decode() for r in routes}
    probed = {r for r in routes if PASS_THROUGH.match(r)}
    assert SERVED_ROUTES <= routes
    # each probe of a random path under a pass-through prefix is its own value
    assert len(probed) >= 50 and len({r.split('/')[1] for r in probed}) >= 5
    assert routes - probed - SERVED_ROUTES <= {'/v1/models'}


@pytest.mark.parametrize('capture', CAPTURES)
def test_the_check_walks_the_sequence(capture, walk_scrapes, aggregator):
    """The check reads every scrape, run after run, in full; no context it submitted goes away as callers grow."""
    data = read_capture(capture)
    contexts = []
    # a whole-body deadline long enough for a shared machine: the default 10 s is wall time
    for index, _ in walk_scrapes(capture, LitellmCheck, timeout=120):
        assert not aggregator.metrics('litellm.scrape.truncated'), data['scrapes'][index]['file']
        assert [s.status for s in aggregator.service_checks('litellm.openmetrics.health')] == [LitellmCheck.OK]
        contexts.append(
            len({(name, frozenset(m.tags)) for name in aggregator.metric_names for m in aggregator.metrics(name)})
        )
    assert contexts == sorted(contexts) and contexts[-1] > contexts[0]


def test_a_full_size_scrape_is_read_whole_at_the_first_run(serve, aggregator):
    """A 3,000-key proxy's scrape (grown from the newest capture, the size of a real one) at the first run, with the
    defaults but `timeout`: every family is read and submitted (not cut by the run's memory budget), within the
    tag budget, and the folding is reported. Its CPU is measured by `make bench`, not here."""
    body = grow_keys(final_scrape(NEWEST_CALLERS).decode(), 3000).encode()
    assert len(body) > 200e6
    server = serve({'/metrics/': Response(body)})
    check = LitellmCheck('litellm', {}, [{'openmetrics_endpoint': f'{server.base_url}/metrics/', 'timeout': 300}])
    check.run()
    assert [s.status for s in aggregator.service_checks('litellm.openmetrics.health')] == [LitellmCheck.OK]
    assert not aggregator.metrics('litellm.scrape.truncated')
    per_metric = {name: len({frozenset(m.tags) for m in aggregator.metrics(name)}) for name in aggregator.metric_names}
    assert max(per_metric.values()) <= DEFAULT_BUDGET
    folded = {tag: m.value for m in aggregator.metrics('litellm.scrape.folded_series') for tag in m.tags}
    assert folded['metric:litellm.request.total_latency.metric'] > 50_000
