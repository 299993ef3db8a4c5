"""Loopback stand-ins for a real proxy's side endpoints, answering with the captured bodies and status codes."""

import json
import threading
from collections import Counter

from .common import read_fixture
from .http_server import Response

KEY = 'sk-side-requests-test-key-0123456789'
AUTH = {'Authorization': f'Bearer {KEY}'}
# LiteLLM's answer to a route that needs a key when none (or a wrong one) is sent.
UNAUTHORIZED = Response(
    b'{"error":{"message":"Authentication Error, No api key passed in.","type":"auth_error","param":"None",'
    b'"code":"401"}}',
    status=401,
    content_type='application/json',
)
# Where each captured body was served, and whether LiteLLM asks for a key there.
SIDE_ENDPOINTS = {
    'readiness': ('/health/readiness', False),
    'readiness_details': ('/health/readiness/details', True),
    'health': ('/health', True),
}


def json_response(body, status=200):
    return Response(
        body if isinstance(body, (bytes, str)) else json.dumps(body), status, content_type='application/json'
    )


def needs_key(response):
    def handler(request):
        ok = request.headers.get('Authorization') == AUTH['Authorization']
        (response if ok else UNAUTHORIZED)(request)

    return handler


def real_proxy_routes(version):
    """The captured proxy: /metrics/ and its side endpoints, with the status each answered with."""
    capture = json.loads(read_fixture('real', version, 'capture.json'))
    routes = {'/metrics/': Response(read_fixture('real', version, 'metrics.txt'))}
    for name, (path, keyed) in SIDE_ENDPOINTS.items():
        status = capture['endpoints'][name]['status']
        response = json_response(read_fixture('real', version, f'{name}.json'), status)
        # A route the version lacks answers 404 with or without a key.
        routes[path] = needs_key(response) if keyed and status != 404 else response
    return routes


def captured_version(version):
    return json.loads(read_fixture('real', version, 'capture.json'))['litellm_version']


def paths(server):
    return [path for path, _ in server.requests]


class Clock:
    """A hand-driven monotonic clock, so intervals are tested without waiting."""

    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


class Stall:
    """A route that answers only once released: makes the check's timeout fire. Release it in teardown."""

    def __init__(self):
        self.released = threading.Event()

    def __call__(self, request):
        self.released.wait(30)
        try:
            json_response({})(request)
        except OSError:
            pass  # the check gave up long ago


def expected_deployments(model_list):
    """{(model, health, error class): deployments} that /health must report for a harness proxy's model list,
    from the fake upstream's rules (fake-429* answers 429, fake-500* answers 500, the others succeed): an
    oracle independent of the body under test."""
    expected = Counter()
    for deployment in model_list:
        model = deployment['litellm_params']['model']
        upstream = model.split('/', 1)[1]
        if upstream.startswith('fake-429'):
            expected[(model, 'unhealthy', 'RateLimitError')] += 1
        elif upstream.startswith('fake-500'):
            expected[(model, 'unhealthy', 'InternalServerError')] += 1
        else:
            expected[(model, 'healthy', None)] += 1
    return dict(expected)
