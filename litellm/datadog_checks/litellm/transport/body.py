"""Read the metrics response: refuse what is not metrics before a line is parsed, hand over whole families only.

LiteLLM's bodies always end with a newline, so a last line without one is the front of a line cut short
(`litellm_spend_metric_total{...} 12` of `...} 1234.5`): it is dropped, never parsed into a wrong value, and
so is the rest of its family."""

import re

from requests import exceptions as rex
from urllib3 import exceptions as u3

from ..parsing.exposition import MAX_LINE_LENGTH
from . import http_errors as errors
from .decode import MIB, BodyCut, BodyReader, Budget, charset_of, unreadable_charset, unsupported_encoding
from .redact import MASK

# A line longer than this is not held whole: only its head is kept, made unparseable, so the parser skips and
# counts it as too long (exposition.MAX_LINE_LENGTH) while the rest of it is read past without being stored.
OVERLONG_LINE = 1024 * 1024
OVERLONG_HEAD = 4 * MAX_LINE_LENGTH + 4  # more characters than the parser accepts, whatever the encoding
METRICS_MEDIA_TYPES = frozenset({'text/plain', 'application/openmetrics-text'})
HTML_MEDIA_TYPES = frozenset({'text/html', 'application/xhtml+xml'})
PROTOBUF_MEDIA_TYPES = frozenset({'application/vnd.google.protobuf', 'application/x-protobuf'})
FAMILY_START = ('# HELP ', '# TYPE ')
# The family being read is held until the next one starts (to drop it whole on a cut): past an eighth of the body
# limit (32 MiB by default; a 300-caller proxy's biggest family is about 14 MB) the body is cut instead, so that
# one endless family cannot hold the Agent's memory. A held line costs its text and about this much more.
HELD_FAMILY_SHARE = 8
MIN_HELD_FAMILY = 32 * MIB
LINE_OVERHEAD = 57
TITLE = re.compile(rb'<title[^>]*>(.*?)</title>', re.IGNORECASE | re.DOTALL)


def media_type(response):
    return response.headers.get('Content-Type', '').split(';')[0].strip().lower()


def response_problem(response, url, key_header, secrets=()):
    """Why this response cannot be metrics, judged from its status and headers; None if it may be. Excerpts of
    the body are masked before they are cut, so no part of a secret survives the cut."""
    status = response.status_code
    if not 200 <= status < 300:
        if status == 429:
            return errors.rate_limited_message(response.headers.get('Retry-After'))
        return errors.status_message(
            status,
            response.reason,
            response.url or url,
            location=response.headers.get('Location'),
            key_header=key_header,
            # A 401 body may quote part of the key: only other errors get an excerpt.
            excerpt='' if status in (401, 403) else errors.excerpt(_peek_text(response, secrets)),
        )
    media = media_type(response)
    if media in PROTOBUF_MEDIA_TYPES or 'protobuf' in media:
        return errors.protobuf_message(url, media)
    encoding = unsupported_encoding(response)
    if encoding:
        return errors.encoding_message(url, encoding)
    charset = charset_of(response)
    if charset and unreadable_charset(charset):
        return errors.charset_message(url, _scrub(charset, secrets))
    if media in HTML_MEDIA_TYPES:
        return _html(response, url, _peek(response), secrets)
    if media == 'application/json' or media.endswith('+json'):
        return errors.json_message(url, errors.excerpt(_peek_text(response, secrets), 80))
    return None


