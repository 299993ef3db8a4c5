"""Send a GET the way the check needs: redirects followed by the check itself, so that no header carrying a
configured secret ever reaches another origin (requests' own `rebuild_auth` only drops `Authorization`), and a
rate limit's `Retry-After` honoured between runs."""

import email.utils
import time
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

from requests import exceptions as rex

from .redact import CREDENTIAL_NAME

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 30  # requests' own limit
# A Retry-After is honoured up to this many seconds: a server cannot silence the check for longer.
MAX_RETRY_AFTER = 900


def origin(url):
    parts = urlsplit(url)
    scheme = (parts.scheme or '').lower()
    try:
        port = parts.port or {'http': 80, 'https': 443}.get(scheme)
    except ValueError:
        port = None
    return scheme, (parts.hostname or '').lower(), port


def _no_auth(request):
    return request  # wins over the session's auth (requests merges a None away), and adds nothing


def get(http, url, secrets, budget=None, **options):
    """`http.get(url)` following redirects itself: to the same origin with every header, to another origin
    without any header named like a credential or holding a configured secret, and without basic auth.
    `secrets` is a callable giving the secrets now (auth_token rotates them); `budget` (decode.Budget) bounds
    the redirects too, so that a chain of slow hops cannot outlast the timeout."""
    options = dict(options, allow_redirects=False)
    response = http.get(url, **options)
    history = []
    start = origin(url)
    while response.status_code in REDIRECT_STATUSES and response.headers.get('Location'):
        if len(history) >= MAX_REDIRECTS:
            response.close()
            raise rex.TooManyRedirects(f'Exceeded {MAX_REDIRECTS} redirects.')
        target = urljoin(response.url or url, response.headers['Location'])
        response.close()
        history.append(response)
        hop = dict(options)
        if budget is not None:
            remaining = budget.remaining()
            if remaining <= 0:
                raise rex.Timeout(f'the redirects took longer than {budget.seconds:g} s (`timeout`)')
            connect, read = _timeouts(options.get('timeout', http.options.get('timeout')))
            hop['timeout'] = (min(connect, remaining), min(read, remaining))
        if origin(target) != start:
            hop['headers'] = credential_free_headers(http.options.get('headers') or {}, secrets())
            hop['auth'] = _no_auth
            hop.pop('extra_headers', None)
        response = http.get(target, **hop)
    if history:
        response.history = history
    return response


def _timeouts(timeout):
    if isinstance(timeout, (tuple, list)) and len(timeout) == 2:
        return float(timeout[0]), float(timeout[1])
    return float(timeout), float(timeout)


def credential_free_headers(headers, secrets):
    """The headers with every credential one set to None (requests then drops it from the session's too)."""
    cleaned = {}
    for name, value in headers.items():
        carries = isinstance(value, str) and any(secret in value for secret in secrets)
        if carries or name.lower() in ('authorization', 'cookie') or CREDENTIAL_NAME.search(name):
            cleaned[name] = None
        else:
            cleaned[name] = value
    return cleaned


def retry_after_seconds(value, now=None):
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), bounded; None if absent or invalid."""
    if not value or not isinstance(value, str):
        return None
    value = value.strip()
    if value.isdigit():
        seconds = int(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, min(float(seconds), MAX_RETRY_AFTER))


class RateLimit:
    """Remembers until when the proxy asked not to be scraped (a 429 with Retry-After)."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.until = None

    def note(self, retry_after):
        """Record a 429; return the wait in seconds (None without a usable Retry-After)."""
        wait = retry_after_seconds(retry_after)
        self.until = self.clock() + wait if wait else None
        return wait

    def remaining(self):
        """Seconds left to wait before the next scrape, or None."""
        if self.until is None:
            return None
        left = self.until - self.clock()
        if left <= 0:
            self.until = None
            return None
        return left
