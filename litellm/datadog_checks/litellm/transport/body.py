"""Read the metrics response: refuse what is not metrics before a line is parsed, hand over whole families only.

LiteLLM's bodies always end with a newline, so a last line without one is the front of a line cut short
(`litellm_spend_metric_total{...} 12` of `...} 1234.5`): it is dropped, never parsed into a wrong value, and
so is the rest of its family."""

import re

from requests import exceptions as rex
from urllib3 import exceptions as u3

from ..parsing.exposition import MAX_LINE_LENGTH
from . import http_errors as errors
from .redact import MASK

CHUNK_SIZE = 64 * 1024
# A line longer than this is not held whole: only its head is kept, made unparseable, so the parser skips and
# counts it as too long (exposition.MAX_LINE_LENGTH) while the rest of it is read past without being stored.
OVERLONG_LINE = 1024 * 1024
OVERLONG_HEAD = 4 * MAX_LINE_LENGTH + 4  # more characters than the parser accepts, whatever the encoding
METRICS_MEDIA_TYPES = frozenset({'text/plain', 'application/openmetrics-text'})
HTML_MEDIA_TYPES = frozenset({'text/html', 'application/xhtml+xml'})
FAMILY_START = ('# HELP ', '# TYPE ')
TITLE = re.compile(rb'<title[^>]*>(.*?)</title>', re.IGNORECASE | re.DOTALL)


def media_type(response):
    return response.headers.get('Content-Type', '').split(';')[0].strip().lower()


def response_problem(response, url, key_header):
    """Why this response cannot be metrics, judged from its status and Content-Type; None if it may be."""
    if not 200 <= response.status_code < 300:
        return errors.status_message(
            response.status_code,
            response.reason,
            response.url or url,
            location=response.headers.get('Location'),
            key_header=key_header,
            # A 401 body may quote part of the key: only other errors get an excerpt.
            excerpt=''
            if response.status_code in (401, 403)
            else errors.excerpt(_peek(response).decode(errors='replace')),
        )
    media = media_type(response)
    if media in HTML_MEDIA_TYPES:
        return _html(response, url, _peek(response))
    if media == 'application/json' or media.endswith('+json'):
        return errors.json_message(url, errors.excerpt(_peek(response).decode(errors='replace'), 80))
    return None


class BodyLines:
    """The body's lines, decoded and scrubbed of secrets. With `whole_families` (for the base library's parser)
    they are handed over one whole family at a time and the family a cut body stops in is dropped here; without,
    line by line, and the reader drops that family itself. After the iteration: `bytes`, `lines` (handed over),
    `cut` (why the body ended early, or None) and `dropped`."""

    def __init__(self, response, url, secrets, errors='replace', whole_families=True):
        self.response = response
        self.errors = errors  # how invalid UTF-8 is decoded: replaced, or kept as lone surrogates for the parser
        self.url = url
        self.whole_families = whole_families
        self.secrets = secrets
        self.bytes = 0
        self.lines = 0
        self.last_line = ''
        self.cut = None
        self.dropped = 0
        # The exposition format is UTF-8; requests would guess Latin-1 for a text/plain without a charset.
        charset = 'charset=' in response.headers.get('Content-Type', '').lower()
        self.encoding = response.encoding if charset and response.encoding else 'utf-8'

    def __iter__(self):
        pending = b''  # the front of a line whose newline has not arrived
        # The family being read is held until the next one starts: on a cut it is dropped whole, because a
        # family missing some series would be summed wrong where series are combined (tags.py), and a histogram
        # missing buckets would be inconsistent.
        family = []
        sniffed = broken = skipping = False
        try:
            for chunk in self._chunks():
                self.bytes += len(chunk)
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
                        family = []
                    family.append(line)
        except (u3.ProtocolError, rex.ChunkedEncodingError) as e:
            # The connection closed or broke before the end its framing announced (Content-Length, chunks).
            broken = True
            self.cut = _cut_reason(e)
        if pending.strip():
            self.cut = self.cut or 'the body does not end with a newline'
            if not sniffed:
                self._refuse_if_not_metrics(pending)
        if self.cut:
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

    def _chunks(self):
        """The body as it arrives, decompressed. urllib3's read1 returns what one read brings, so a connection
        that breaks loses none of the bytes before the break (iter_content drops its last partial chunk)."""
        raw = self.response.raw
        if getattr(self.response, '_content_consumed', False) or not hasattr(raw, 'read1'):
            yield from self.response.iter_content(CHUNK_SIZE)  # already read (telemetry), or an old urllib3
            return
        while chunk := raw.read1(CHUNK_SIZE, decode_content=True):
            yield chunk

    def cut_message(self):
        return errors.cut_short_message(self.bytes, self.cut, self.lines, self.dropped)

    def not_metrics_message(self, parse_error):
        """For a parse error: the parser fails on the line it was just handed, the last one read."""
        line = self.last_line.encode('utf-8', 'replace').decode('utf-8')  # no lone surrogate in a message
        return errors.not_metrics_message(self.url, self.lines, line, parse_error)

    def _refuse_if_not_metrics(self, data):
        start = data.lstrip()[:1]
        if start == b'<':
            raise errors.ScrapeError(_html(self.response, self.url, data))
        if start in (b'{', b'[') and media_type(self.response) not in METRICS_MEDIA_TYPES:
            # Only a metrics Content-Type may start a line with `{` (Prometheus 3 quoted names), not JSON.
            text = self._scrub(data.decode(self.encoding, 'replace'))
            raise errors.ScrapeError(errors.json_message(self.url, errors.excerpt(text, 80)))

    def _scrub(self, text):
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text


def _html(response, url, head):
    title = TITLE.search(head)
    title = errors.excerpt(title.group(1).decode(errors='replace'), 80) if title else ''
    redirected_to = response.url if response.history else None
    return errors.html_message(url, redirected_to, title)


def _peek(response, size=4096):
    """The first bytes of a body we will not parse, for the message; b'' if even that fails."""
    try:
        return next(response.iter_content(size), b'') or b''
    except Exception:
        return b''


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
