"""Fake OpenAI-compatible upstream for the LiteLLM capture harness (stdlib only).

Run:    python fake_upstream.py --port 18000 [--host 127.0.0.1 --host 127.0.0.2]
Import: server = FakeUpstream(port=0); server.start(); ...; server.stop()

Behaviour is chosen by the ``model`` the proxy sends upstream:

  fake-ok*       200, with usage and x-ratelimit-* headers (remaining counts go down)
  fake-plain*    200, with usage but without x-ratelimit-* headers
  fake-429*      429 rate-limit error (OpenAI error body)
  fake-500*      500 server error (OpenAI error body)
  fake-details*  like fake-ok, and the usage carries OpenAI's token details
                 (prompt_tokens_details: cached/audio/cache-write tokens,
                 completion_tokens_details: reasoning/audio tokens)
  fake-empty*    like fake-plain, but an empty answer (completion_tokens 0)
  fake-slow*     like fake-plain, answered after SLOW_SECONDS (to fill a queue)
  anything else: same as fake-ok

Endpoints: POST /v1/chat/completions (stream true/false), POST /v1/embeddings,
POST /v1/images/generations (n images), POST /v1/videos (multipart, a queued
video job), POST /mcp (a stateless MCP server with one tool, ``echo``), GET /v1/models,
GET /_stats (request counts per path/model/status).
Each response is delayed by 20-80 ms; streaming chunks are spaced by ~10 ms.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import signal
import sys
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RATE_LIMIT_REQUESTS = 10000
RATE_LIMIT_TOKENS = 2000000
EMBEDDING_DIM = 8
COMPLETION_TEXT = "This is a canned reply from the fake upstream used by the capture harness."
SLOW_SECONDS = 1.5
# Token details fake-details reports (OpenAI field names), all below the totals they are part of.
PROMPT_TOKENS_DETAILS = {"cached_tokens": 4, "audio_tokens": 2, "cache_write_tokens": 3}
COMPLETION_TOKENS_DETAILS = {"reasoning_tokens": 5, "audio_tokens": 1}
MCP_PROTOCOL_VERSION = "2025-06-18"
MCP_ECHO_TOOL = {
    "name": "echo",
    "description": "Returns its text argument.",
    "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
}
# A 1x1 transparent PNG, the image every /images/generations answer carries.
TINY_PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


class _State:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = Counter()
        self.requests_used = 0
        self.tokens_used = 0

    def record(self, path, model, status):
        with self.lock:
            self.counts[f"{path} {model} {status}"] += 1

    def use(self, tokens):
        with self.lock:
            self.requests_used += 1
            self.tokens_used += tokens
            return (
                max(RATE_LIMIT_REQUESTS - self.requests_used, 0),
                max(RATE_LIMIT_TOKENS - self.tokens_used, 0),
            )


def _count_tokens(value) -> int:
    """Crude token count: words in all strings found in value."""
    if isinstance(value, str):
        return max(1, len(value.split()))
    if isinstance(value, list):
        return sum(_count_tokens(v) for v in value) or 1
    if isinstance(value, dict):
        return sum(_count_tokens(v) for k, v in value.items() if k in ("content", "text", "input")) or 1
    return 1


def _behaviour(model: str) -> str:
    model = (model or "").split("/")[-1]
    for kind in ("fake-429", "fake-500", "fake-plain", "fake-details", "fake-empty", "fake-slow", "fake-ok"):
        if model.startswith(kind):
            return kind
    return "fake-ok"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeUpstream/1.0"
    state: _State = None  # set per server

    def log_message(self, fmt, *args):  # keep the harness logs quiet
        if getattr(self.server, "verbose", False):
            sys.stderr.write("fake_upstream: " + (fmt % args) + "\n")

    # ---------------------------------------------------------------- helpers
    def _latency(self):
        time.sleep(random.uniform(0.02, 0.08))

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _read_json(self):
        raw = self._read_body()
        try:
            return json.loads(raw or b"{}")
        except ValueError:
            return {}

    def _read_form(self) -> dict:
        """Text fields of a multipart/form-data body (file parts are ignored)."""
        raw = self._read_body()
        match = re.search(r"boundary=([^;]+)", self.headers.get("Content-Type") or "")
        if not match:
            return {}
        fields = {}
        for part in raw.split(b"--" + match.group(1).strip('"').encode()):
            head, _, value = part.partition(b"\r\n\r\n")
            name = re.search(rb'name="([^"]+)"', head)
            if name and b"filename=" not in head:
                fields[name.group(1).decode()] = value.rstrip(b"\r\n").decode("utf-8", "replace")
        return fields

    def _send_json(self, status, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", "req_" + uuid.uuid4().hex[:24])
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _ratelimit_headers(self, tokens):
        remaining_requests, remaining_tokens = self.server.state.use(tokens)
        return {
            "x-ratelimit-limit-requests": str(RATE_LIMIT_REQUESTS),
            "x-ratelimit-limit-tokens": str(RATE_LIMIT_TOKENS),
            "x-ratelimit-remaining-requests": str(remaining_requests),
            "x-ratelimit-remaining-tokens": str(remaining_tokens),
            "x-ratelimit-reset-requests": "6ms",
            "x-ratelimit-reset-tokens": "1ms",
        }

    def _error(self, path, model, kind):
        if kind == "fake-429":
            status, body = (
                429,
                {
                    "error": {
                        "message": f"Rate limit reached for {model} (fake upstream always limits this model).",
                        "type": "requests",
                        "param": None,
                        "code": "rate_limit_exceeded",
                    }
                },
            )
            headers = {
                "x-ratelimit-limit-requests": str(RATE_LIMIT_REQUESTS),
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-limit-tokens": str(RATE_LIMIT_TOKENS),
                "x-ratelimit-remaining-tokens": "0",
            }
        else:
            status, body = (
                500,
                {
                    "error": {
                        "message": f"The fake upstream had an internal error while processing {model}.",
                        "type": "server_error",
                        "param": None,
                        "code": None,
                    }
                },
            )
            headers = {}
        # Tell the OpenAI SDK not to retry on its own, so counts stay exact.
        headers["x-should-retry"] = "false"
        self.server.state.record(path, model, status)
        self._send_json(status, body, headers)

    # ------------------------------------------------------------------- GET
    def do_GET(self):
        path = self.path.split("?")[0].rstrip("/")
        if path in ("/v1/models", "/models"):
            self._latency()
            now = int(time.time())
            data = [
                {"id": m, "object": "model", "created": now, "owned_by": "fake-upstream"}
                for m in ("fake-ok", "fake-plain", "fake-429", "fake-500", "fake-embed")
            ]
            self.server.state.record(path, "-", 200)
            self._send_json(200, {"object": "list", "data": data})
        elif path == "/mcp":
            # no server-initiated stream: MCP clients then use plain POST request/response
            self._send_json(405, {"error": "method not allowed"})
        elif path == "/_stats":
            with self.server.state.lock:
                counts = dict(self.server.state.counts)
            self._send_json(200, {"counts": counts})
        elif path in ("", "/health"):
            self._send_json(200, {"status": "ok"})
        else:
            self._send_json(404, {"error": {"message": f"not found: {path}", "type": "invalid_request_error"}})

    # ------------------------------------------------------------------ POST
    def do_POST(self):
        path = self.path.split("?")[0].rstrip("/")
        if path in ("/v1/videos", "/videos"):
            self._latency()
            json_body = (self.headers.get("Content-Type") or "").startswith("application/json")
            return self._video(path, self._read_json() if json_body else self._read_form())
        if path == "/mcp":
            return self._mcp(path, self._read_json())
        body = self._read_json()
        model = body.get("model", "")
        kind = _behaviour(model)
        self._latency()
        if path in ("/v1/chat/completions", "/chat/completions"):
            if kind in ("fake-429", "fake-500"):
                return self._error(path, model, kind)
            return self._chat(path, model, kind, body)
        if path in ("/v1/embeddings", "/embeddings"):
            if kind in ("fake-429", "fake-500"):
                return self._error(path, model, kind)
            return self._embeddings(path, model, kind, body)
        if path in ("/v1/images/generations", "/images/generations"):
            return self._images(path, model, body)
        self.server.state.record(path, model, 404)
        self._send_json(404, {"error": {"message": f"not found: {path}", "type": "invalid_request_error"}})

    def _chat(self, path, model, kind, body):
        text = "" if kind == "fake-empty" else COMPLETION_TEXT
        prompt_tokens = _count_tokens(body.get("messages", [])) + 7
        completion_tokens = len(text.split())
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        if kind == "fake-details":
            usage["prompt_tokens_details"] = dict(PROMPT_TOKENS_DETAILS)
            usage["completion_tokens_details"] = dict(COMPLETION_TOKENS_DETAILS)
        if kind == "fake-slow":
            time.sleep(SLOW_SECONDS)
        headers = self._ratelimit_headers(usage["total_tokens"]) if kind in ("fake-ok", "fake-details") else {}
        created = int(time.time())
        cid = "chatcmpl-" + uuid.uuid4().hex[:24]
        self.server.state.record(path, model, 200)
        if not body.get("stream"):
            self._send_json(
                200,
                {
                    "id": cid,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "system_fingerprint": "fp_fake",
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": text},
                        }
                    ],
                    "usage": usage,
                },
                headers,
            )
            return

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-request-id", "req_" + uuid.uuid4().hex[:24])
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()

        def chunk(payload):
            data = (f"data: {payload}\n\n").encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        base = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_fake",
        }
        chunk(
            json.dumps(
                dict(base, choices=[{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
            )
        )
        for word in text.split():
            time.sleep(0.01)
            chunk(
                json.dumps(dict(base, choices=[{"index": 0, "delta": {"content": word + " "}, "finish_reason": None}]))
            )
        chunk(json.dumps(dict(base, choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}])))
        # Usage chunk (what OpenAI sends with stream_options.include_usage).
        chunk(json.dumps(dict(base, choices=[], usage=usage)))
        chunk("[DONE]")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _embeddings(self, path, model, kind, body):
        inputs = body.get("input", "")
        if not isinstance(inputs, list) or (inputs and isinstance(inputs[0], int)):
            inputs = [inputs]
        data = []
        for i, item in enumerate(inputs):
            rnd = random.Random(str(item))
            data.append(
                {
                    "object": "embedding",
                    "index": i,
                    "embedding": [round(rnd.uniform(-1, 1), 6) for _ in range(EMBEDDING_DIM)],
                }
            )
        tokens = _count_tokens(inputs)
        headers = self._ratelimit_headers(tokens) if kind == "fake-ok" else {}
        self.server.state.record(path, model, 200)
        self._send_json(
            200,
            {
                "object": "list",
                "data": data,
                "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
            headers,
        )

    def _images(self, path, model, body):
        count = body.get("n") or 1
        count = count if isinstance(count, int) and 0 < count <= 10 else 1
        self.server.state.record(path, model, 200)
        self._send_json(
            200,
            {"created": int(time.time()), "data": [{"b64_json": TINY_PNG_B64} for _ in range(count)]},
        )

    def _video(self, path, form):
        model = form.get("model", "")
        self.server.state.record(path, model, 200)
        self._send_json(
            200,
            {
                "id": "video_" + uuid.uuid4().hex[:24],
                "object": "video",
                "model": model,
                "status": "queued",
                "progress": 0,
                "created_at": int(time.time()),
                "seconds": str(form.get("seconds") or "4"),
                "size": str(form.get("size") or "720x1280"),
            },
        )

    def _mcp(self, path, message):
        """A stateless MCP server (streamable HTTP, JSON answers) with one tool, ``echo``."""
        method = message.get("method", "") if isinstance(message, dict) else ""
        self.server.state.record(path, method, 200)
        if "id" not in message:  # a notification: nothing to answer
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if method == "initialize":
            params = message.get("params") or {}
            result = {
                "protocolVersion": params.get("protocolVersion") or MCP_PROTOCOL_VERSION,
                "capabilities": {"tools": {"listChanged": False}},
                "serverInfo": {"name": "fake-upstream", "version": "1.0"},
            }
        elif method == "tools/list":
            result = {"tools": [MCP_ECHO_TOOL]}
        elif method == "tools/call":
            arguments = (message.get("params") or {}).get("arguments") or {}
            result = {"content": [{"type": "text", "text": str(arguments.get("text", ""))}], "isError": False}
        elif method == "ping":
            result = {}
        else:
            error = {"code": -32601, "message": f"method not found: {method}"}
            return self._send_json(200, {"jsonrpc": "2.0", "id": message["id"], "error": error})
        self._send_json(200, {"jsonrpc": "2.0", "id": message["id"], "result": result})


class FakeUpstream:
    """One or more ThreadingHTTPServers (one per host) sharing state and port."""

    def __init__(self, port=0, hosts=("127.0.0.1",), verbose=False):
        self.state = _State()
        self.servers = []
        self.threads = []
        for host in hosts:
            srv = ThreadingHTTPServer((host, port), Handler)
            srv.daemon_threads = True
            srv.state = self.state
            srv.verbose = verbose
            port = srv.server_address[1]  # later hosts reuse the first port
            self.servers.append(srv)
        self.port = port
        self.hosts = tuple(hosts)

    def url(self, host=None):
        return f"http://{host or self.hosts[0]}:{self.port}/v1"

    def start(self):
        for srv in self.servers:
            t = threading.Thread(target=srv.serve_forever, name="fake-upstream", daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def stop(self):
        for srv in self.servers:
            srv.shutdown()
            srv.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", action="append", help="address to bind (repeatable); default 127.0.0.1")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    server = FakeUpstream(args.port, tuple(args.host or ["127.0.0.1"]), verbose=args.verbose).start()
    print(f"fake upstream listening on {','.join(server.hosts)} port {server.port}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    server.stop()


if __name__ == "__main__":
    main()
