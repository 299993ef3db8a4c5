"""Capture a real LiteLLM proxy's own log output (stdout and stderr apart) and its ``datadog`` callback's events.

Usage (from the litellm/ package directory):

    python -m tools.harness.capture_logs --version 1.110.2 --out tests/fixtures/logs
    python -m tools.harness.capture_logs --version 1.80.11 --out tests/fixtures/logs --modes json --verbosity debug

For each mode (``plain``, ``json``: JSON_LOGS=True) and verbosity (``default``; ``debug``: LITELLM_LOG=DEBUG and
``--detailed_debug``) it starts redis, the fake upstream, a loopback sink for the ``datadog`` callback and the
proxy (the default profile's models plus ``callbacks: [datadog]``), drives bounded traffic that makes every kind of
line (successes, an upstream 500 with a fallback, a 429, a bad key, an unknown model, a cooldown, a malformed body,
a redis outage), stops the proxy (shutdown lines) and writes, into OUT/<version>-<mode>-<verbosity>/:

  stdout.log, stderr.log  the proxy's two streams as written, apart from the scrubbing below
  events.jsonl            request events the ``datadog`` callback posted to the sink, one logs API item a line
                          (the first MAX_EVENTS of each status; none in a debug capture)
  provenance.json         versions, command, environment names, traffic statuses, what was scrubbed and trimmed

Scrubbing (literal replacements, counted in provenance.json): the random master key -> ``sk-REDACTED-master``,
the fake upstream key -> ``sk-REDACTED-upstream``, the random bad keys -> ``sk-REDACTED-bad``, local paths ->
``<venv>``, ``<python>``, ``<workdir>``, ``<repo>``, ``<home>``, the host name -> ``<hostname>``. The counts say
which release prints which key in clear. Trimming, to keep fixtures small: of the records (grouped by the spec's
multi_line rule) logged from one source location with one kind of message (logger, level, file:line, the
message's first words with numbers and ids blanked, a JSON line's keys) the first MAX_RECORDS_PER_LOCATION are
kept, every other record (uvicorn's lines, access lines, prints) is kept; a debug capture keeps at most
MAX_LINE_CHARS characters of a line (the cut is marked ``...<trimmed N chars>``; a JSON line's long string values
are cut instead, so that it stays JSON). provenance.json counts both.

The datadog callback is pointed at the sink by LITELLM_DD_AGENT_HOST/PORT (agent mode, plain HTTP), DD_BASE_URL
and DATADOG_BASE_URL (the test overrides of other releases): every one of them names 127.0.0.1. DD_SITE is left
unset, so a release that knows none of these cannot build a public intake URL (its datadog callback then fails to
start, which provenance.json records as zero events).
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import json
import platform
import re
import signal
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import capture  # type: ignore
    import proxy as harness  # type: ignore
else:
    from . import capture
    from . import proxy as harness

MODES = ("plain", "json")
VERBOSITIES = ("default", "debug")
# events kept per outer status (info: success, error: failure)
MAX_EVENTS = 2
MAX_LINE_CHARS = 1500
# records kept per source location and kind of message (logger, level, file:line, message shape), the first ones
MAX_RECORDS_PER_LOCATION = 2
_PLAIN_LOCATION = re.compile(r"(?:\x1b\[[0-9;]*m)?\d\d:\d\d:\d\d - ([^:\n]+):(\w+)(?:\x1b\[[0-9;]*m)?: (\S+) - ")
# seconds the datadog callback may take to flush its batch (it flushes every few seconds) before shutdown
FLUSH_WAIT = 12.0


class EventSink:
    """A loopback HTTP server that keeps what the datadog callback posts (gzip or not), answers 202."""

    def __init__(self):
        self.posts = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                sink.posts.append({"path": self.path, "body": body.decode("utf-8", "replace")})
                self.send_response(202)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((harness.LOOPBACK, harness.free_port()), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, name="dd-sink", daemon=True)
        self.thread.start()

    def events(self) -> list:
        out = []
        for post in self.posts:
            try:
                data = json.loads(post["body"])
            except ValueError:
                data = [post["body"]]
            out.extend(data if isinstance(data, list) else [data])
        return out

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def sink_env(port: int) -> dict:
    base = f"http://{harness.LOOPBACK}:{port}"
    return {
        "DD_API_KEY": "not-a-datadog-key",
        "LITELLM_DD_AGENT_HOST": harness.LOOPBACK,
        "LITELLM_DD_AGENT_PORT": str(port),
        "DD_BASE_URL": base,
        "DATADOG_BASE_URL": base,
        "DD_ENV": "capture",
        "DD_SERVICE": "litellm-proxy",
        "DD_BATCH_SIZE": "5",
    }


def drive_log_traffic(stack: harness.Stack) -> dict:
    """The default traffic once, malformed bodies, a redis outage (harness._redis_outage); statuses per category."""
    traffic = harness.drive_traffic(stack, rounds=1)
    records = traffic["records"]
    rec = harness._Recorder(stack, [harness.LOOPBACK], list(harness.USER_AGENTS[:1]), 60.0)
    # a body that is not JSON: the proxy's request parsing fails
    res = harness.request(stack, "POST", "/v1/chat/completions", None, headers={"Content-Type": "application/json"})
    records.append({"category": "empty_body", "status": res.status})
    res = harness.request(stack, "POST", "/v1/chat/completions", {"model": "gpt-ok", "messages": "not a list"})
    records.append({"category": "malformed_messages", "status": res.status})
    if stack.redis is not None:
        harness._redis_outage(rec, stack.redis, "logs")
    records += rec.records
    by = {}
    for r in records:
        by.setdefault(r["category"], {}).setdefault(str(r["status"]), 0)
        by[r["category"]][str(r["status"])] += 1
    return {"requests": len(records), "by_category_status": by}


def _shape(message: str) -> str:
    """A message's first words with numbers and ids blanked: what tells one kind of message from another."""
    return re.sub(r"[0-9a-f]{6,}|\d+", "#", message[:60])


