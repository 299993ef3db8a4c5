"""What went wrong with a scrape, in words that say what to do.

Each function turns one kind of failure (transport, HTTP status, a body that is not metrics, a body cut short)
into the message of the `litellm.openmetrics.health` service check and of the run's error. They quote hosts,
paths and short excerpts, never header values; the scraper still scrubs every message before it leaves."""

import re
import socket
import ssl
from http.client import BadStatusLine
from urllib.parse import urlsplit

from requests import exceptions as rex
from urllib3 import exceptions as u3

from .redact import safe_url

AUTH_HINT = (
    'send a LiteLLM key with `headers: {Authorization: "Bearer <key>"}` (or `extra_headers`, or `auth_token`), '
    'or set `litellm_settings.require_auth_for_metrics_endpoint: false` on the proxy'
)
ENDPOINT_HINT = "point `openmetrics_endpoint` at the LiteLLM proxy's `/metrics/`"
POINT_AT_METRICS = ENDPOINT_HINT[0].upper() + ENDPOINT_HINT[1:]
REDIRECTS = frozenset({301, 302, 303, 307, 308})
# What to do about a body cut short, by what cut it.
CUT_ADVICE = {
    'series': (
        'The next run goes on from the series this one remembered. If it lasts, the proxy exports more series than '
        "the Agent should hold: make the payload smaller at the source (LiteLLM's `prometheus_exclude_labels`), or "
        'raise `series_cache_size` (the memory a run may use grows with it).'
    ),
    'connection': (
        'The proxy restarted mid-response, or a load balancer or proxy in between cuts responses: if it lasts, '
        'check their logs and response size or time limits.'
    ),
    'time': (
        'The proxy sends its metrics too slowly for the `timeout` (a whole-body limit): it is overloaded, or the '
        'payload is too big to read in time. Check its CPU; raise `timeout` (and `min_collection_interval`) if it '
        'is only big.'
    ),
    'size': (
        'A payload this big costs the Agent seconds and memory every run: make it smaller at the source '
        "(LiteLLM's `prometheus_exclude_labels`, `prometheus_metrics_max_series_per_metric`) or raise "
        '`max_body_size`. A small compressed body that inflates past it is a decompression bomb: check what answers '
        'at `openmetrics_endpoint`.'
    ),
    'compression': (
        'The compressed body (Content-Encoding) was incomplete or corrupt: the proxy restarted mid-response, or '
        'something between the Agent and LiteLLM breaks compressed responses. Scrape the proxy directly, or check '
        "that hop's settings."
    ),
}


class ScrapeError(rex.RequestException):
    """A failed scrape. Its message says what to do and holds no secret. A `RequestException`, so the base check
    prefixes it with the endpoint like any other request error."""


