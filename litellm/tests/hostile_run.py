"""One scrape of a hostile endpoint in a fresh process, for bounds that need a clean peak RSS:
`python -m tests.hostile_run bomb|line-bomb|trickle|big|family|family-combined [timeout]` prints JSON with the
run's wall time, the growth of the peak RSS over the run, the health status and message. Only loopback is used."""

import json
import re
import resource
import sys
import threading
import time

from datadog_checks.litellm import LitellmCheck

from . import misbehaving_server as raw
from .common import NEWEST, read_fixture

LINE = b'litellm_proxy_total_requests_metric_total{requested_model="m",team="t"} 1.0\n'


def play_for(scenario, release):
    if scenario == 'bomb':  # 486 KB inflating to 500 MB of zeros
        return raw.gzip_bomb(release, 500)
    if scenario == 'line-bomb':  # one endless family, compressed
        prefix = b'# TYPE litellm_proxy_total_requests_metric_total counter\n'
        return raw.gzip_bomb(release, 500, block=LINE * ((1 << 20) // len(LINE)), prefix=prefix)
    if scenario == 'trickle':
        return raw.trickle(read_fixture('real', NEWEST, 'metrics.txt'), release, lines_per_step=1, interval=0.05)
    if scenario == 'big':  # 60 MB of real families: the capture repeated, each copy under its own names
        return big_real_body(release, 60_000_000)
    if scenario in ('family', 'family-combined'):  # one 60 MB family of the rename table, every series new
        return one_big_family(60_000_000, combined=scenario == 'family-combined')
    raise SystemExit(f'unknown scenario {scenario}')


def one_big_family(size, combined):
    """Distinct series (or, `combined`, per-caller series the tag policy combines by model), built before the run."""
    lines = [b'# TYPE litellm_proxy_total_requests_metric_total counter\n']
    total, i = 0, 0
    while total < size:
        if combined:
            labels = b'requested_model="m%d",team="t",client_ip="10.%d.%d.%d"' % (
                i % 50,
                i >> 16 & 255,
                i >> 8 & 255,
                i & 255,
            )
        else:
            labels = b'requested_model="model-%d",team="t"' % i
        lines.append(b'litellm_proxy_total_requests_metric_total{%s} 1.0\n' % labels)
        total += len(lines[-1])
        i += 1
    body = b''.join(lines)
    payload = raw.response_head(
        200, 'OK', {'Content-Type': raw.PROMETHEUS_CONTENT_TYPE, 'Content-Length': str(len(body))}
    )
    payload += body

    def play(conn, path):
        conn.sendall(payload)

    return play


FAMILY_NAME = re.compile(rb'(?m)^((?:# (?:HELP|TYPE) )?)(?=[A-Za-z_])')


def big_real_body(release, size):
    body = read_fixture('real', NEWEST, 'metrics.txt')
    head = raw.response_head(200, 'OK', {'Content-Type': raw.PROMETHEUS_CONTENT_TYPE, 'Connection': 'close'})

    def play(conn, path):
        conn.sendall(head)
        sent, copy = 0, 0
        while sent < size and not release.is_set():
            # Each copy's families get a prefix of their own: distinct families, no series repeated.
            data = FAMILY_NAME.sub(rb'\1c%d_' % copy, body)
            conn.sendall(data)
            sent += len(data)
            copy += 1

    return play


def rss_mb(field='VmHWM'):
    """Peak (or current) resident memory in MB. The peak is reset first where Linux allows it, so that building a
    scenario's payload before the run does not hide the run's own peak."""
    try:
        with open('/proc/self/status') as f:
            return next(int(line.split()[1]) for line in f if line.startswith(field + ':')) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak():
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')  # VmHWM starts again from the current resident set
    except OSError:
        pass


def main(scenario, timeout=2.0):
    release = threading.Event()
    with raw.RawServer(play_for(scenario, release)) as server:
        instance = {
            'openmetrics_endpoint': f'{server.base_url}/metrics/',
            'timeout': timeout,
            'collect_readiness': False,
        }
        check = LitellmCheck('litellm', {}, [instance])
        check.is_metadata_collection_enabled = lambda: False
        reset_peak()
        before = rss_mb('VmRSS')
        start = time.monotonic()
        error = check.run()
        seconds = time.monotonic() - start
        growth = rss_mb() - before
        release.set()
    from datadog_checks.base.stubs import aggregator

    health = aggregator.service_checks('litellm.openmetrics.health')
    print(
        json.dumps(
            {
                'scenario': scenario,
                'seconds': round(seconds, 2),
                'rss_growth_mb': round(growth, 1),
                'status': health[-1].status if health else None,
                'message': health[-1].message if health else None,
                'error': json.loads(error)[0]['message'] if error else '',
            }
        )
    )


if __name__ == '__main__':
    main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 2.0)
