"""A key in any part of a configured URL (user name, password, any query value, the fragment; of the endpoint or of a
side endpoint) appears in nothing the check writes: the run's error (the base check's prefix included), service
check messages and tags, metric tags, metadata, warnings, and log lines of every logger at DEBUG. The URL is shown
without user info and with every query value and the fragment masked, whatever their length."""

import base64
import json
import logging
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datadog_checks.base.stubs import datadog_agent
from datadog_checks.litellm import LitellmCheck
from datadog_checks.litellm.transport.redact import MASK, safe_url

from .common import NEWEST, read_fixture
from .http_server import LocalServer, Response
from .test_transport import LogLines

KEYS = ['sk-urlkey-0123456789abcdef', 'sk/url:key@0123+456 789%', 'Zm9vYmFyOmJhejEyMzQ1Ng==']
CLOSED_PORT_URL = 'http://127.0.0.1:9'  # nothing listens on the discard port on loopback


def place(base, key, where, name, extra):
    """`base` (scheme://host:port/path) with `key` in one part of it."""
    scheme, rest = base.split('://', 1)
    host, _, path = rest.partition('/')
    encoded = quote(key, safe='')
    query = '&'.join(extra)
    if where == 'user':
        url = f'{scheme}://{encoded}@{host}/{path}'
    elif where == 'user and empty password':
        url = f'{scheme}://{encoded}:@{host}/{path}'
    elif where == 'password':
        url = f'{scheme}://{name}:{encoded}@{host}/{path}'
    elif where == 'user with a password':
        url = f'{scheme}://{encoded}:{name}@{host}/{path}'
    elif where == 'query':
        query = '&'.join([*extra, f'{name}={encoded}'])
        url = f'{scheme}://{host}/{path}'
    elif where == 'raw query':  # as written, not encoded (gateways read `?token=<key>` as is)
        query = '&'.join([*extra, f'{name}={key}'.replace(' ', '+').replace('&', '%26').replace('#', '%23')])
        url = f'{scheme}://{host}/{path}'
    else:  # fragment
        url = f'{scheme}://{host}/{path}'
        return url + (f'?{query}' if query else '') + f'#{key}'
    return url + (f'?{query}' if query else '')


WHERE = ['user', 'user and empty password', 'password', 'user with a password', 'query', 'raw query', 'fragment']
QUERY_NAMES = st.sampled_from(['x', 'page', 'token', 'api_key', 'a1', 'q'])
EXTRA = st.lists(st.sampled_from(['page=1', 'v=2', 'format=text', 'x=', 'flag']), max_size=2, unique=True)
OPTIONS = ['openmetrics_endpoint', 'readiness_endpoint', 'litellm_health_endpoint']


def forms(key):
    """Every form of the key that would betray it."""
    found = {key, quote(key, safe=''), quote(key), key.replace(' ', '+')}
    for user, password in ((key, ''), ('user', key), (key, 'user'), ('x', key), ('page', key)):
        found.add(base64.b64encode(f'{user}:{password}'.encode()).decode())
    return found


@pytest.fixture(scope='module')
def proxy():
    body = read_fixture('real', NEWEST, 'metrics.txt')
    routes = {
        '/metrics/': Response(body),
        '/health/readiness': Response(
            b'{"status": "healthy", "litellm_version": "1.2.3"}', content_type='application/json'
        ),
        '/health': Response(b'{"healthy_endpoints": [], "unhealthy_endpoints": []}', content_type='application/json'),
    }
    with LocalServer(routes) as server:
        yield server


def written(aggregator, check, report, logs):
    """Everything the run wrote where a user or support can read it."""
    texts = list(logs) + [report or ''] + list(check.warnings)
    for name in aggregator.metric_names:
        texts.extend(tag for m in aggregator.metrics(name) for tag in m.tags)
    for checks in aggregator._service_checks.values():
        texts.extend(sc.message or '' for sc in checks)
        texts.extend(tag for sc in checks for tag in sc.tags)
    texts.extend(f'{k}={v}' for k, v in datadog_agent._metadata.items())
    return texts


def run(aggregator, instance):
    aggregator.reset()
    datadog_agent.reset()
    capture = LogLines()
    root = logging.getLogger()
    level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    try:
        check = LitellmCheck('litellm', {}, [instance])
        check.check_id = 'litellm:test'
        report = check.run()
    finally:
        root.removeHandler(capture)
        root.setLevel(level)
    assert any(line.startswith('DEBUG') for line in capture.lines)
    return check, report, written(aggregator, check, report, capture.lines)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    key=st.sampled_from(KEYS),
    where=st.sampled_from(WHERE),
    name=QUERY_NAMES,
    extra=EXTRA,
    option=st.sampled_from(OPTIONS),
    reachable=st.booleans(),
)
def test_a_key_anywhere_in_a_configured_url_is_written_nowhere(
    aggregator, proxy, key, where, name, extra, option, reachable
):
    base = proxy.base_url if reachable else CLOSED_PORT_URL
    path = {'openmetrics_endpoint': 'metrics/', 'readiness_endpoint': 'health/readiness'}.get(option, 'health')
    instance = {'openmetrics_endpoint': f'{proxy.base_url}/metrics/', 'litellm_health_endpoint': f'{base}/health'}
    instance[option] = place(f'{base}/{path}', key, where, name, extra)
    check, report, texts = run(aggregator, instance)
    betrayals = forms(key)
    for text in texts:
        for form in betrayals:
            assert form not in text, (instance[option], text)
    if option == 'openmetrics_endpoint':
        # The endpoint tag of every service check is the URL as safe_url renders it (no user info, values masked).
        shown = safe_url(instance[option])
        for checks in aggregator._service_checks.values():
            for sc in checks:
                assert f'endpoint:{shown}' in sc.tags
        if not reachable:
            assert 'There was an error scraping endpoint ' + shown in json.loads(report)[0]['message']


@pytest.mark.parametrize(
    'url, shown',
    [
        ('http://ab@h:1/metrics/', 'http://h:1/metrics/'),
        ('http://ab:@h:1/metrics/', 'http://h:1/metrics/'),
        ('http://h:1/metrics/?page=1&x=abc#f', f'http://h:1/metrics/?page={MASK}&x={MASK}#{MASK}'),
        ('http://h:1/metrics/?k&x=', f'http://h:1/metrics/?{MASK}&x='),
        ('http://h:1/metrics/', 'http://h:1/metrics/'),
    ],
)
def test_short_url_parts_are_rewritten_wherever_the_url_is_shown(aggregator, url, shown):
    # Too short to mask by substring everywhere (`1` would garble every message): the URL itself is rewritten.
    assert safe_url(url) == shown
    instance = {'openmetrics_endpoint': url.replace('h:1', '127.0.0.1:9'), 'collect_readiness': False}
    check, report, texts = run(aggregator, instance)
    error = json.loads(report)[0]['message']
    assert 'There was an error scraping endpoint ' + shown.replace('h:1', '127.0.0.1:9') in error
    for text in texts:
        assert 'ab@' not in text and 'page=1' not in text and 'x=abc' not in text and '#f' not in text, text