class BodyLines:
    """The body's lines, decoded and scrubbed of secrets. With `whole_families` (for the base library's parser)
    they are handed over one whole family at a time, and the family a cut body stops in is dropped here; without,
    line by line, and the reader drops that family itself. After the iteration: `bytes` (decoded), `wire_bytes`
    (as received), `lines` (handed over), `cut` (why the body ended early, or None), `cut_kind` ('connection',
    'time', 'size' or 'compression'; None when not cut) and `dropped`. `budget` (decode.Budget) bounds the whole
    body in time and in decoded size."""

    def __init__(self, response, url, secrets, errors='replace', budget=None, read_timeout=None, whole_families=True):
        self.response = response
        self.errors = errors  # how invalid UTF-8 is decoded: replaced, or kept as lone surrogates for the parser
        self.url = url
        self.whole_families = whole_families
        self.secrets = secrets
        self.budget = budget or Budget(float('inf'))
        self.read_timeout = read_timeout
        self.bytes = 0
        self.wire_bytes = 0
        self.lines = 0
        self.last_line = ''
        self.cut = None
        self.cut_kind = None
        self.dropped = 0
        self.cut_at_declaration = False  # the body stopped inside a `# HELP`/`# TYPE` line: between two families
        # The exposition format is UTF-8; requests would guess Latin-1 for a text/plain without a charset.
        charset = charset_of(response)
        self.encoding = charset if charset and not unreadable_charset(charset) else 'utf-8'

    def __iter__(self):
        pending = b''  # the front of a line whose newline has not arrived
        # With whole_families, the family being read is held until the next one starts: on a cut it is dropped
        # whole, because a family missing some series would be summed wrong where series are combined (tags.py),
        # and a histogram missing buckets would be inconsistent.
        family = []
        family_bytes = 0
        sniffed = broken = skipping = False
        reader = BodyReader(self.response, self.budget, self.read_timeout)
        limit = self.budget.max_bytes or float('inf')
        max_family = min(limit, max(MIN_HELD_FAMILY, limit / HELD_FAMILY_SHARE))
        try:
            for chunk in reader:
                self.bytes, self.wire_bytes = reader.bytes, reader.wire_bytes
                if skipping:  # the rest of an overlong line
                    newline = chunk.find(b'\n')
                    if newline < 0:
                        continue
                    chunk, skipping = chunk[newline:], False
                data = pending + chunk if pending else chunk
                end = data.rfind(b'\n')
                if end < 0:
                    pending = data
                    if len(pending) > OVERLONG_LINE:
                        pending, skipping = pending[:OVERLONG_HEAD] + b'\x00', True
                    continue
                pending = data[end + 1 :]
                if not sniffed:
                    if not data[:end].strip():
                        continue  # only blank lines so far: nothing to judge or parse yet
                    self._refuse_if_not_metrics(data)
                    sniffed = True
                lines = self._scrub(data[:end].decode(self.encoding, self.errors)).split('\n')
                if not self.whole_families:
                    for line in lines:
                        self.lines += 1  # the reader numbers the line it was just handed by this
                        yield line
                    continue
                for line in lines:
                    if family and line.startswith(FAMILY_START):
                        yield from self._hand_over(family)
                        family, family_bytes = [], 0
                    family.append(line)
                family_bytes += end
                if family_bytes + LINE_OVERHEAD * len(family) > max_family:
                    raise BodyCut(
                        'size',
                        f'one family holds more than {max_family / MIB:g} MiB '
                        '(an eighth of `max_body_size`, 32 MiB at least)',
                    )
        except (u3.ProtocolError, rex.ChunkedEncodingError) as e:
            # The connection closed or broke before the end its framing announced (Content-Length, chunks).
            broken = True
            self.cut, self.cut_kind = _cut_reason(e), 'connection'
        except BodyCut as e:
            broken = True
            self.cut, self.cut_kind = e.reason, e.kind
        finally:
            self.bytes, self.wire_bytes = reader.bytes, reader.wire_bytes
        if pending.strip():
            if not self.cut:
                self.cut, self.cut_kind = 'the body does not end with a newline', 'connection'
            if not sniffed:
                self._refuse_if_not_metrics(pending)
        if self.cut:
            self.cut_at_declaration = starts_declaration(pending)
            if self.cut_at_declaration:
                # Cut inside the first line of the next family: the family held arrived whole.
                yield from self._hand_over(family)
                family = []
            self.dropped = len(family) + bool(pending.strip())
        else:
            yield from self._hand_over(family)
        if not self.lines:
            # Nothing usable arrived: that is a failed scrape, not a partial one.
            if pending.strip() and not broken and not family:
                first = self._scrub(pending.decode(self.encoding, 'replace'))
                raise errors.ScrapeError(errors.not_metrics_message(self.url, 1, first, 'no newline at its end'))
            if self.cut:
                raise errors.ScrapeError(self.cut_message())
            raise errors.ScrapeError(errors.empty_body_message(self.url))

    def _hand_over(self, lines):
        for line in lines:
            self.lines += 1
            self.last_line = line
            yield line

    def cut_message(self):
        return errors.cut_short_message(self.bytes, self.cut, self.lines, self.dropped, kind=self.cut_kind)

    def not_metrics_message(self, parse_error):
        """For a parse error: the parser fails on the line it was just handed, the last one read."""
        line = self.last_line.encode('utf-8', 'replace').decode('utf-8')  # no lone surrogate in a message
        return errors.not_metrics_message(self.url, self.lines, line, parse_error)

    def _refuse_if_not_metrics(self, data):
        start = data.lstrip()[:1]
        if start == b'<':
            raise errors.ScrapeError(_html(self.response, self.url, data, self.secrets))
        if start in (b'{', b'[') and media_type(self.response) not in METRICS_MEDIA_TYPES:
            # Only a metrics Content-Type may start a line with `{` (Prometheus 3 quoted names), not JSON.
            whole = data[: data.rfind(b'\n') + 1] or data  # whole lines only: a secret cut in two escapes the mask
            text = self._scrub(whole.decode(self.encoding, 'replace'))
            raise errors.ScrapeError(errors.json_message(self.url, errors.excerpt(text, 80)))

    def _scrub(self, text):
        return _scrub(text, self.secrets)