def transport_message(exc, url, connect_timeout, read_timeout):
    """The message for an exception raised while sending the request or reading the body."""
    where = host_port(url)
    chain = list(causes(exc))

    def has(*types):
        return any(isinstance(c, types) for c in chain)

    if isinstance(exc, rex.InvalidHeader) or has(u3.InvalidHeader) or is_invalid_header(exc):
        return (
            'A request header value is invalid: it starts or ends with whitespace or holds a line break (often '
            'the newline at the end of a secret file). Remove it from the value in `headers`, `extra_headers` '
            'or the `auth_token` writer.'
        )
    if has(UnicodeEncodeError):
        return (
            'A request header value holds a character HTTP cannot carry (outside Latin-1): check the key in `headers`.'
        )
    if isinstance(exc, (rex.MissingSchema, rex.InvalidSchema, rex.InvalidURL)) or has(u3.LocationValueError):
        return f'`openmetrics_endpoint` is not a valid http(s) URL ({exc}): for example http://localhost:4000/metrics/.'
    if isinstance(exc, rex.TooManyRedirects):
        return f'Too many redirects (a loop?) from `{safe_url(url)}`: {ENDPOINT_HINT}, the URL that answers 200.'
    if isinstance(exc, rex.ContentDecodingError) or has(u3.DecodeError):
        return (
            'The body says it is compressed (Content-Encoding) but does not decompress: something between the '
            "Agent and LiteLLM corrupts the response. Scrape the proxy directly, or check that hop's settings."
        )
    if isinstance(exc, rex.ProxyError):
        return (
            f'The HTTP proxy between the Agent and {where} failed ({first_line(exc)}). Check the `proxy` '
            'settings, or set `skip_proxy: true` on this instance if LiteLLM is reachable directly.'
        )
    if isinstance(exc, rex.SSLError) or has(ssl.SSLError):
        return tls_message(chain, where)
    if has(u3.NameResolutionError, socket.gaierror):
        return (
            f'Cannot resolve the host name in `{safe_url(url)}`. Check the host of `openmetrics_endpoint` '
            '(with Autodiscovery, use `%%host%%`).'
        )
    if has(ConnectionRefusedError):
        return (
            f'Connection refused by {where}: nothing listens there. Check that the LiteLLM proxy is running and '
            'that `openmetrics_endpoint` has its host and port (LiteLLM listens on 4000 unless `--port` says '
            'otherwise).'
        )
    if isinstance(exc, rex.ConnectTimeout):
        return (
            f'No TCP connection to {where} within {connect_timeout:g} s (`connect_timeout`/`timeout`): the host '
            'is unreachable, a firewall drops the packets, or the proxy is too busy to accept. Check the address '
            'and the network path.'
        )
    if isinstance(exc, rex.ReadTimeout):
        return (
            f'{where} accepted the connection but sent no response within {read_timeout:g} s (`read_timeout`/'
            '`timeout`): the proxy is overloaded or stuck. Check its logs and CPU; raise `timeout` if it is only slow.'
        )
    if has(u3.ReadTimeoutError, TimeoutError):
        return (
            f'The body from {where} stalled: nothing arrived for {read_timeout:g} s in the middle of it. The proxy '
            'is overloaded or stuck; the lines read before the stall were submitted.'
        )
    # http.client's RemoteDisconnected (closed before the status line) is a ConnectionResetError.
    if has(ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
        return (
            f'{where} closed the connection without a complete HTTP response ({last_reason(chain)}). The proxy '
            'may be restarting; if it lasts, check that this port serves HTTP (for a TLS port, use `https://`).'
        )
    if has(BadStatusLine):
        return (
            f'{where} answered with something that is not HTTP ({last_reason(chain)}): check the port of '
            '`openmetrics_endpoint`.'
        )
    if isinstance(exc, rex.ChunkedEncodingError) or has(u3.ProtocolError):
        return (
            f'The connection to {where} broke while reading the body ({last_reason(chain)}). The proxy may be '
            'restarting or a load balancer cut the response.'
        )
    if isinstance(exc, rex.ConnectionError):
        return f'Cannot reach {where} ({last_reason(chain)}): check that the proxy runs and the network path.'
    return f'The request to {where} failed: {type(exc).__name__}: {first_line(exc)}'


def is_invalid_header(exc):
    """http.client's ValueError for a header value it refuses (older requests let it through unwrapped)."""
    return any(isinstance(c, ValueError) and first_line(c).startswith('Invalid header') for c in causes(exc))


def tls_message(chain, where):
    verify = next((c for c in chain if isinstance(c, ssl.SSLCertVerificationError)), None)
    if verify is not None:
        reason = verify.verify_message or 'certificate verify failed'
        if 'mismatch' in reason or 'hostname' in reason.lower():
            return (
                f'TLS: the certificate of {where} does not name this host ({reason}). Use a host name the '
                'certificate lists, or set `tls_validate_hostname: false`.'
            )
        return (
            f"TLS: the certificate of {where} could not be verified ({reason}). Set `tls_ca_cert` to the CA that "
            'signed it; `tls_verify: false` skips the check (not recommended: the key is sent to whoever answers).'
        )
    reasons = {getattr(c, 'reason', None) for c in chain if isinstance(c, ssl.SSLError)}
    if reasons & {'WRONG_VERSION_NUMBER', 'RECORD_LAYER_FAILURE', 'HTTP_REQUEST', 'PACKET_LENGTH_TOO_LONG'}:
        return (
            f'TLS handshake with {where} failed: the port does not speak TLS. Use `http://` in `openmetrics_endpoint`.'
        )
    return f'TLS handshake with {where} failed ({last_reason(chain)}): check the `tls_*` options.'


def status_message(status, reason, url, location=None, key_header=None, excerpt=''):
    """The message for a response that is not a 2xx."""
    head = f'HTTP {status} {reason or ""}'.rstrip()
    if status in (401, 403):
        if key_header:
            return (
                f'{head}: the proxy rejected the key sent in `{key_header}`. Check that it is a valid key of this '
                'proxy (its master key or a virtual key that is not expired or blocked), or set '
                '`litellm_settings.require_auth_for_metrics_endpoint: false` on the proxy.'
            )
        return f'{head}: the proxy wants a key on `/metrics` (the default since about LiteLLM 1.84): {AUTH_HINT}.'
    if status == 404:
        return (
            f'{head} at `{safe_url(url)}`. LiteLLM serves metrics at `/metrics/`, and only when '
            '`litellm_settings.callbacks` includes `prometheus`: check `openmetrics_endpoint` and the proxy config.'
        )
    if status == 407:
        return f'{head}: the HTTP proxy in front of LiteLLM wants credentials: check the `proxy` settings.'
    if status in REDIRECTS:
        target = f' to `{safe_url(location)}`' if location else ''
        return f'{head}: redirect{target} not followed: set `openmetrics_endpoint` to the final URL, `/metrics/`.'
    if status == 304:
        return (
            f'{head}: the check sends no conditional request, so a cache or gateway in front of LiteLLM answers '
            f'instead of the proxy, with no body. Scrape the proxy directly: {ENDPOINT_HINT}.'
        )
    if status < 200 or 300 <= status < 400:
        return f'{head}: an unexpected status for a plain GET of metrics (no body to read): {ENDPOINT_HINT}.'
    if status in (502, 504):
        what = 'a load balancer or gateway in front of LiteLLM got no answer from it: check that the proxy runs'
    elif status == 503:
        what = "the proxy is unavailable (starting, restarting, draining or overloaded): check its health and logs"
    elif status >= 500:
        what = "the proxy failed while answering: check its logs"
    else:
        what = f'the request was refused: {ENDPOINT_HINT}'
    body = f' Body: "{excerpt}"' if excerpt else ''
    return f'{head}: {what}.{body}'


def html_message(url, redirected_to=None, title=''):
    via = f' (after a redirect to `{safe_url(redirected_to)}`)' if redirected_to else ''
    named = f' titled "{title}"' if title else ''
    return (
        f'The response is an HTML page{named}{via}, not Prometheus metrics: a login page, a gateway error page or '
        f'another web app answers at `{safe_url(url)}`. {POINT_AT_METRICS}, reachable by the Agent '
        'without an SSO or auth gateway.'
    )


def json_message(url, excerpt=''):
    body = f' ("{excerpt}")' if excerpt else ''
    return (
        f'The response is JSON{body}, not Prometheus metrics: `{safe_url(url)}` is an API route, not the metrics '
        f'endpoint. {POINT_AT_METRICS}.'
    )


def empty_body_message(url):
    return (
        f'The response from `{safe_url(url)}` has an empty body: LiteLLM always exports some metrics, so '
        f'either this is not its metrics endpoint or something in between dropped the body. {POINT_AT_METRICS}.'
    )


def not_metrics_message(url, line_number, line, error):
    return (
        f'The body of `{safe_url(url)}` is not in the Prometheus text format (line {line_number}: "{excerpt(line)}": '
        f'{first_line(error)}). {POINT_AT_METRICS}; the families before it were submitted.'
    )


def cut_short_message(bytes_read, why, lines, dropped, kind='connection'):
    if lines and not dropped:
        kept = f'it stopped between two families: the {lines} lines of its complete families were submitted'
    elif lines:
        kept = (
            f'the {lines} lines of its complete families were submitted; the family it stopped in ({dropped} '
            'lines, the partial last one included) was dropped, so no series carries a partial value'
        )
    else:
        kept = 'no family arrived whole, nothing was submitted'
    advice = CUT_ADVICE.get(kind) or CUT_ADVICE['connection']
    return f'The body was cut short after {bytes_read} bytes ({why}): {kept}. {advice}'


def mixed_processes_message(url):
    """Scrapes of `url` reach several LiteLLM processes that nothing in their answers tells apart."""
    return (
        f'The scrapes of {safe_url(url)} reach several LiteLLM processes that the check cannot tell apart: counters '
        'fall and come back between runs (a load balancer or Service in front of replicas, or uvicorn workers '
        'without a shared multiprocess directory). Counters and histograms are not submitted while this lasts: '
        'their increases cannot be known. Point the check at each pod (autodiscovery annotations or an endpoints '
        'check), or give the workers one `PROMETHEUS_MULTIPROC_DIR`.'
    )


def rate_limited_message(wait=None):
    """A 429: the proxy, or a gateway in front of it, limits the Agent's scrapes."""
    then = f'the next scrape waits {wait:g} s (Retry-After)' if wait else 'the next scrape is at the next run'
    return (
        f'HTTP 429 Too Many Requests: the proxy or a gateway in front of it rate-limits the Agent; {then}. Exempt '
        "the Agent's key or address from the limit, or raise `min_collection_interval`."
    )


def protobuf_message(url, media):
    return (
        f'The response from `{safe_url(url)}` is in the Prometheus protobuf format '
        f'(Content-Type `{excerpt(media, 80)}`), '
        'which the check does not read: it asks for the text format (`Accept: text/plain`). Something in front of '
        'LiteLLM chose protobuf: have it serve text, or scrape the proxy directly.'
    )


def encoding_message(url, encoding):
    return (
        f'The response from `{safe_url(url)}` is compressed with `{excerpt(encoding, 40)}` (Content-Encoding), which '
        'the check does not decode: it asks for gzip or deflate only (`Accept-Encoding: gzip, deflate`). Something '
        'in front of LiteLLM ignores that: have it send gzip or no compression, or scrape the proxy directly.'
    )


def charset_message(url, charset):
    return (
        f'The response from `{safe_url(url)}` names the charset `{excerpt(charset, 40)}` (Content-Type), which the '
        'check cannot read: the Prometheus text format is UTF-8. Have whatever serves it send UTF-8, or scrape '
        'the proxy directly.'
    )


def causes(exc, limit=16):
    """The exception and everything it wraps: arguments, urllib3's `reason`, `__cause__` and `__context__`."""
    seen, todo = set(), [exc]
    while todo and len(seen) < limit:
        current = todo.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo.extend(arg for arg in getattr(current, 'args', ()) if isinstance(arg, BaseException))
        reason = getattr(current, 'reason', None)
        if isinstance(reason, BaseException):
            todo.append(reason)
        todo.extend((current.__cause__, current.__context__))


def last_reason(chain):
    """The innermost description: `Connection refused`, `Remote end closed connection without response`."""
    for exc in reversed(chain):
        text = first_line(exc)
        if text:
            return excerpt(text, 160)
    return type(chain[-1]).__name__


def first_line(exc):
    text = getattr(exc, 'strerror', None) or str(exc)
    return text.strip().splitlines()[0] if text.strip() else ''


def excerpt(text, limit=120):
    """Server-written text (a body, a header value, a skipped line) fit for a message or a log: blanks folded, cut
    to `limit`, undecodable bytes shown as escapes."""
    text = re.sub(r'\s+', ' ', text or '').strip()
    text = text if len(text) <= limit else text[: limit - 3] + '...'
    return text.encode('utf-8', 'backslashreplace').decode('utf-8')


def host_port(url):
    try:
        parts = urlsplit(url or '')
        port = parts.port or {'http': 80, 'https': 443}.get(parts.scheme, '')
        host = parts.hostname or ''
    except ValueError:
        return 'the endpoint'
    return f'{host}:{port}' if host else 'the endpoint'
