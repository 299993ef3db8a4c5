"""Small helpers shared by the side requests: readiness, version, model health. What may be shown of a URL
or of a failed request. Neither ever includes a header or a response body, and every message and tag also goes
through `SideRedactor` (the scrape's key masking, plus credentials in the side URLs)."""

import json
import re

import requests

from datadog_checks.base import ConfigurationError

from ..transport import fetch
from ..transport.decode import MIB, BodyCut, Budget, read_limited
from ..transport.http_errors import is_invalid_header
from ..transport.redact import Redactor, safe_url

SIDE_URL_OPTIONS = ('readiness_endpoint', 'litellm_health_endpoint')
# LiteLLM's readiness and version answers are a few hundred bytes: anything this big is not one.
SMALL_ANSWER = 1 * MIB


class UnreadableAnswer(requests.RequestException):
    """A side answer that could not be read whole (too big, bad compression); its message holds no body."""


_URL_CREDENTIALS = re.compile(r'(\w+://)[^/@\s]+@')


def scrub(text, limit=200, redactor=None):
    """A short, credential-free excerpt of a server-written string: masked first, then cut, so that a cut
    never leaves part of a secret that the mask would no longer recognise."""
    text = _URL_CREDENTIALS.sub(r'\1***@', str(text))
    if redactor is not None:
        text = redactor.scrub(text)
    return text[:limit]


def describe_failure(error, url, timeout, redactor=None):
    """One line for a request that got no usable HTTP answer."""
    if isinstance(error, requests.Timeout):
        return f'{safe_url(url)} did not answer within {timeout:g} s'
    if isinstance(error, UnreadableAnswer):
        return f'{safe_url(url)} answered, but {error}'
    return f'cannot reach {safe_url(url)}: {type(error).__name__}: {scrub(error, 300, redactor)}'


def get_answer(check, url, timeout, max_bytes=SMALL_ANSWER):
    """(status, JSON object or None) of a GET to `url`, the whole answer within `timeout` and `max_bytes`;
    redirects followed without credentials to another origin. Raises requests.RequestException."""
    budget = Budget(timeout, max_bytes, limit_name='the size limit of this answer')
    try:
        response = fetch.get(check.http, url, check.redactor.secrets, budget=budget, timeout=timeout, stream=True)
    except ValueError as e:
        if not is_invalid_header(e):
            raise
        # Older requests let http.client's error through, header value and all: named, never quoted.
        raise requests.exceptions.InvalidHeader('a header value in `headers` is invalid') from None
    with response:
        try:
            body = read_limited(response, budget, read_timeout=timeout)
        except BodyCut as e:
            if e.kind == 'time':
                raise requests.Timeout(e.reason) from None
            raise UnreadableAnswer(e.reason) from None
        return response.status_code, json_body(body)


def json_body(body):
    """The body as a JSON object, or None when it is anything else."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return payload if isinstance(payload, dict) else None


def positive_number(instance, option, default):
    value = instance.get(option, default)
    if value is None:
        return default
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f'`{option}` must be a number of seconds, not {value!r}')
    if value <= 0:
        raise ConfigurationError(f'`{option}` must be greater than 0')
    return value


class SideRedactor(Redactor):
    """Masks the instance's header credentials (read at each use) and URL credentials, side URLs included:
    `requests` quotes an invalid header value in its error, key and all."""

    def __init__(self, instance, http_options):
        super().__init__(instance, http_options)
        for option in SIDE_URL_OPTIONS:
            self.add_url(instance.get(option))
