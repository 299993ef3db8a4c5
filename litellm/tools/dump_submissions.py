"""Print, one JSON line each, what the check submits for every real capture: metrics (name, type, value, sorted
tags) and service checks, over two runs (the second one reads from the series cache).

scripts/test-agent-range.sh runs it in each supported environment (Python, datadog-checks-base) with the installed
wheel and diffs the outputs: the same capture must give the same submissions everywhere. Run from `litellm/`:
`python -m tools.dump_submissions [capture ...]` (default: every capture under tests/fixtures/real/).
"""

import json
import os
import sys
from unittest import mock

from datadog_checks.base.checks.openmetrics.v2.transformers import time_elapsed
from datadog_checks.base.stubs import aggregator, datadog_agent
from datadog_checks.litellm import LitellmCheck
from tests.common import REAL_FIXTURES, real_fixture_dirs
from tests.http_server import LocalServer, Response

# A fixed clock: `litellm.process.uptime.seconds` is "now" minus the proxy's start time.
NOW = 2_000_000_000.0
RUNS = 2


def routes(capture):
    """The capture's proxy: its scrape (the one after traffic, else the only one) and its readiness answer."""
    folder = os.path.join(REAL_FIXTURES, capture)

    def read(name):
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            return None
        with open(path, 'rb') as f:
            return f.read()

    served = {'/metrics/': Response(read('metrics.txt'))}
    readiness = read('readiness.json')
    if readiness is not None:
        served['/health/readiness'] = Response(readiness, content_type='application/json')
    return served


def dump(capture, out):
    aggregator.reset()
    datadog_agent.reset()
    with LocalServer(routes(capture)) as server, mock.patch.object(time_elapsed, 'get_timestamp', lambda: NOW):
        check = LitellmCheck('litellm', {}, [{'openmetrics_endpoint': f'{server.base_url}/metrics/'}])
        check.check_id = 'litellm:dump'
        for run in range(1, RUNS + 1):
            aggregator.reset()
            error = check.run()

            def local(text):
                return text.replace(server.base_url, 'http://proxy') if isinstance(text, str) else text

            rows = []
            for name in aggregator.metric_names:
                for m in aggregator.metrics(name):
                    rows.append(['metric', m.name, m.type, m.value, sorted(local(t) for t in m.tags)])
            for name in aggregator.service_check_names:
                for s in aggregator.service_checks(name):
                    rows.append(['service_check', s.name, s.status, local(s.message), sorted(local(t) for t in s.tags)])
            if error:
                rows.append(['run_error', local(json.loads(error)[0].get('message', ''))])
            for row in sorted(rows, key=json.dumps):
                out.write(json.dumps([capture, run, *row], sort_keys=True) + '\n')


def main(argv):
    captures = argv or real_fixture_dirs()
    for capture in captures:
        dump(capture, sys.stdout)


if __name__ == '__main__':
    main(sys.argv[1:])
