"""Read a response body within a time and a size budget, decompressing it ourselves, a bounded piece at a time.

urllib3 would inflate whatever one network read holds at once and take a gzip stream missing its end for a
complete one. Here the raw bytes are read without decoding, inflated at most CHUNK_SIZE bytes per step, and the
stream must reach its end: a decompression bomb, a trickled body and a truncated or corrupt stream each stop
the read with a reason (`BodyCut`), never a whole body in memory or an unbounded wait."""

import codecs
import time
import zlib

from urllib3 import exceptions as u3

CHUNK_SIZE = 64 * 1024
MIB = 1024 * 1024
# The largest proxies measured export about 104 MB at 300 callers (README, Performance): 256 MiB lets them and
# bigger ones through, and stops a decompression bomb long before it holds the Agent.
DEFAULT_MAX_BODY_MB = 256
# The encodings the check asks for (Accept-Encoding: gzip, deflate) and can read.
SUPPORTED_ENCODINGS = frozenset({'identity', 'gzip', 'x-gzip', 'deflate'})
# ASCII-compatible charsets only: the body is split at b'\n' before it is decoded.
UNSPLITTABLE_CHARSETS = ('utf_16', 'utf_32')


class BodyCut(Exception):
    """The body stopped before its end. `kind`: 'time', 'size' or 'compression' (the advice depends on it)."""

    def __init__(self, kind, reason):
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


class Budget:
    """The deadline and the size limit of one request, body included."""

    def __init__(self, seconds, max_bytes=None, clock=time.monotonic, limit_name='`max_body_size`'):
        self.seconds = seconds
        self.clock = clock
        self.limit_name = limit_name  # what the message calls the size limit
        self.deadline = clock() + seconds
        self.max_bytes = max_bytes

    def remaining(self):
        return self.deadline - self.clock()


def content_encodings(response):
    """The codings of the body, outermost last, lower case; [] when it is not compressed."""
    header = response.headers.get('Content-Encoding', '') or ''
    return [c.strip().lower() for c in header.split(',') if c.strip() and c.strip().lower() != 'identity']


def unsupported_encoding(response):
    """The first coding the check cannot decode, or None."""
    codings = content_encodings(response)
    if len(codings) > 1:
        return ', '.join(codings)
    return next((c for c in codings if c not in SUPPORTED_ENCODINGS), None)


def charset_of(response):
    """The charset the Content-Type names, or None."""
    for param in (response.headers.get('Content-Type', '') or '').split(';')[1:]:
        name, _, value = param.partition('=')
        if name.strip().lower() == 'charset':
            return value.strip().strip('"\'') or None
    return None


def unreadable_charset(charset):
    """True when the check cannot read a body in this charset (unknown to Python, or not ASCII-compatible)."""
    try:
        name = codecs.lookup(charset).name.replace('-', '_')
    except LookupError:
        return True
    return name.startswith(UNSPLITTABLE_CHARSETS)


class _Inflater:
    """Incremental, bounded gzip or deflate decoding; `finish()` insists on the end of the stream."""

    def __init__(self, coding):
        self.coding = coding
        # 47 = auto-detect gzip or zlib header; a raw deflate stream (no header) is tried if that fails at once.
        self.obj = zlib.decompressobj(47 if coding != 'deflate' else 15)
        self.started = False

    def feed(self, data):
        """Yield the decoded bytes of `data`, CHUNK_SIZE at most at a time."""
        while data:
            try:
                out = self.obj.decompress(data, CHUNK_SIZE)
            except zlib.error as e:
                if self.coding == 'deflate' and not self.started:
                    self.obj, self.coding = zlib.decompressobj(-15), 'raw deflate'
                    continue
                raise BodyCut(
                    'compression', f'the compressed body is corrupt: it does not decompress ({self.name()}: {e})'
                ) from None
            self.started = True
            if out:
                yield out
            if self.obj.eof:
                rest = self.obj.unused_data
                if rest.strip(b'\x00'):  # another gzip member (allowed by the format); zero padding is ignored
                    self.obj = zlib.decompressobj(47)
                    data = rest
                    continue
                return
            data = self.obj.unconsumed_tail

    def finish(self):
        if not self.obj.eof:
            raise BodyCut('compression', f'the compressed body ended before the end of its {self.name()} stream')

    def name(self):
        return 'gzip' if self.coding in ('gzip', 'x-gzip') else self.coding


