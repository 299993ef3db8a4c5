"""A raw-socket server on 127.0.0.1 that misbehaves on purpose, for the transport tests.

`RawServer(play)` accepts connections and runs `play(conn, path)` for each request, where `conn` is the
connected socket: the play writes whatever bytes it wants (a cut body, a wrong Content-Length, a broken chunked
stream) and may stall or close at any point. The helpers below build the usual plays. Only loopback is used.
"""

import datetime
import gzip
import ipaddress
import os
import socket
import threading
import zlib

PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'


class RawServer:
    """Serves every connection with `play(conn, path)`; `tls` is an optional server-side `ssl.SSLContext`."""

    def __init__(self, play, tls=None):
        self.play = play
        self.tls = tls
        self.paths = []
        self.request_heads = []
        self.release = threading.Event()  # set at exit: stalled plays give up
        self._sock = socket.create_server(('127.0.0.1', 0))
        self.port = self._sock.getsockname()[1]
        scheme = 'https' if tls else 'http'
        self.base_url = f'{scheme}://127.0.0.1:{self.port}'
        self._conns = []
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.release.set()
        self._sock.close()
        for conn in self._conns:
            _close(conn)

    def _accept_loop(self):
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            if self.tls:
                conn = self.tls.wrap_socket(conn, server_side=True)
                self._conns.append(conn)
            head = _read_head(conn)
            if head is None:
                return
            self.request_heads.append(head)
            path = head.split(b' ', 2)[1].decode('latin-1') if head.count(b' ') >= 2 else '/'
            self.paths.append(path)
            self.play(conn, path)
        except OSError:
            pass  # the client went away, or the TLS handshake failed: that is the point of some tests
        finally:
            _close(conn)


def _read_head(conn):
    data = b''
    while b'\r\n\r\n' not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    return data.split(b'\r\n\r\n', 1)[0]


def _close(conn):
    try:
        conn.close()
    except OSError:
        pass


def response_head(status=200, reason='OK', headers=None):
    lines = [f'HTTP/1.1 {status} {reason}'] + [f'{name}: {value}' for name, value in (headers or {}).items()]
    return ('\r\n'.join(lines) + '\r\n\r\n').encode('latin-1')


def http_response(body=b'', status=200, reason='OK', content_type=PROMETHEUS_CONTENT_TYPE, headers=None):
    """A complete, well-formed response with a correct Content-Length."""
    body = body.encode() if isinstance(body, str) else body
    all_headers = {'Content-Length': str(len(body)), 'Connection': 'close'}
    if content_type:
        all_headers['Content-Type'] = content_type
    all_headers.update(headers or {})
    return response_head(status, reason, all_headers) + body


def send(raw):
    """Play: write `raw` and close."""

    def play(conn, path):
        conn.sendall(raw)

    return play


def routes(table, default=None):
    """Play: answer each path with its own play; unknown paths get a plain 404."""
    default = default or send(http_response(b'not found', status=404, reason='Not Found', content_type='text/plain'))

    def play(conn, path):
        table.get(path.split('?')[0], default)(conn, path)

    return play


def cut_body(body, keep, content_type=PROMETHEUS_CONTENT_TYPE):
    """Play: announce the whole body in Content-Length, send only its first `keep` bytes, close."""
    head = response_head(200, 'OK', {'Content-Type': content_type, 'Content-Length': str(len(body))})
    return send(head + body[:keep])


def close_delimited(body, content_type=PROMETHEUS_CONTENT_TYPE):
    """Play: no Content-Length, no chunking: the body ends when the connection closes (HTTP/1.0 style)."""
    return send(response_head(200, 'OK', {'Content-Type': content_type, 'Connection': 'close'}) + body)


def chunked(chunks, finish=True, content_type=PROMETHEUS_CONTENT_TYPE):
    """Play: a chunked body; with finish=False the closing zero-length chunk never comes (the stream breaks)."""
    raw = response_head(200, 'OK', {'Content-Type': content_type, 'Transfer-Encoding': 'chunked'})
    for chunk in chunks:
        raw += b'%x\r\n%s\r\n' % (len(chunk), chunk)
    if finish:
        raw += b'0\r\n\r\n'
    return send(raw)


def gzipped(body, content_type=PROMETHEUS_CONTENT_TYPE):
    """Play: the body gzip-compressed, as prometheus_client serves it to a client that accepts gzip."""
    compressed = gzip.compress(body)
    return send(http_response(compressed, content_type=content_type, headers={'Content-Encoding': 'gzip'}))


def stall(release, then=None, at_most=5.0):
    """Play: read the request and say nothing for `at_most` seconds, then run `then`; give up once `release`
    (a threading.Event the test sets when it ends) is set."""

    def play(conn, path):
        if not release.wait(at_most) and then is not None:
            then(conn, path)

    return play