def starts_declaration(pending):
    """Whether a line cut short (bytes) is, as far as it arrived, a `# HELP` or `# TYPE` line."""
    head = pending[:7].decode('ascii', 'replace')
    return bool(head) and any(start.startswith(head) or head.startswith(start) for start in FAMILY_START)


def _scrub(text, secrets):
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def _html(response, url, head, secrets=()):
    title = TITLE.search(head)
    title = errors.excerpt(_scrub(title.group(1).decode(errors='replace'), secrets), 80) if title else ''
    redirected_to = response.url if response.history else None
    return errors.html_message(url, redirected_to, title)


def _peek(response, size=4096, ended=None):
    """The first bytes of a body we will not parse, decoded within a small bound; b'' if even that fails.
    `ended` (a list) gets True when the body ended within them."""
    out = b''
    try:
        for piece in BodyReader(response, Budget(2.0, max_bytes=size)):
            out += piece
            if len(out) >= size:
                break
        else:
            if ended is not None:
                ended.append(True)
    except Exception:
        pass  # what arrived before the failure is still worth quoting
    return out[:size]


def _peek_text(response, secrets):
    ended = []
    text = _scrub(_peek(response, ended=ended).decode(errors='replace'), secrets)
    if not ended and secrets:
        # The peek stopped inside the body: its end may hold the front of a secret, which the mask cannot see.
        text = text[: max(0, len(text) - max(len(secret) for secret in secrets))]
    return text


def _cut_reason(exc):
    for cause in errors.causes(exc):
        if isinstance(cause, u3.IncompleteRead):
            return f'the connection closed {cause.expected} bytes before the announced Content-Length'
        if isinstance(cause, u3.InvalidChunkLength):
            return 'the chunked transfer broke off'
    text = errors.first_line(exc)
    if 'ended prematurely' in text:
        return 'the chunked transfer ended without its last chunk'
    return f'the connection broke: {errors.last_reason(list(errors.causes(exc)))}'