class BodyReader:
    """The decoded body of `response` in pieces of at most CHUNK_SIZE bytes, within `budget`.

    After the iteration, `wire_bytes` is what came over the network and `bytes` what it decoded to. Raises
    BodyCut when the deadline, the size limit or the compressed stream stops it; transport errors pass through."""

    def __init__(self, response, budget, read_timeout=None):
        self.response = response
        self.budget = budget
        self.read_timeout = read_timeout
        self.wire_bytes = 0
        self.bytes = 0
        codings = content_encodings(response)
        self.inflater = _Inflater(codings[0]) if codings else None

    def __iter__(self):
        for raw in self._raw_pieces():
            self.wire_bytes += len(raw)
            pieces = self.inflater.feed(raw) if self.inflater else (raw,)
            for piece in pieces:
                self.bytes += len(piece)
                limit = self.budget.max_bytes
                if limit is not None and self.bytes > limit:
                    keep = len(piece) - (self.bytes - limit)
                    if keep > 0:
                        yield piece[:keep]
                    self.bytes = limit
                    raise BodyCut(
                        'size', f'it exceeds {self.budget.limit_name} ({limit / MIB:g} MiB after decompression)'
                    )
                yield piece
                self._check_time()
            self._check_time()
        if self.inflater is not None:
            self.inflater.finish()

    def _check_time(self):
        if self.budget.remaining() <= 0:
            raise BodyCut('time', self._late())

    def _late(self):
        return f'the whole body did not arrive within {self.budget.seconds:g} s (`timeout`)'

    def _raw_pieces(self):
        raw = self.response.raw
        read = getattr(raw, 'read1', None) or raw.read  # read1: what one network read brings (urllib3 2)
        while True:
            clamped = self._clamp_socket_timeout()
            try:
                piece = read(CHUNK_SIZE, decode_content=False)
            except (u3.ReadTimeoutError, TimeoutError):
                # Mid-body, a stall is a cut like a broken connection: what came before it is whole and kept.
                if clamped or self.budget.remaining() <= 0:
                    raise BodyCut('time', self._late())
                stalled = f'{self.read_timeout:g} s' if self.read_timeout else 'the read timeout'
                raise BodyCut('time', f'the body stalled: nothing arrived for {stalled} in the middle of it') from None
            if not piece:
                return
            yield piece

    def _clamp_socket_timeout(self):
        """Wait no longer than the deadline for the next bytes: a read timeout bounds one read, not the body."""
        remaining = self.budget.remaining()
        if self.read_timeout is not None and remaining >= self.read_timeout:
            return False
        sock = _socket_of(self.response.raw)
        if sock is None:
            return False
        try:
            sock.settimeout(max(0.01, remaining))
        except OSError:
            return False
        return True


def _socket_of(raw):
    """The socket under a urllib3 response, if it can be found (urllib3 1.26 and 2.x)."""
    connection = getattr(raw, '_connection', None)
    sock = getattr(connection, 'sock', None)
    if sock is not None:
        return sock
    fp = getattr(getattr(raw, '_fp', None), 'fp', None)
    return getattr(getattr(fp, 'raw', None), '_sock', None)


def read_limited(response, budget, read_timeout=None):
    """The whole decoded body of a small side answer as bytes, or raise BodyCut."""
    encoding = unsupported_encoding(response)
    if encoding:
        raise BodyCut('encoding', f'the body is compressed with `{encoding}`, which the check does not decode')
    return b''.join(BodyReader(response, budget, read_timeout))