def _location(record: str):
    """(logger, level, file:line, message shape[, JSON keys]) of a LiteLLM record, plain or JSON; None for other
    records (kept)."""
    m = _PLAIN_LOCATION.match(record)
    if m:
        return m.groups() + (_shape(record[m.end() :]),)
    if record.startswith("{"):
        try:
            data = json.loads(record)
        except ValueError:
            return None
        if isinstance(data, dict) and data.get("component") != "uvicorn.access":
            where = (data.get("component"), data.get("level"), data.get("logger"), tuple(sorted(data)))
            return where + (_shape(str(data.get("message"))),)
    return None


def trim_records(text: str) -> tuple:
    """Keep the first MAX_RECORDS_PER_LOCATION records of each source location (records grouped by the spec's
    multi_line rule); returns (text, records removed)."""
    from tools.logs.agent import AgentRules, processing_rules

    lines = text.split("\n")
    rules = AgentRules([r for r in processing_rules() if r["type"] == "multi_line"])
    starts = [n - 1 for n, _ in rules.records(lines, keep_blank=True)]
    seen, kept, removed = {}, [], 0
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(lines)
        record = lines[start:end]
        where = _location("\n".join(record))
        if where is not None:
            seen[where] = seen.get(where, 0) + 1
            if seen[where] > MAX_RECORDS_PER_LOCATION:
                removed += 1
                continue
        kept.extend(record)
    return "\n".join(kept), removed


def _trim(text: str) -> tuple:
    out, trimmed = [], 0
    for line in text.split("\n"):
        if len(line) > MAX_LINE_CHARS and line.startswith("{"):
            # a JSON line stays JSON: its long string values are cut instead, keys and order kept
            try:
                data = json.loads(line)
            except ValueError:
                data = None
            if isinstance(data, dict):
                keep = MAX_LINE_CHARS // 4
                for key, value in data.items():
                    if isinstance(value, str) and len(value) > keep:
                        data[key] = value[:keep] + f"...<trimmed {len(value) - keep} chars>"
                out.append(json.dumps(data))
                trimmed += 1
                continue
        if len(line) > MAX_LINE_CHARS:
            cut = len(line) - MAX_LINE_CHARS
            line = line[:MAX_LINE_CHARS] + f"...<trimmed {cut} chars>"
            trimmed += 1
        out.append(line)
    return "\n".join(out), trimmed


