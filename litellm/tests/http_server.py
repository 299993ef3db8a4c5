"""A real HTTP server on 127.0.0.1 for tests: each route answers with a fixed response or runs a handler."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'


class Response:
    def __init__(self, body=b'', status=200, headers=None, content_type=PROMETHEUS_CONTENT_TYPE):
        self.body = body.encode() if isinstance(body, str) else body
        self.status = status
        self.headers = dict(headers or {})
        if content_type:
            self.headers.setdefault('Content-Type', content_type)

    def __call__(self, handler):
        handler.send_response(self.status)
        for name, value in self.headers.items():
            handler.send_header(name, value)
        handler.send_header('Content-Length', str(len(self.body)))
        handler.end_headers()
        handler.wfile.write(self.body)


class LocalServer:
    """Serves `routes` ({path: Response or callable(handler)}); records each request's path and headers."""

    def __init__(self, routes=None):
        self.routes = dict(routes or {})
        self.requests = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def do_GET(self):
                server.requests.append((self.path, dict(self.headers)))
                route = server.routes.get(self.path.split('?')[0])
                if route is None:
                    Response(b'not found', status=404, content_type='text/plain')(self)
                else:
                    route(self)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f'http://127.0.0.1:{self.port}'
        # A short poll interval: shutdown() waits for it, once per test.
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={'poll_interval': 0.02}, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
