import pytest

from .common import read_fixture
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
