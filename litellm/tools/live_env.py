"""The live environment: the pinned LiteLLM proxy on 127.0.0.1, for the `dd_environment` fixture, `make live-env`
and `make demo`.

The proxy, its fake upstream and its Redis cache come from harness/proxy.py (load balancing, fallbacks,
cooldowns, `callbacks: ["prometheus"]`, `service_callback: ["prometheus_system"]`). /metrics keeps LiteLLM's
default auth, so readiness is watched on /health/readiness, the one route that answers without the key.

    python -m tools.live_env install    # from litellm/: install (or reuse) the LiteLLM venv and redis-server
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time

from datadog_checks.dev.conditions import CheckEndpoints, WaitFor
from datadog_checks.dev.env import environment_run, get_state, save_state, tear_down_env
from tests.common import LITELLM_VERSION

from .harness import proxy as harness

READINESS_PATH = '/health/readiness'
NO_REDIS = 'redis-server is not installed and could not be (apt-get as root): the proxy runs without its cache'
# Where `ddev env start` leaves what `ddev env stop` must kill (the two run in different processes).
_E2E_STATE = 'litellm_live_processes'


class Unavailable(Exception):
    """This machine cannot install what the live environment needs."""


def in_ci() -> bool:
    return os.environ.get('CI', '').lower() in ('1', 'true', 'yes')


def install(version: str = LITELLM_VERSION) -> dict:
    """Install (or reuse) the LiteLLM venv and redis-server. Progress goes to stderr."""
    try:
        venv = harness.ensure_litellm_venv(version)
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        raise Unavailable(f'cannot install LiteLLM {version}: {exc}') from exc
    return {'litellm': version, 'venv': str(venv), 'redis_server': harness.find_redis_server(install=True)}


def wait_ready(stack, attempts: int = 240, wait: float = 0.5) -> None:
    CheckEndpoints(stack.base_url + READINESS_PATH, timeout=5, attempts=attempts, wait=wait)()


def counter_samples(stack) -> dict:
    """LiteLLM's counter and histogram-count samples in one authenticated scrape: {series: value}.

    The auth service's own counters are left out: every authenticated scrape moves them.
    """
    res = harness.scrape_metrics(stack)
    if res.status != 200:
        raise RuntimeError(f'GET /metrics/ answered {res.status}')
    samples = {}
    for line in res.text.splitlines():
        name = line.split('{', 1)[0].split(' ', 1)[0]
        if name.startswith('litellm_') and not name.startswith('litellm_auth_') and name.endswith(('_total', '_count')):
            series, value = line.rsplit(' ', 1)
            samples[series] = float(value)
    return samples


def wait_settled(stack, quiet: float = 1.0, attempts: int = 120, wait: float = 0.25) -> None:
    """Wait until the counters stop moving for `quiet` seconds: LiteLLM counts a request in callbacks that end
    after the response."""
    last = {}

    def quiet_enough():
        samples, now = counter_samples(stack), time.monotonic()
        if samples != last.get('samples'):
            last.update(samples=samples, since=now)
        return now - last['since'] >= quiet

    WaitFor(quiet_enough, attempts=attempts, wait=wait)()


def send_traffic(stack, rounds: int = 1) -> dict:
    """One round of every kind of request (harness.drive_traffic, with the budget traffic when the stack runs the
    budgets profile), counted by the proxy when this returns."""
    sent = harness.drive_traffic(stack, rounds=rounds, profile=stack.profile)
    wait_settled(stack)
    return sent


def start(version: str = LITELLM_VERSION, traffic: bool = True, profile: str = 'default'):
    """Start upstream, Redis and the proxy, wait until ready, and send a first round of traffic. Returns the Stack.

    profile='budgets' (`make demo`) adds the harness's custom auth with budgets and rate limits, and its traffic.
    """
    stack = harness.launch(version, keep_workdir=False, profile=profile)
    try:
        wait_ready(stack)
        if traffic:
            send_traffic(stack)
    except BaseException:
        stack.keep_workdir = True  # the logs explain the failure
        stack.stop()
        harness.log(f'live environment failed; logs kept in {stack.workdir}')
        raise
    return stack


@contextlib.contextmanager
def running(version: str = LITELLM_VERSION, traffic: bool = True, profile: str = 'default'):
    stack = start(version, traffic, profile)
    try:
        yield stack
    finally:
        stack.stop()


def instance(stack, auth: bool = True) -> dict:
    """The instance as a user writes it: the documented /metrics URL (LiteLLM redirects it) and a Bearer header."""
    config = {'openmetrics_endpoint': f'{stack.base_url}/metrics'}
    if auth:
        config['headers'] = {'Authorization': f'Bearer {stack.master_key}'}
    return config


def _process_groups(stack) -> list:
    parts = (stack.proxy, stack.upstream, stack.redis)
    return [part.process.pgid for part in parts if part is not None and part.process is not None]


def _kill_groups(groups: list, timeout: float = 15.0) -> None:
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        alive = []
        for pgid in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, sig)
                alive.append(pgid)
        deadline = time.monotonic() + wait
        while alive and time.monotonic() < deadline:
            time.sleep(0.2)
            alive = [g for g in alive if _group_exists(g)]
        if not alive:
            return


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


@contextlib.contextmanager
def dd_environment_run(version: str = LITELLM_VERSION):
    """The environment the integrations-core way (`environment_run`); yields (stack, instance).

    Under pytest it is started and stopped around the session. `ddev env start` only sets it up and
    `ddev env stop` only tears it down, in another process: the processes then outlive the first run and
    their process groups travel in the E2E state (stack is None in the second run).
    """
    live = {}

    def up():
        live['stack'] = stack = start(version)
        if not tear_down_env():
            atexit.unregister(harness.stop_all_processes)
            save_state(_E2E_STATE, {'groups': _process_groups(stack), 'workdir': str(stack.workdir)})
        return instance(stack)

    def down():
        if 'stack' in live:
            live['stack'].stop()
            return
        saved = get_state(_E2E_STATE) or {}
        _kill_groups(saved.get('groups', []))
        if saved.get('workdir'):
            shutil.rmtree(saved['workdir'], ignore_errors=True)

    with environment_run(up=up, down=down) as config:
        yield live.get('stack'), config


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('command', choices=['install'])
    parser.add_argument('--version', default=LITELLM_VERSION, help='LiteLLM release (default: the pinned one)')
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        got = install(args.version)
    except Unavailable as exc:
        print(f'live-env: {exc}', file=sys.stderr)
        if in_ci():
            return 1
        print('live-env: the live tests will skip with this reason', file=sys.stderr)
        return 0
    redis = got['redis_server'] or f'none ({NO_REDIS})'
    print(
        f'live-env: LiteLLM {args.version} in {got["venv"]}; redis-server: {redis} ({time.monotonic() - started:.0f}s)'
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