def stall_mid_body(body, keep, release, at_most=5.0):
    """Play: send the head and part of the body, then stall: the read timeout must fire between two reads."""
    head = response_head(200, 'OK', {'Content-Type': PROMETHEUS_CONTENT_TYPE, 'Content-Length': str(len(body))})

    def play(conn, path):
        conn.sendall(head + body[:keep])
        if not release.wait(at_most):
            conn.sendall(body[keep:])

    return play


def close_without_answer(conn, path):
    """Play: read the request, answer nothing, close (what a proxy restarting under load does)."""


def unused_port():
    """A loopback port where nothing listens: connecting is refused."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class FullBacklog:
    """A loopback listener whose accept queue is full and never drained: a new TCP connect never completes,
    so the client's connect timeout fires (the kernel drops the SYN). Only loopback is involved."""

    def __init__(self):
        self._listener = socket.socket()
        self._listener.bind(('127.0.0.1', 0))
        self._listener.listen(0)
        self.port = self._listener.getsockname()[1]
        self.base_url = f'http://127.0.0.1:{self.port}'
        self._fillers = []

    def __enter__(self):
        import selectors

        for _ in range(64):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(('127.0.0.1', self.port))
            self._fillers.append(filler)
            # A selector, not select(): a long test session may hold descriptors past select's 1024.
            with selectors.DefaultSelector() as selector:
                selector.register(filler, selectors.EVENT_WRITE)
                writable = selector.select(0.2)
            if not writable:
                return self  # this one is left hanging: the queue is full
        raise RuntimeError('could not fill the accept queue of a loopback listener')

    def __exit__(self, *exc):
        for s in self._fillers + [self._listener]:
            _close(s)


def self_signed_certificate(directory, san_ip='127.0.0.1', san_dns='localhost'):
    """Write a fresh self-signed certificate and key (PEM) into `directory`; return (cert_path, key_path).

    The names in the subject alternative name decide which host names verify against it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, san_dns or 'test')])
    now = datetime.datetime.now(datetime.UTC)
    alt_names = [x509.DNSName(san_dns)] if san_dns else []
    if san_ip:
        alt_names.append(x509.IPAddress(ipaddress.ip_address(san_ip)))
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = os.path.join(directory, 'cert.pem')
    key_path = os.path.join(directory, 'key.pem')
    with open(cert_path, 'wb') as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, 'wb') as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return cert_path, key_path


def server_tls_context(cert_path, key_path):
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


# Hostile endpoints: each play bounds its own work, so a test never waits on the server.


def trickle(body, release, lines_per_step=20, interval=0.1, content_type=PROMETHEUS_CONTENT_TYPE):
    """Play: the head at once, then a few lines every `interval` s: each read is quick, the whole body is not."""
    head = response_head(200, 'OK', {'Content-Type': content_type, 'Content-Length': str(len(body))})
    lines = body.splitlines(keepends=True)

    def play(conn, path):
        conn.sendall(head)
        for i in range(0, len(lines), lines_per_step):
            if release.wait(interval):
                return
            conn.sendall(b''.join(lines[i : i + lines_per_step]))

    return play


def gzip_bomb_stream(decoded_mib, block=b'\x00' * (1 << 20), prefix=b''):
    """Yield a gzip stream of `prefix` then `block` repeated to `decoded_mib` MiB, made on the fly and cheaply: after
    a full flush the compressor's output for the same block repeats, so it is computed twice and resent. The
    trailer's CRC is only right for a stream of at most two blocks: a bomb is never read to its end."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    yield c.compress(prefix) + c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    repeated = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    for _ in range(max(0, decoded_mib * (1 << 20) // len(block) - 1)):
        yield repeated
    yield c.flush()


def gzip_bomb(release, decoded_mib, block=b'\x00' * (1 << 20), prefix=b''):
    """Play: a gzip bomb sent close-delimited (no Content-Length), stopped when the client goes away."""
    head = response_head(
        200, 'OK', {'Content-Type': PROMETHEUS_CONTENT_TYPE, 'Content-Encoding': 'gzip', 'Connection': 'close'}
    )

    def play(conn, path):
        conn.sendall(head)
        for piece in gzip_bomb_stream(decoded_mib, block, prefix):
            if release.is_set():
                return
            conn.sendall(piece)

    return play


def big_body(release, size, content_type=PROMETHEUS_CONTENT_TYPE):
    """Play: an uncompressed body of `size` bytes of one endless family, sent as fast as the client reads."""
    line = b'litellm_proxy_total_requests_metric_total{requested_model="m",team="t"} 1.0\n'
    head = response_head(200, 'OK', {'Content-Type': content_type, 'Content-Length': str(size)})
    first = b'# TYPE litellm_proxy_total_requests_metric_total counter\n'
    piece = line * (65536 // len(line))

    def play(conn, path):
        conn.sendall(head + first)
        sent = len(first)
        while sent < size and not release.is_set():
            data = piece[: size - sent]
            conn.sendall(data)
            sent += len(data)

    return play
