"""Keep the LiteLLM key out of everything the check writes.

The key that opens `/metrics` is often the proxy's master key. It travels in a request header (`headers`,
`extra_headers`, or written there by `auth_token` at request time), and `requests` quotes header values and URLs
in some of its errors. So every message the check builds, every log line of the check's logger, every tag and
every body line is passed through `Redactor.scrub` first.

A configured URL (the endpoint, a side endpoint, an HTTP proxy) can carry a key in any part a gateway reads one
from: the user name, the password, any query value, the fragment. The URL is never shown as written: wherever it
or its request target (`/metrics/?x=...`) appears it is replaced by `safe_url`'s rendering (no user info, every
query value and the fragment masked, whatever their length), and each of those parts long enough to be a key
(MIN_SECRET_LENGTH) is also masked wherever it appears on its own, in every encoding."""

import base64
import binascii
import logging
import re
import sys
import weakref
from urllib.parse import parse_qsl, quote, quote_plus, unquote, unquote_plus, urlsplit, urlunsplit

from requests.utils import requote_uri

MASK = '********'

# Headers whose value is a credential. LiteLLM reads its key from `Authorization`, `x-litellm-api-key`,
# `API-Key`, `x-api-key`, `x-goog-api-key`, `Ocp-Apim-Subscription-Key` or a custom header name, hence a pattern.
CREDENTIAL_NAME = re.compile(r'auth|key|token|secret|passw|cookie|session|credential|signature', re.IGNORECASE)
# Words of a header value that are not the secret (`Bearer <key>`).
AUTH_SCHEMES = frozenset({'bearer', 'basic', 'token', 'digest', 'negotiate', 'apikey', 'api-key'})
# Shorter values are not masked: masking `abc` everywhere would garble messages and protect nothing.
MIN_SECRET_LENGTH = 6
# The loggers of the libraries a run goes through: urllib3 logs each request line (query string included) at
# debug, requests and charset_normalizer may quote values. A logger filter only sees its own logger's records.
LIBRARY_LOGGERS = (
    'urllib3',
    'urllib3.connectionpool',
    'urllib3.connection',
    'urllib3.response',
    'urllib3.poolmanager',
    'urllib3.util.retry',
    'requests',
    'requests_oauthlib',
    'oauthlib',
    'charset_normalizer',
)
# The base's HTTP and TLS helpers log through loggers named after their file paths.
BASE_LOGGING_MODULES = ('datadog_checks.base.utils.http', 'datadog_checks.base.utils.tls')


class Redactor:
    """Masks the secrets of one instance. Header values are read at each use: `auth_token` rotates them."""

    def __init__(self, config, http_options):
        self._headers = http_options.get('headers') or {}
        self._static = set()
        for option in ('password', 'proxy_password'):
            self._add(self._static, config.get(option))
        username, password = config.get('username'), config.get('password')
        if isinstance(password, str) and password:
            # Basic auth travels as base64(user:pass): a server echoing the Authorization header echoes that.
            self._add(self._static, _b64(f'{username if isinstance(username, str) else ""}:{password}'))
        reader = (config.get('auth_token') or {}).get('reader') or {}
        if isinstance(reader, dict):
            self._add(self._static, reader.get('client_secret'))
        self.urls = {}  # a configured URL's text as written or sent -> what is shown instead
        proxies = config.get('proxy') or {}
        urls = [config.get('openmetrics_endpoint')] + (list(proxies.values()) if isinstance(proxies, dict) else [])
        for url in urls:
            self.add_url(url)

    def add_url(self, url):
        """Treat every part of `url` that can carry a credential as a secret."""
        for secret in url_secrets(url):
            self._add(self._static, secret)
        self.urls.update(url_renderings(url))

    def secrets(self):
        """Every secret known now, in every form a server or a library may echo it (raw, URL-encoded, base64 of
        basic auth), longest first so that `Bearer <key>` is masked whole."""
        found = set(self._static)
        for name, value in list(self._headers.items()):
            if isinstance(name, str) and CREDENTIAL_NAME.search(name):
                for piece in header_value_pieces(value):
                    self._add(found, piece)
        for secret in list(found):
            for form in encoded_forms(secret):
                self._add(found, form)
        return sorted(found, key=len, reverse=True)

    def scrub(self, text):
        return scrub_with(text, (self,))

    def mask(self, text):
        """`text` with each secret replaced by MASK (the URLs as written left to `scrub_with`)."""
        for secret in self.secrets():
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def sent_key_header(self):
        """The name of the credential header sent, if any (never its value)."""
        for name, value in self._headers.items():
            if isinstance(name, str) and CREDENTIAL_NAME.search(name) and value:
                return name
        return None

    @staticmethod
    def _add(found, value):
        if isinstance(value, str) and len(value.strip()) >= MIN_SECRET_LENGTH:
            found.add(value)
            found.add(value.strip())


def scrub_with(text, redactors):
    """`text` as `redactors` allow it to be shown: their URLs rewritten in one pass, longest first (so that one
    instance's shorter URL never breaks another's), then their secrets masked."""
    if not text:
        return text
    urls = {}
    for redactor in redactors:
        urls.update(redactor.urls)
    for written in sorted(urls, key=len, reverse=True):
        if written in text:
            text = text.replace(written, urls[written])
    for redactor in redactors:
        text = redactor.mask(text)
    return text


