"""A body cut inside lines the raw line filters drop: the complete family before them is submitted when those lines
began another family (a counter's `_created` family in the text format, the proxy's own `python_`/`process_`
families, any family a user's `raw_line_filters` drop), and dropped when they are part of it (OpenMetrics
`_created` samples). Every cut position, plain or gzip, both parsers."""

import zlib

import pytest

from datadog_checks.base.constants import ServiceCheck
from datadog_checks.litellm import LitellmCheck

from . import misbehaving_server as raw
from .parser_payloads import OPENMETRICS_CONTENT_TYPE

HEALTH = 'litellm.openmetrics.health'
REQUESTS = 'litellm.requests.metric.count'
SPEND = 'litellm.spend.metric.count'
COUNTER = (
    '# HELP litellm_requests_metric_total Requests\n# TYPE litellm_requests_metric_total counter\n'
    'litellm_requests_metric_total{model="a"} 5.0\nlitellm_requests_metric_total{model="b"} 2.0\n'
)
CREATED = (
    '# HELP litellm_requests_metric_created Requests\n# TYPE litellm_requests_metric_created gauge\n'
    'litellm_requests_metric_created{model="a"} 1.7e9\nlitellm_requests_metric_created{model="b"} 1.7e9\n'
)
RUNTIME = '# HELP python_gc_objects_collected_total Objects\n# TYPE python_gc_objects_collected_total counter\n'
RUNTIME += 'python_gc_objects_collected_total{generation="0"} 12.0\n'
# Dropped by a user's own filter: any family can be.
CUSTOM = '# HELP litellm_spend_metric_total Spend\n# TYPE litellm_spend_metric_total counter\n'
CUSTOM += 'litellm_spend_metric_total{model="a"} 1.5\n'
AFTER = '# HELP litellm_total_tokens_total Tokens\n# TYPE litellm_total_tokens_total counter\n'
AFTER += 'litellm_total_tokens_total{model="a"} 9.0\n'
BLOCKS = {
    'created': (CREATED, {}),
    'runtime': (RUNTIME, {}),
    'custom filter': (CUSTOM, {'raw_line_filters': ['^(# [A-Z]+ )?litellm_spend']}),
}


def gzip_cut(body, keep):
    """A gzip stream that decodes to exactly body[:keep] and then stops (flushed there, never finished)."""
    encoder = zlib.compressobj(wbits=31)
    head = encoder.compress(body[:keep]) + encoder.flush(zlib.Z_SYNC_FLUSH)
    return head + encoder.compress(body[keep:]) + encoder.flush(), len(head)


def play(body, keep, compressed):
    if not compressed:
        return raw.cut_body(body, keep)
    stream, sent = gzip_cut(body, keep)
    head = raw.response_head(
        200,
        'OK',
        {'Content-Type': raw.PROMETHEUS_CONTENT_TYPE, 'Content-Encoding': 'gzip', 'Content-Length': str(len(stream))},
    )
    return raw.send(head + stream[:sent])


def cut_run(dd_run_check, aggregator, body, keep, compressed, fast_parser, options):
    aggregator.reset()
    with raw.RawServer(play(body, keep, compressed)) as server:
        instance = {'openmetrics_endpoint': f'{server.base_url}/metrics/', 'fast_parser': fast_parser, **options}
        check = LitellmCheck('litellm', {}, [{**instance, 'collect_readiness': False}])
        dd_run_check(check)
    (health,) = aggregator.service_checks(HEALTH)
    return {
        tuple(sorted(t for t in m.tags if not t.startswith('endpoint'))): m.value for m in aggregator.metrics(REQUESTS)
    }, health


@pytest.mark.parametrize('fast_parser', [True, False], ids=['fast', 'base'])
@pytest.mark.parametrize('compressed', [False, True], ids=['plain', 'gzip'])
@pytest.mark.parametrize('block', sorted(BLOCKS))
def test_a_cut_inside_dropped_lines_of_another_family_keeps_the_family_before(
    dd_run_check, aggregator, block, compressed, fast_parser
):
    dropped, options = BLOCKS[block]
    body = (COUNTER + dropped + AFTER).encode()
    start = len(COUNTER)
    # Every cut from inside the first dropped line to inside the last (a cut right after the counter's last line
    # cannot tell a finished family from one that goes on: dropped, as any cut family).
    # Each byte of the first line's head (`#`, `# H`, ... `# HELP name`), then every fifth byte and each line's end.
    ends = [start + i + 1 for i, char in enumerate(dropped) if char == '\n'][:-1]
    cuts = sorted(
        {*range(start + 1, start + 16), *range(start + 16, start + len(dropped), 5), *ends, *(e + 1 for e in ends)}
    )
    for keep in cuts:
        got, health = cut_run(dd_run_check, aggregator, body, keep, compressed, fast_parser, options)
        assert got == {('model:a',): 5.0, ('model:b',): 2.0}, (keep, body[start:keep])
        assert health.status == ServiceCheck.WARNING and 'cut short' in health.message, health.message


@pytest.mark.parametrize('fast_parser', [True, False], ids=['fast', 'base'])
def test_a_cut_at_the_end_of_a_family_still_drops_it(dd_run_check, aggregator, fast_parser):
    # Nothing says the family ended: it may miss series.
    body = (COUNTER + CREATED).encode()
    got, health = cut_run(dd_run_check, aggregator, body, len(COUNTER), False, fast_parser, {})
    assert got == {} and health.status == ServiceCheck.WARNING


def test_a_cut_inside_dropped_samples_of_the_same_family_drops_it(dd_run_check, aggregator):
    # OpenMetrics: `_created` samples are the counter's own, between its series: a cut among them cuts the family.
    text = (
        '# HELP litellm_requests_metric Requests\n# TYPE litellm_requests_metric counter\n'
        'litellm_requests_metric_total{model="a"} 5.0\nlitellm_requests_metric_created{model="a"} 1.7e9\n'
        'litellm_requests_metric_total{model="b"} 2.0\nlitellm_requests_metric_created{model="b"} 1.7e9\n# EOF\n'
    )
    body = text.encode()
    start = body.index(b'litellm_requests_metric_created')
    for keep in range(start + 1, body.index(b'\n', start) + 1):
        aggregator.reset()
        with raw.RawServer(raw.cut_body(body, keep, content_type=OPENMETRICS_CONTENT_TYPE)) as server:
            check = LitellmCheck('litellm', {}, [{'openmetrics_endpoint': f'{server.base_url}/metrics/'}])
            dd_run_check(check)
        assert not aggregator.metrics(REQUESTS), keep
