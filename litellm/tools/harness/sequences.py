"""Capture scrape sequences: run after run, the body the check would read, with each process's own truth.

Usage (from the litellm/ package directory):

    python -m tools.harness.sequences --version 1.110.2 --out tests/fixtures/sequences/1.110.2
    python -m tools.harness.sequences --version 1.80.11 --out tests/fixtures/sequences/1.80.11 \
        --scenarios replicas_round_robin workers

One file per scenario, `<scenario>.json.xz` (lzma: the runs' bodies repeat each other), holding
`runs`: per run, the requests sent before it, the body the check's endpoint answered (`body`), which
process answered (`answered`: a replica's name; workers and single processes: null) and, for the
replicas, each replica scraped directly right after (`direct`: {replica: body}, no traffic in between).
Scenarios (each a fresh set of proxies, one fake upstream, no redis):

  single                one proxy, traffic between runs
  idle                  one proxy, no traffic at all
  restart               one proxy restarted before run 6, then more requests than it counted before
  multiprocess          --num_workers 2 with PROMETHEUS_MULTIPROC_DIR (the workers share counters)
  workers               --num_workers 2, no multiprocess directory (1.90+: config from CONFIG_FILE_PATH)
  replicas_round_robin  two proxies (same config) behind a round-robin load balancer on loopback
  replicas_random       the same behind a random (seeded) load balancer

The master key (random per capture) is replaced by `sk-REDACTED` and local paths as capture.py does;
`capture.json` next to the files records versions and what each scenario ran.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import http.server
import json
import lzma
import random
import secrets
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from . import capture
from . import proxy as harness

SCENARIOS = ("single", "idle", "restart", "multiprocess", "workers", "replicas_round_robin", "replicas_random")
SETTLE_SECONDS = 1.5  # LiteLLM's Prometheus callbacks run after the response
REQUEST_TIMEOUT = 60.0
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class LoadBalancer:
    """A loopback reverse proxy in front of backends, round-robin or random (seeded), one request at a time per
    connection; records which backend answered each GET of /metrics/."""

    def __init__(self, backends: dict, policy: str, seed: int = 21):
        self.backends = backends  # name -> (host, port)
        self.names = sorted(backends)
        self.policy = policy
        self.random = random.Random(seed)
        self.turn = 0
        self.lock = threading.Lock()
        self.metrics_answers = []
        balancer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                balancer.forward(self)

            def do_POST(self):
                balancer.forward(self)

        self.server = http.server.ThreadingHTTPServer((harness.LOOPBACK, harness.free_port()), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def pick(self) -> str:
        with self.lock:
            if self.policy == "round_robin":
                name = self.names[self.turn % len(self.names)]
                self.turn += 1
                return name
            return self.random.choice(self.names)

    def forward(self, handler) -> None:
        name = self.pick()
        host, port = self.backends[name]
        assert host.startswith("127."), host  # loopback only
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else None
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in HOP_HEADERS}
        conn = http.client.HTTPConnection(host, port, timeout=REQUEST_TIMEOUT)
        try:
            conn.request(handler.command, handler.path, body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            if handler.command == "GET" and handler.path.startswith("/metrics"):
                with self.lock:  # recorded before the client has its answer
                    self.metrics_answers.append(name)
            handler.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in HOP_HEADERS:
                    handler.send_header(key, value)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
        finally:
            conn.close()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def http_call(host, port, key, method, path, body=None):
    headers = {"Authorization": "Bearer " + key}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn = http.client.HTTPConnection(host, port, timeout=REQUEST_TIMEOUT)
    try:
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def send_traffic(host, port, key, count, tag) -> dict:
    """`count` chat requests (a few go to the failing model, for the error families), bounded in time."""
    statuses = {}
    for i in range(count):
        model = "gpt-500b" if i % 4 == 3 else "gpt-ok"
        status, _ = http_call(
            host, port, key, "POST", "/v1/chat/completions", harness._chat_body(model, f"seq {tag} {i}")
        )
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return statuses


def scrape(host, port, key) -> str:
    status, body = http_call(host, port, key, "GET", "/metrics/")
    if status != 200:
        raise RuntimeError(f"GET /metrics/ answered {status}")
    return body.decode("utf-8")


def run_scenario(scenario: str, version: str, workdir: Path, runs: int, rng: random.Random) -> dict:
    venv = harness.ensure_litellm_venv(version)
    upstream = harness.start_fake_upstream(workdir)
    key = harness.generate_master_key()
    config_path = workdir / "config.yaml"
    config = harness.write_proxy_config(config_path, upstream, key)
    proxies = {}
    balancer = None
    records = []
    try:
        replicas = scenario.startswith("replicas")
        workers = 2 if scenario in ("workers", "multiprocess") else None
        names = ("a", "b") if replicas else ("proxy",)
        for name in names:
            proxy_dir = workdir / name
            proxy_dir.mkdir()
            handle = harness.ProxyHandle(
                venv=venv,
                config_path=config_path,
                workdir=proxy_dir,
                master_key=key,
                host=harness.LOOPBACK,
                port=harness.free_port(),
                num_workers=workers,
                multiproc_dir=proxy_dir / "prometheus_multiproc" if scenario == "multiprocess" else None,
                # 1.90+ make a multiprocess directory of their own for --num_workers with --config
                config_via_env=scenario == "workers",
                env_extra={"TMPDIR": str(proxy_dir)},
            )
            harness.log(f"{scenario}: starting {name}")
            proxies[name] = handle.start()
        if replicas:
            policy = "round_robin" if scenario.endswith("round_robin") else "random"
            balancer = LoadBalancer({n: (p.host, p.port) for n, p in proxies.items()}, policy)
            target = (harness.LOOPBACK, balancer.port)
        else:
            target = (proxies["proxy"].host, proxies["proxy"].port)
        for run in range(1, runs + 1):
            record = {"run": run}
            if scenario == "restart" and run == runs // 2 + 1:
                proxies["proxy"].restart()
                record["restarted"] = True
            count = 0 if scenario == "idle" else rng.randint(2, 6)
            if scenario == "restart" and record.get("restarted"):
                # more than the process counted before it restarted: a naive reading takes it for an increase
                count = sum(r["requests"] for r in records) + 4
            record["requests"] = count
            record["statuses"] = send_traffic(*target, key, count, f"{scenario}-{run}") if count else {}
            time.sleep(SETTLE_SECONDS)
            record["scraped_at"] = round(time.time(), 3)
            record["body"] = scrape(*target, key)
            record["answered"] = balancer.metrics_answers[-1] if balancer else None
            if replicas:
                record["direct"] = {name: scrape(p.host, p.port, key) for name, p in proxies.items()}
            records.append(record)
            harness.log(f"{scenario}: run {run} ({count} requests, answered by {record['answered']})")
        dirs = sorted(str(p.relative_to(workdir)) for p in workdir.rglob("prometheus_multiproc*") if p.is_dir())
        dirs += sorted(str(p.relative_to(workdir)) for p in workdir.rglob("*") if p.is_dir() and "prom" in p.name)
        return {
            "scenario": scenario,
            "num_workers": workers,
            "replicas": list(names) if replicas else None,
            "balancer": balancer.policy if balancer else None,
            "config_via_env": scenario == "workers",
            "prometheus_multiproc_dir_set": scenario == "multiprocess",
            "multiprocess_dirs_found": sorted(set(dirs)),
            "runs": records,
            "key": key,
            "config": config,
        }
    finally:
        if balancer:
            balancer.stop()
        for handle in proxies.values():
            handle.stop()
        upstream.stop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Capture LiteLLM scrape sequences, run after run.")
    parser.add_argument("--version", required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--scenarios", nargs="*", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--seed", type=int, default=21)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda signum, frame: (_ for _ in ()).throw(SystemExit(128 + signum)))
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    venv = harness.ensure_litellm_venv(args.version)
    previous = out / "capture.json"
    summary = json.loads(previous.read_text()) if previous.exists() else {"scenarios": {}}
    summary.update(
        {
            "litellm_version": args.version,
            "captured_at": datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat(),
            "packages": capture._venv_package_versions(venv, ["litellm", "prometheus_client", "uvicorn"]),
        }
    )
    try:
        for scenario in args.scenarios:
            workdir = Path(tempfile.mkdtemp(prefix=f"litellm-seq-{secrets.token_hex(2)}-"))
            data = run_scenario(scenario, args.version, workdir, args.runs, rng)
            key = data.pop("key")
            replacements = [(key, capture.PLACEHOLDER.decode())] + capture.local_replacements(venv, workdir)
            text = capture.scrubbed_json(data, replacements, indent=1)
            assert key not in text
            (out / f"{scenario}.json.xz").write_bytes(lzma.compress(text.encode(), preset=9 | lzma.PRESET_EXTREME))
            summary["scenarios"][scenario] = {
                k: v for k, v in data.items() if k not in ("runs", "config", "scenario")
            } | {
                "captured_at": datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat(),
                "runs": args.runs,
                "seed": args.seed,
                "requests": [r["requests"] for r in data["runs"]],
                "answered": [r["answered"] for r in data["runs"]],
                "restarted_before_run": [r["run"] for r in data["runs"] if r.get("restarted")],
            }
            (out / "capture.json").write_text(json.dumps(summary, indent=2) + "\n")
    finally:
        harness.stop_all_processes()
    return 0


if __name__ == "__main__":
    sys.exit(main())
