"""One scrape of a hostile endpoint in a fresh process, for bounds that need a clean peak RSS:
`python -m tests.hostile_run bomb|line-bomb|trickle|big [timeout]` prints JSON with the run's wall time, the
growth of the peak RSS over the run, the health status and message. Only loopback is used."""

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
    raise SystemExit(f'unknown scenario {scenario}')


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


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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
        before = rss_mb()
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