def capture_one(version: str, mode: str, verbosity: str, out_root: Path) -> dict:
    venv = harness.ensure_litellm_venv(version)
    workdir = Path(tempfile.mkdtemp(prefix="litellm-logs-"))
    sink = EventSink()
    stack = harness.Stack(version=version, workdir=workdir, venv=venv, master_key=harness.generate_master_key())
    # the features profile's short redis circuit-breaker recovery, so that the outage's end is logged too
    env = {**harness.FEATURE_ENV, **sink_env(sink.port)}
    if mode == "json":
        env["JSON_LOGS"] = "True"
    extra_args = []
    if verbosity == "debug":
        env["LITELLM_LOG"] = "DEBUG"
        extra_args = ["--detailed_debug"]
    started = time.monotonic()
    try:
        stack.upstream = harness.start_fake_upstream(workdir)
        stack.redis = harness.start_redis(workdir)
        config = harness.build_proxy_config(
            [stack.upstream.url(h) for h in stack.upstream.hosts], stack.master_key, stack.redis
        )
        config["litellm_settings"]["callbacks"] = config["litellm_settings"]["callbacks"] + ["datadog"]
        stack.config = config
        (workdir / "config.yaml").write_text(harness.to_yaml(config) + "\n")
        harness.log(f"litellm {version} {mode} {verbosity}: starting")
        for attempt in (1, 2):
            try:
                stack.proxy = harness.start_proxy(
                    venv,
                    workdir / "config.yaml",
                    stack.master_key,
                    workdir,
                    env_extra=env,
                    split_streams=True,
                    extra_args=extra_args,
                )
                break
            except RuntimeError:
                # another process can take the free port before uvicorn binds it: once more, on a new port
                if attempt == 2:
                    raise
                harness.log("litellm did not start; trying once more on another port")
                for stream in ("stdout", "stderr"):
                    (workdir / f"proxy.{stream}.log").unlink(missing_ok=True)
        traffic = drive_log_traffic(stack)
        time.sleep(FLUSH_WAIT)
    finally:
        stack.stop()  # SIGTERM: the proxy's shutdown lines end the capture
        sink.stop()
    seconds = round(time.monotonic() - started, 1)
    replacements = (
        [(stack.master_key, "sk-REDACTED-master"), (harness.FAKE_UPSTREAM_KEY, "sk-REDACTED-upstream")]
        + capture.local_replacements(venv, workdir)
        + [(harness.LOOPBACK + ":" + str(sink.port), harness.LOOPBACK + ":<sink-port>")]
    )
    out = out_root / f"{version}-{mode}-{verbosity}"
    out.mkdir(parents=True, exist_ok=True)
    scrubbed, trimmed, removed, lines = {}, {}, {}, {}
    for stream in ("stdout", "stderr"):
        raw = (workdir / f"proxy.{stream}.log").read_bytes()
        body, counts = capture.scrub(raw, replacements)
        text = body.decode("utf-8", "replace")
        text, bad = _scrub_bad_keys(text)
        if bad:
            counts["sk-REDACTED-bad"] = bad
        text, removed[stream] = trim_records(text)
        if verbosity == "debug":
            text, trimmed[stream] = _trim(text)
        scrubbed[stream] = counts
        lines[stream] = text.count("\n")
        (out / f"{stream}.log").write_text(text)
    events = sink.events()
    # the callback's events do not depend on the log verbosity: a debug capture keeps none of them
    kept = select_events(events) if verbosity == "default" else []
    events_text = "".join(json.dumps(e, sort_keys=True) + "\n" for e in kept)
    events_text = capture.scrub(events_text.encode(), replacements)[0].decode()
    events_text, _ = _scrub_bad_keys(events_text)
    (out / "events.jsonl").write_text(events_text)
    provenance = {
        "litellm_version": version,
        "mode": mode,
        "verbosity": verbosity,
        "captured_at": datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat(),
        "command": "litellm --config config.yaml --host 127.0.0.1 --port <port>" + "".join(" " + a for a in extra_args),
        "environment": {k: ("<sink>" if "127.0.0.1" in v else v) for k, v in env.items() if k != "DD_API_KEY"},
        "venv_python": harness.venv_info(venv).get("python"),
        "harness_python": platform.python_version(),
        "packages": capture._venv_package_versions(venv, ["litellm", "uvicorn", "fastapi", "redis"]),
        "seconds": seconds,
        "traffic": traffic,
        "lines": lines,
        "events_posted": len(events),
        "events_kept": len(kept),
        "events_rule": f"default verbosity: the first {MAX_EVENTS} events of each status the callback gave (info, "
        "error); debug: none",
        "sink_paths": sorted({p["path"] for p in sink.posts}),
        "scrub": scrubbed,
        "keys_in_clear_before_scrub": {
            stream: sorted(k for k in scrubbed[stream] if k.startswith("sk-REDACTED")) for stream in scrubbed
        },
        "records_removed": removed,
        "records_rule": f"of the records (spec multi_line rule) of one source location and kind of message (logger, "
        f"level, file:line, message shape, JSON keys) the first {MAX_RECORDS_PER_LOCATION} are kept; other records "
        "(uvicorn, access lines, prints) all",
        "trimmed_lines": trimmed,
        "trim_rule": f"debug captures: a line longer than {MAX_LINE_CHARS} characters is cut there",
    }
    (out / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n")
    for path in out.iterdir():
        content = path.read_bytes()
        for needle, _ in replacements:
            assert needle.encode() not in content, (path, _)
    harness.log(f"wrote {out}: {lines} lines, {len(events)} events, scrubbed {scrubbed}")
    return provenance


def select_events(events: list) -> list:
    """The first MAX_EVENTS events of each status (the callback's info for a success, error for a failure)."""
    kept, count = [], {}
    for event in events:
        status = event.get("status") if isinstance(event, dict) else None
        count[status] = count.get(status, 0) + 1
        if count[status] <= MAX_EVENTS:
            kept.append(event)
    return kept


def _scrub_bad_keys(text: str) -> tuple:
    """The harness's random invalid keys (``sk-bad-<16 hex>``)."""
    return re.subn(r"sk-bad-[0-9a-f]{16}", "sk-REDACTED-bad", text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Capture a LiteLLM proxy's log output for the log pipeline tests.")
    parser.add_argument("--version", required=True)
    parser.add_argument("--out", type=Path, default=Path("tests/fixtures/logs"))
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--verbosity", default=",".join(VERBOSITIES))
    args = parser.parse_args(argv)

    def _terminate(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _terminate)
    try:
        for mode in args.modes.split(","):
            for verbosity in args.verbosity.split(","):
                capture_one(args.version, mode, verbosity, args.out)
    finally:
        harness.stop_all_processes()
    return 0


if __name__ == "__main__":
    sys.exit(main())
