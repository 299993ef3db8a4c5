"""The proxy's readiness (service check `litellm.readiness`) and its LiteLLM version (check metadata).

`/health/readiness` is public and cheap: one GET per run. Up to LiteLLM ~1.82 its answer also carries
`litellm_version`; later proxies keep it to `status` and `db` and move the version to
`/health/readiness/details`, which needs the key. `/openapi.json` also names the version but weighs megabytes:
it is never asked.
"""

import time
from urllib.parse import urlsplit, urlunsplit

import requests

from datadog_checks.base import AgentCheck, is_affirmative

from ..transport.redact import safe_url
from .probe import describe_failure, get_answer, positive_number, scrub

DEFAULT_TIMEOUT = 5  # LiteLLM bounds its own database probe to 4 s (1.100+): a stuck database answers 503 first.
# The details request is repeated at most this often, and again when the proxy comes back after being unready
# (a restart, perhaps an upgrade). A version read from the readiness answer itself costs nothing and is used
# on every run.
VERSION_REFRESH_SECONDS = 3600
GOOD_STATUSES = ('healthy', 'connected')  # up to ~1.82 a proxy with a database reports the database's status


def derive_readiness_url(metrics_url):
    """`http://host:4000/metrics/` -> `http://host:4000/health/readiness`, keeping a path prefix."""
    parts = urlsplit(metrics_url)
    path = parts.path.rstrip('/')
    prefix = path[: -len('/metrics')] if path.endswith('/metrics') else ''
    return urlunsplit((parts.scheme, parts.netloc, prefix + '/health/readiness', '', ''))


def details_url(readiness_url):
    parts = urlsplit(readiness_url)
    return urlunsplit(parts._replace(path=parts.path.rstrip('/') + '/details'))


def version_in(payload):
    version = payload.get('litellm_version') if isinstance(payload, dict) else None
    if isinstance(version, str) and version.strip()[:1].isdigit():
        return version.strip()
    return None


def assess(payload, redactor=None):
    """(status, message) for a 200 answer."""
    status, db = payload.get('status'), payload.get('db')
    if status == 'shutting_down':
        return AgentCheck.CRITICAL, 'LiteLLM is shutting down'
    if 'disconnected' in (status, db):
        return AgentCheck.CRITICAL, 'LiteLLM reports its database as disconnected'
    if db == 'stalled':
        return AgentCheck.WARNING, 'LiteLLM reports its database lookups as stalled'
    if status in GOOD_STATUSES:
        return AgentCheck.OK, None
    return AgentCheck.WARNING, f'unexpected readiness status {scrub(status, 60, redactor)!r}'


def describe_refusal(payload, redactor=None):
    """The reason a 503 gives: LiteLLM puts it in `status`/`db` (1.85+) or in `detail` (earlier)."""
    if not payload:
        return 'no reason given'
    if payload.get('status') == 'shutting_down':
        return 'shutting down'
    if payload.get('db') not in (None, 'connected', 'Not connected'):
        return f'database {scrub(payload["db"], 60, redactor)}'
    if payload.get('detail'):
        return scrub(payload['detail'], redactor=redactor)
    return 'no reason given'


class Readiness:
    def __init__(self, check, instance, tags, clock=time.monotonic):
        self.check = check
        self.tags = tags
        self.clock = clock
        metrics_url = instance.get('openmetrics_endpoint')
        self.url = instance.get('readiness_endpoint') or (metrics_url and derive_readiness_url(metrics_url))
        # Without any URL the check is misconfigured anyway: the scrape reports that.
        self.enabled = bool(self.url) and is_affirmative(instance.get('collect_readiness', True))
        self.details_url = self.url and details_url(self.url)
        self.timeout = positive_number(instance, 'readiness_timeout', DEFAULT_TIMEOUT)
        self.payload = None  # this run's 200 answer
        self.ready = None
        self.version = None
        self.version_asked_at = None

    def run(self):
        self.payload = None
        if not self.enabled:
            return
        status, message = self.probe()
        self.check.service_check('readiness', status, tags=self.tags, message=self.check.redactor.scrub(message))
        was_ready, self.ready = self.ready, status != AgentCheck.CRITICAL
        if self.ready and was_ready is False:
            self.version_asked_at = None

    def probe(self):
        redactor = self.check.redactor
        try:
            code, payload = get_answer(self.check, self.url, self.timeout)
        except requests.RequestException as e:
            return AgentCheck.CRITICAL, describe_failure(e, self.url, self.timeout, redactor)
        if code == 200 and payload is not None:
            self.payload = payload
            return assess(payload, redactor)
        url = safe_url(self.url)
        if code == 200:
            return AgentCheck.CRITICAL, f'{url} answered 200 without LiteLLM\'s readiness JSON'
        if code == 503:
            return AgentCheck.CRITICAL, f'LiteLLM is not ready (HTTP 503): {describe_refusal(payload, redactor)}'
        if code == 404:
            return AgentCheck.CRITICAL, (
                f'no readiness endpoint at {url} (HTTP 404). If the metrics come from LiteLLM\'s separate metrics '
                'port, set `readiness_endpoint` to the proxy\'s /health/readiness, or set `collect_readiness: false`'
            )
        if code in (401, 403):
            return AgentCheck.CRITICAL, (
                f'{url} refused the request (HTTP {code}): LiteLLM serves readiness without a key, so something '
                'in front of the proxy asks for credentials'
            )
        return AgentCheck.CRITICAL, f'{url} answered HTTP {code}'

    def collect_version(self):
        """Called only when the Agent collects metadata (see LitellmCheck.collect_version)."""
        if not self.url or (self.enabled and self.payload is None):
            return  # unready or unreachable: asked again once it is back
        version = version_in(self.payload)
        if version is None and self.version_due():
            self.version_asked_at = self.clock()
            if self.payload is None:  # readiness is not collected: still the cheapest source
                version = version_in(self.get_json(self.url))
            if version is None:
                version = version_in(self.get_json(self.details_url))
        if version and version != self.version:
            self.check.set_metadata('version', version)
            self.version = version

    def version_due(self):
        return self.version_asked_at is None or self.clock() - self.version_asked_at >= VERSION_REFRESH_SECONDS

    def get_json(self, url):
        try:
            code, payload = get_answer(self.check, url, self.timeout)
            if code == 200:
                return payload
            # 404 before LiteLLM 1.85, 401 without a key: the version simply stays unknown.
            self.check.log.debug('No LiteLLM version from %s: HTTP %s', safe_url(url), code)
        except requests.RequestException as e:
            self.check.log.debug('No LiteLLM version from %s: %s', safe_url(url), type(e).__name__)
        return None
