"""Model health from LiteLLM's `/health` (opt-in with `litellm_health_endpoint`).

`/health` makes one real call per deployment unless the proxy runs `background_health_checks`, so it is polled
at most every `litellm_health_min_interval` seconds; the last result is submitted on every run in between, and
for at most three intervals after a failed poll. The body is read for five things only (model, provider,
health, error class, counts): older proxies echo deployment parameters and upstream request headers in it,
so it is never logged and nothing else of it reaches a tag or a message.
"""

import re
import time
from collections import Counter

import requests

from datadog_checks.base import AgentCheck

from ..transport.limits import max_body_bytes
from ..transport.redact import safe_url
from .probe import describe_failure, get_answer, positive_number

DEFAULT_MIN_INTERVAL = 300
DEFAULT_TIMEOUT = 30
RESULT_LIFETIME_INTERVALS = 3

_LITELLM_ERROR = re.compile(r'litellm\.([A-Za-z_][A-Za-z0-9_]*):')
_PYTHON_ERROR = re.compile(r'^([A-Z][A-Za-z0-9_]*(?:Error|Exception|Timeout)):')
_PROVIDER = re.compile(r'^[A-Za-z0-9_.-]+$')


def provider_of(entry):
    """`custom_llm_provider` when the deployment sets it, else the prefix of `openai/gpt-4o`-style models."""
    provider = entry.get('custom_llm_provider')
    if isinstance(provider, str) and _PROVIDER.match(provider):
        return provider.lower()
    model = entry.get('model')
    if isinstance(model, str) and '/' in model:
        prefix = model.split('/', 1)[0]
        if _PROVIDER.match(prefix):
            return prefix.lower()
    return 'unknown'


def error_class(entry):
    """The exception class named by `error`, never the error text (it can quote provider answers)."""
    error = entry.get('error')
    if not isinstance(error, str):
        return 'unknown'
    match = _LITELLM_ERROR.search(error) or _PYTHON_ERROR.match(error)
    if match:
        return match.group(1)
    if error.startswith('Timeout'):  # LiteLLM's own health-check deadline: "Timeout exceeded"
        return 'Timeout'
    return 'unknown'


def model_of(entry):
    model = entry.get('model')
    return model[:200] if isinstance(model, str) and model else 'unknown'


def parse(body):
    """A Result, 'pending' for the `{}` of a proxy whose first background check has not finished, or None."""
    if body == {}:
        return 'pending'
    lists = [body.get(key) for key in ('healthy_endpoints', 'unhealthy_endpoints')]
    if not all(isinstance(value, list) for value in lists if value is not None) or lists == [None, None]:
        return None
    healthy, unhealthy = (value or [] for value in lists)
    deployments = Counter()
    for entry in healthy:
        entry = entry if isinstance(entry, dict) else {}
        deployments[(model_of(entry), provider_of(entry), 'healthy', None)] += 1
    for entry in unhealthy:
        entry = entry if isinstance(entry, dict) else {}
        deployments[(model_of(entry), provider_of(entry), 'unhealthy', error_class(entry))] += 1
    return Result(len(healthy), len(unhealthy), deployments)


class Result:
    def __init__(self, healthy, unhealthy, deployments):
        self.healthy = healthy
        self.unhealthy = unhealthy
        self.deployments = deployments
        self.at = None


class ModelHealth:
    SERVICE_CHECK = 'health_endpoint.can_connect'

    def __init__(self, check, instance, tags, clock=time.monotonic):
        self.check = check
        self.clock = clock
        self.url = instance['litellm_health_endpoint']
        self.min_interval = positive_number(instance, 'litellm_health_min_interval', DEFAULT_MIN_INTERVAL)
        self.timeout = positive_number(instance, 'litellm_health_timeout', DEFAULT_TIMEOUT)
        self.max_bytes = max_body_bytes(instance)  # a /health of thousands of deployments is megabytes
        self.tags = list(tags) + [check.redactor.scrub(f'health_endpoint:{safe_url(self.url)}')]
        self.polled_at = None
        self.result = None
        self.status = None

    def run(self):
        now = self.clock()
        if self.polled_at is None or now - self.polled_at >= self.min_interval:
            self.status = self.poll(now)
        status, message = self.status
        self.check.service_check(self.SERVICE_CHECK, status, tags=self.tags, message=self.check.redactor.scrub(message))
        self.submit(now)

    def poll(self, now):
        self.polled_at = now
        redactor = self.check.redactor
        try:
            code, body = get_answer(self.check, self.url, self.timeout, self.max_bytes)
        except requests.Timeout as e:
            return AgentCheck.CRITICAL, describe_failure(e, self.url, self.timeout) + (
                ': turn on `background_health_checks` on the proxy so /health answers from its cache, '
                'or raise `litellm_health_timeout`'
            )
        except requests.RequestException as e:
            return AgentCheck.CRITICAL, describe_failure(e, self.url, self.timeout, redactor)
        url = safe_url(self.url)
        if code in (401, 403):
            return AgentCheck.CRITICAL, (
                f'{url} refused the key (HTTP {code}): /health needs `headers: {{Authorization: Bearer <key>}}` '
                'with a key allowed to call it'
            )
        # 503 carries a normal body when a `?model=` filter selects only unhealthy deployments (LiteLLM 1.85+).
        result = parse(body) if code in (200, 503) and body is not None else None
        if result == 'pending':
            # The proxy answers from its background cache, which is still empty: cheap to ask again next run.
            self.polled_at = None
            self.check.log.debug('%s: LiteLLM has not finished its first background health check yet', url)
            return AgentCheck.OK, None
        if result is not None:
            result.at = now
            self.result = result
            self.check.log.debug('%s: %d healthy, %d unhealthy deployments', url, result.healthy, result.unhealthy)
            return AgentCheck.OK, None
        if code == 404:
            return AgentCheck.CRITICAL, f'no /health at {url} (HTTP 404): check `litellm_health_endpoint`'
        if code >= 400:
            return AgentCheck.CRITICAL, f'{url} answered HTTP {code}'
        return AgentCheck.CRITICAL, (
            f'{url} answered without the JSON of LiteLLM\'s /health: point `litellm_health_endpoint` at the '
            'proxy\'s /health (not the separate metrics port)'
        )

    def submit(self, now):
        result = self.result
        if result is None:
            return
        age = now - result.at
        self.check.gauge('endpoint.health_age', age, tags=self.tags)
        if age >= RESULT_LIFETIME_INTERVALS * self.min_interval:
            return  # too old to stand for the present: only its age is reported
        self.check.gauge('endpoint.healthy_count', result.healthy, tags=self.tags)
        self.check.gauge('endpoint.unhealthy_count', result.unhealthy, tags=self.tags)
        for (model, provider, health, error), count in result.deployments.items():
            tags = self.tags + [f'llm_model:{model}', f'custom_llm_provider:{provider}', f'endpoint_health:{health}']
            if error:
                tags.append(f'endpoint_error:{error}')
            self.check.gauge('endpoint.info', count, tags=tags)
