"""The benchmark's grown payload is valid exposition text with every caller-labelled series once per caller."""

import re

from prometheus_client.parser import text_string_to_metric_families

from tools.grow import CALLER_LABELS, COPIED_LABELS, caller, grow, grow_keys

from .common import NEWEST, read_fixture

SEED = read_fixture('real', NEWEST, 'metrics.txt', mode='r')


def caller_key(sample):
    return sample.name, tuple(sorted((k, v) for k, v in sample.labels.items() if k not in CALLER_LABELS))


def test_grown_payload_parses_to_the_seed_families_times_callers():
    callers = 3
    seed = list(text_string_to_metric_families(SEED))
    grown = list(text_string_to_metric_families(grow(SEED, callers)))
    # Same families, same types, in the same order: HELP/TYPE kept once per family.
    assert [(f.name, f.type) for f in grown] == [(f.name, f.type) for f in seed]

    identities = [caller(i) for i in range(callers)]
    for before, after in zip(seed, grown, strict=True):
        plain = [s for s in before.samples if not CALLER_LABELS & s.labels.keys()]
        templates = {caller_key(s) for s in before.samples if CALLER_LABELS & s.labels.keys()}
        assert [s for s in after.samples if not CALLER_LABELS & s.labels.keys()] == plain, before.name
        per_caller = [s for s in after.samples if CALLER_LABELS & s.labels.keys()]
        assert len(per_caller) == callers * len(templates), before.name
        for sample in per_caller:
            # Each series is one caller's: all its caller labels carry that caller's values.
            values = {k: v for k, v in sample.labels.items() if k in CALLER_LABELS}
            assert any(values.items() <= identity.items() for identity in identities), sample
        assert {caller_key(s) for s in per_caller} == templates, before.name


def test_callers_look_real_and_distinct():
    identities = [caller(i) for i in range(300)]
    keys = {c['hashed_api_key'] for c in identities}
    assert len(keys) == 300 and all(re.fullmatch(r'[0-9a-f]{64}', k) for k in keys)
    assert len({c['team'] for c in identities}) == 75  # four keys per team
    assert len({c['client_ip'] for c in identities}) > 5 and len({c['user_agent'] for c in identities}) > 2


def test_fifty_callers_match_the_issue_payload():
    """The issue measured a 42,752-line, ~16 MB payload grown from a 1.110 capture for 50 callers."""
    payload = grow(SEED, 50)
    assert abs(payload.count('\n') - 42752) / 42752 < 0.02
    assert 15e6 < len(payload.encode()) < 19e6


def test_grow_keys_copies_each_key_with_its_own_mix():
    """A capture's keys copied to more keys: each copy has a key's series with fresh key, alias, user, end user and
    team; series of no key are kept once."""
    seed = read_fixture('real', f'{NEWEST}-budgets', 'metrics.txt', mode='r')
    have = set(re.findall(r'hashed_api_key="([0-9a-f]{64})"', seed))
    grown = grow_keys(seed, 2 * len(have) + 1)
    keys = set(re.findall(r'hashed_api_key="([0-9a-f]{64})"', grown))
    assert have < keys and len(keys) == 2 * len(have) + 1
    seed_families = list(text_string_to_metric_families(seed))
    grown_families = list(text_string_to_metric_families(grown))
    assert [(f.name, f.type) for f in grown_families] == [(f.name, f.type) for f in seed_families]
    for before, after in zip(seed_families, grown_families, strict=True):
        series = {(s.name, tuple(sorted(s.labels.items()))) for s in after.samples}
        assert len(series) == len(after.samples), after.name  # no series twice
        originals = {(s.name, tuple(sorted(s.labels.items()))) for s in before.samples}
        assert originals <= series
        for sample in after.samples:
            if (sample.name, tuple(sorted(sample.labels.items()))) in originals:
                continue
            # a copy: an original series whose copied labels end in the copy number, its key hashed afresh
            copy = {k: v for k, v in sample.labels.items() if k in COPIED_LABELS and v not in ('None', '')}
            assert copy.get('hashed_api_key', '') not in have
            suffixes = {v.rsplit('~', 1)[1] for k, v in copy.items() if k != 'hashed_api_key'}
            assert len(suffixes) <= 1, sample
    # a series without a key, user, end user or team stays once
    assert grown.count('litellm_deployment_state{') == seed.count('litellm_deployment_state{')
