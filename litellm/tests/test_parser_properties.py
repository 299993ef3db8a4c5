"""Real captures damaged at random (lines cut, lines inserted, bytes corrupted, odd label values): the run never
fails, every family the damage did not touch is submitted exactly as from the intact capture, and the key
never shows in a log, a message or a tag."""

import logging
import os
import re

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from datadog_checks.litellm import LitellmCheck
from datadog_checks.litellm.line_filters import RAW_LINE_FILTERS
from datadog_checks.litellm.metrics import BUNDLED_CHECK_NAMES, METRIC_MAP

from .common import REAL_FIXTURES, real_fixture_dirs
from .http_server import LocalServer, Response

FILTERED = re.compile('|'.join(RAW_LINE_FILTERS))
TOKEN = 'sk-property-0123456789abcdefghijklmnopqrstuvwxyz'
NOW = 2e9
CAPTURES = {
    version: open(os.path.join(REAL_FIXTURES, version, 'metrics.txt'), 'rb').read() for version in real_fixture_dirs()
}

GARBAGE = [
    b'<<garbage line>>',
    b'litellm_requests_metric_total{model="fo"o"} 1.0',
    b'litellm_requests_metric_total{model="a",model="b"} 1.0',
    b'litellm_requests_metric_total{model="a"} one',
    b'litellm_requests_metric_total{model="a"',
    b'litellm_requests_metric_total',
    b'{"quoted.name"} 1',
    b'\xff\xfe\x00\x01 1.0',
    b'litellm_in_flight_requests{x="\xc3\x28"} 1.0',
    b'litellm_in_flight_requests{x="' + b'z' * 70_000 + b'"} 1.0',
    b'litellm_requests_metric_total{hashed_api_key="' + TOKEN.encode() + b'"} 1.0',
    b'litellm_requests_metric_total{hashed_api_key="' + TOKEN[:-1].encode() + b'\xff"} 1.0',
    b'unmapped_untyped_sample 1.0',
    b'# a comment',
    b'',
]
ODD_VALUES = [b'fo"o', b'\\', b'ends\\', b'"', b'\x00', b'\xe2\x82', TOKEN.encode(), b'}{', b'\\"']


@st.composite
def damage(draw, lines):
    """(kind, line index, detail): applied from the last line to the first so indexes stay right."""
    kind = draw(st.sampled_from(['cut', 'insert', 'corrupt', 'label']))
    index = draw(st.integers(0, len(lines) - 1))
    if kind == 'cut':
        return kind, index, draw(st.integers(0, max(0, len(lines[index]) - 1)))
    if kind == 'insert':
        return kind, index, draw(st.sampled_from(GARBAGE))
    if kind == 'corrupt':
        return kind, index, (draw(st.integers(0, max(0, len(lines[index]) - 1))), draw(st.integers(0, 255)))
    return kind, index, draw(st.sampled_from(ODD_VALUES))


def apply(lines, damages):
    """The damaged lines, and the indexes (in the intact capture) of the lines the damage touched."""
    lines = list(lines)
    touched = set()
    for kind, index, detail in sorted(damages, key=lambda d: d[1], reverse=True):
        line = lines[index]
        if kind == 'cut':
            lines[index] = line[:detail]
            touched.add(index)
        elif kind == 'insert':
            lines.insert(index, detail)
            touched.add(index - 1)  # it lies after the line before: in that line's family
        elif kind == 'corrupt':
            position, byte = detail
            lines[index] = line[:position] + bytes([byte]) + line[position + 1 :]
            touched.add(index)
        else:
            match = re.search(rb'="((?:[^"\\]|\\.)*)"', line)
            if match:
                lines[index] = line[: match.start(1)] + detail + line[match.end(1) :]
                touched.add(index)
    # A damaged HELP or TYPE line no longer starts its family: what follows it may count for the family before.
    touched |= {index - 1 for index in touched}
    return lines, touched


def family_of_each_line(lines):
    """The family (its HELP name) each line of an intact capture belongs to, as the check reads it: the lines
    of the default `raw_line_filters` are dropped first, so a family ends at the next family it keeps."""
    families, current = [], None
    for line in lines:
        if line.startswith(b'# HELP ') and not FILTERED.search(line.decode()):
            current = line.split()[2].decode()
        families.append(current)
    return families


def datadog_names(family):
    """The metrics a LiteLLM family is submitted as."""
    family = family.removesuffix('_total')
    target = METRIC_MAP.get(family)
    if target is None:
        return set()
    name = 'litellm.' + (target if isinstance(target, str) else target['name'])
    names = {name, f'{name}.count', f'{name}.bucket', f'{name}.sum'}
    # Also sent under the bundled 2.x check's name (`bundled_check_names`, on by default).
    return names | {f'litellm.{BUNDLED_CHECK_NAMES[n[8:]]}' for n in names if n[8:] in BUNDLED_CHECK_NAMES}


def submitted(aggregator):
    return sorted(
        (m.name, m.type, m.value, tuple(sorted(m.tags)))
        for name in aggregator.metric_names
        if not name.startswith('litellm.scrape.')
        for m in aggregator.metrics(name)
    )


@pytest.fixture(scope='module')
def server():
    with LocalServer({}) as server:
        yield server


def scrape(aggregator, server, body):
    server.routes['/metrics/'] = Response(body)
    instance = {
        'openmetrics_endpoint': f'{server.base_url}/metrics/',
        'headers': {'Authorization': f'Bearer {TOKEN}'},
        'collect_readiness': False,
    }
    aggregator.reset()
    check = LitellmCheck('litellm', {}, [instance])
    error = check.run()
    return check, error


@settings(
    max_examples=int(os.environ.get("PARSER_EXAMPLES", 25)),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_damage_costs_only_the_families_it_touches(aggregator, server, caplog, monkeypatch, data):
    monkeypatch.setattr(
        'datadog_checks.base.checks.openmetrics.v2.transformers.time_elapsed.get_timestamp', lambda: NOW
    )
    version = data.draw(st.sampled_from(sorted(CAPTURES)))
    lines = CAPTURES[version].split(b'\n')[:-1]
    damages = data.draw(st.lists(damage(lines), min_size=1, max_size=4))
    damaged, touched = apply(lines, damages)
    # A body that starts with `<` is refused whole as an HTML page (body.py): not a damaged line.
    assume(not b'\n'.join(damaged).lstrip().startswith(b'<'))

    _, error = scrape(aggregator, server, b'\n'.join(lines) + b'\n')
    assert not error
    intact = submitted(aggregator)

    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        check, error = scrape(aggregator, server, b'\n'.join(damaged) + b'\n')
    # 1. The run never fails: a damaged line costs that line.
    assert not error, error
    # 2. Every family the damage did not touch is submitted as from the intact capture. Families touched are
    # those holding a damaged line; families submitted under one name (renamed across LiteLLM versions) go
    # together.
    families = family_of_each_line(lines)
    touched_names = set().union(*(datadog_names(families[i]) for i in touched if i >= 0 and families[i]))
    untouched = [s for s in submitted(aggregator) if s[0] not in touched_names]
    assert untouched == [s for s in intact if s[0] not in touched_names]
    # 3. The key never shows: not in a log line, a service check message, a warning or a tag.
    texts = [record.getMessage() for record in caplog.records]
    texts += [s.message or '' for name in aggregator.service_check_names for s in aggregator.service_checks(name)]
    texts += check.warnings
    texts += [tag for name in aggregator.metric_names for m in aggregator.metrics(name) for tag in m.tags]
    for text in texts:
        assert TOKEN[4:20] not in text and TOKEN[-16:] not in text, text