def encoded_forms(secret):
    """How a secret can appear once quoted into a URL, or inside a basic-auth header (base64 of `user:pass`)."""
    # unquote: a password written URL-encoded in the endpoint's user info is sent, and echoed, decoded.
    forms = {quote(secret, safe=''), quote(secret), quote_plus(secret), unquote(secret), unquote_plus(secret)}
    decoded = _unb64(secret)
    if decoded and ':' in decoded:
        forms.add(decoded)
        forms.add(decoded.split(':', 1)[1])
    return forms


def _b64(text):
    return base64.b64encode(text.encode('utf-8', 'replace')).decode('ascii')


def _unb64(text):
    """The text a base64 value decodes to, if it is base64 of printable text; else None."""
    if len(text) < 8 or len(text) % 4 or not re.fullmatch(r'[A-Za-z0-9+/]+={0,2}', text):
        return None
    try:
        decoded = base64.b64decode(text, validate=True).decode('utf-8')
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded if decoded.isprintable() else None


def safe_url(url, redactor=None):
    """A URL as it may be shown anywhere (a tag, a message, a log): without user info, every query value and the
    fragment masked (query names kept), then scrubbed of `redactor`'s secrets."""
    if not isinstance(url, str):
        return url
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rsplit('@', 1)[-1]
    except ValueError:
        return '<invalid URL>'
    query = '&'.join(_masked_pair(pair) for pair in parts.query.split('&')) if parts.query else ''
    text = urlunsplit(parts._replace(netloc=netloc, query=query, fragment=MASK if parts.fragment else ''))
    return redactor.scrub(text) if redactor is not None else text


def _masked_pair(pair):
    """`name=value` shown as `name=********`; a bare `?value` (a key on its own) as `********`."""
    name, eq, value = pair.partition('=')
    if not eq:
        return MASK if name else pair
    return f'{name}={MASK}' if value else pair


def url_renderings(url):
    """{text: shown instead} for a configured URL: the URL as written and as requests sends it, its request target
    (what urllib3 logs and errors quote) and its host with user info."""
    if not isinstance(url, str) or not url:
        return {}
    try:
        parts = urlsplit(url)
    except ValueError:
        return {url: '<invalid URL>'}
    safe = urlsplit(safe_url(url))
    shown = {url: urlunsplit(safe), requote_uri(url): urlunsplit(safe)}
    if parts.query:
        target, safe_target = f'{parts.path}?{parts.query}', f'{safe.path}?{safe.query}'
        shown[target] = shown[requote_uri(target)] = safe_target
    if '@' in parts.netloc:
        shown[parts.netloc] = safe.netloc
    return {written: safe for written, safe in shown.items() if written and written != safe}


def safe_tag(tag, redactor):
    """A tag fit to submit: `endpoint:<url>` without user info, and no secret anywhere."""
    if isinstance(tag, str) and tag.startswith('endpoint:'):
        return 'endpoint:' + safe_url(tag[len('endpoint:') :], redactor)
    return redactor.scrub(tag)


def header_value_pieces(value):
    """The value, trimmed, and each word but the scheme: requests quotes a bad value with its whitespace."""
    if not isinstance(value, str):
        return []
    pieces = [value, value.strip()]
    pieces.extend(word for word in value.split() if word.lower() not in AUTH_SCHEMES)
    return pieces


def url_secrets(url):
    """Every part of a URL that can carry a credential, as written and decoded: the user name and password (and
    the basic-auth header value requests makes of them), every query value, the fragment."""
    if not isinstance(url, str):
        return []
    try:
        parts = urlsplit(url)
        username, password = parts.username, parts.password
    except ValueError:
        return []
    secrets = [parts.fragment, unquote(parts.fragment)]
    for pair in parts.query.split('&'):
        secrets.append(pair.partition('=')[2])
    secrets.extend(value for _, value in parse_qsl(parts.query, keep_blank_values=True))
    if username is not None:
        secrets += [username, unquote(username), password or '', unquote(password or '')]
        # requests sends URL user info as basic auth: base64 of the decoded `user:password`.
        secrets.append(_b64(f'{unquote(username)}:{unquote(password or "")}'))
    return [secret for secret in secrets if secret]


class _ScrubLogRecords(logging.Filter):
    """One per logger: every instance of the check logs through the same logger, so the filter holds the
    redactors of all live instances (weakly: a removed instance takes its secrets with it)."""

    def __init__(self):
        super().__init__()
        self.redactors = weakref.WeakSet()

    def filter(self, record):
        redactors = list(self.redactors)
        if not redactors:
            return True
        try:
            message = record.getMessage()
        except Exception:
            return True  # a malformed log call: the handler reports it, as without this filter
        scrubbed = scrub_with(message, redactors)
        if scrubbed != message:
            record.msg, record.args = scrubbed, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        for field in ('exc_text', 'stack_info'):
            text = getattr(record, field, None)
            if text:
                setattr(record, field, scrub_with(text, redactors))
        return True


def scrub_library_loggers(redactor):
    """Mask `redactor`'s secrets in the records of the libraries a run uses (installed once per logger)."""
    for name in LIBRARY_LOGGERS:
        scrub_logger(logging.getLogger(name), redactor)
    for module in BASE_LOGGING_MODULES:
        logger = getattr(sys.modules.get(module), 'LOGGER', None)
        if isinstance(logger, logging.Logger):
            scrub_logger(logger, redactor)


def scrub_logger(logger, redactor):
    """Mask `redactor`'s secrets in every record `logger` emits, whatever the level or the handler."""
    for existing in logger.filters:
        if isinstance(existing, _ScrubLogRecords):
            existing.redactors.add(redactor)
            return
    scrubber = _ScrubLogRecords()
    scrubber.redactors.add(redactor)
    logger.addFilter(scrubber)
