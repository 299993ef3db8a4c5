"""Small helpers shared by the side requests: readiness, version, model health. What may be shown of a URL
or of a failed request. Neither ever includes a header or a response body, and every message and tag also goes
through `SideRedactor` (the scrape's key masking, plus credentials in the side URLs)."""

import re
from urllib.parse import urlsplit, urlunsplit

import requests

from datadog_checks.base import ConfigurationError

from ..transport.redact import Redactor, url_secrets

SIDE_URL_OPTIONS = ('readiness_endpoint', 'litellm_health_endpoint')
_URL_CREDENTIALS = re.compile(r'(\w+://)[^/@\s]+@')


def display_url(url):
    """The URL without user:password, fit for tags and messages."""
    parts = urlsplit(url)
    if '@' not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit('@', 1)[1]))


def scrub(text, limit=200):
    """A short, credential-free excerpt of a server-written string."""
    return _URL_CREDENTIALS.sub(r'\1***@', str(text))[:limit]


def describe_failure(error, url, timeout):
    """One line for a request that got no HTTP answer."""
    if isinstance(error, requests.Timeout):
        return f'{display_url(url)} did not answer within {timeout:g} s'
    return f'cannot reach {display_url(url)}: {type(error).__name__}: {scrub(error, 300)}'


def json_object(response):
    """The body as a JSON object, or None when it is anything else."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


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
            for secret in url_secrets(instance.get(option)):
                self._add(self._static, secret)
