import os

import pytest

from .common import read_fixture, scrape_sequence
from .http_server import LocalServer, Response


@pytest.fixture
def serve():
    """Start a loopback server for `routes` ({path: Response}) and return it; stopped after the test."""
    servers = []

    def start(routes):
        server = LocalServer(routes).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


@pytest.fixture
def serve_fixture(serve):
    """Serve one fixture's metrics.txt at /metrics/ and return the instance a user would write for it."""

    def start(*parts, **instance_options):
        server = serve({'/metrics/': Response(read_fixture(*parts))})
        return {'openmetrics_endpoint': f'{server.base_url}/metrics/', **instance_options}

    return start


@pytest.fixture
def walk_scrapes(serve, dd_run_check, aggregator):
    """Run one check over the scrapes of a callers capture (common.scrape_sequence), in order: a generator that
    yields (scrape index, check) after each run, the aggregator holding that run's submissions only."""

    def walk(capture, check_class, **instance_options):
        response = Response(b'')
        server = serve({'/metrics/': response})
        check = check_class(
            'litellm', {}, [{'openmetrics_endpoint': f'{server.base_url}/metrics/', **instance_options}]
        )
        for index, body in enumerate(scrape_sequence(capture)):
            response.body = body
            aggregator.reset()
            dd_run_check(check)
            yield index, check

    return walk


def pytest_configure(config):
    config.addinivalue_line('markers', 'live: runs against a real LiteLLM proxy on 127.0.0.1 (tools/live_env.py)')
    if os.environ.get('LITELLM_TEST_INSTALLED_WHEEL'):
        # scripts/test-agent-range.sh tests the installed wheel: the tree's copy must not be the one imported.
        import datadog_checks.litellm as package

        assert 'site-packages' in package.__file__, f'tests import {package.__file__}, not the installed wheel'


@pytest.fixture(scope='session')
def litellm_live():
    """(stack, instance) of the live environment, shared by the session and torn down at its end, failed tests or not.

    A machine that cannot install LiteLLM skips the live tests with the reason; CI (CI=true) fails instead, and a
    proxy that is installed but does not start always fails.
    """
    from tools import live_env

    require_live_env()
    with live_env.dd_environment_run() as live:
        yield live


def require_live_env():
    """Install the live environment, or skip the test with the reason (CI, where it must install, fails)."""
    from tools import live_env

    try:
        live_env.install()
    except live_env.Unavailable as exc:
        if live_env.in_ci():
            raise
        pytest.skip(f'live LiteLLM proxy unavailable: {exc}')


@pytest.fixture(scope='session')
def dd_environment(litellm_live):
    """The instance as a user writes it for the live proxy: `http://127.0.0.1:<port>/metrics` and a Bearer header."""
    yield litellm_live[1]


@pytest.fixture(scope='session')
def litellm_stack(litellm_live):
    """The live proxy's harness Stack: base_url, master_key, redis (None without Redis), proxy.stop()/start()."""
    return litellm_live[0]
