"""Capture raw LiteLLM proxy output for fixtures.

Usage (from the litellm/ package directory):

    python -m tools.harness.capture --version 1.110.2 --out tests/fixtures/real/1.110.2
    python -m tools.harness.capture --version 1.110.2 --workers 2 \
        --out tests/fixtures/real/1.110.2-multiworker
    python -m tools.harness.capture --version 1.110.2 --profile features \
        --out tests/fixtures/real/1.110.2-features
    python -m tools.harness.capture --version 1.110.2 --profile budgets \
        --out tests/fixtures/real/1.110.2-budgets
    python -m tools.harness.capture --version 1.110.2 --profile callers --callers 1000 \
        --out tests/fixtures/real/1.110.2-callers

The ``callers`` profile writes a sequence of compressed scrapes instead, as its callers grow: see callers.py.

It installs LiteLLM==VERSION in a cached venv (<repo>/.cache/litellm/VERSION), starts
redis-server, the fake upstream and ``litellm --config`` on loopback, drives real traffic
through the proxy (``--profile features``: plus the features profile's models, plugins and
requests, see proxy.py) and writes, into --out:

  metrics_before_traffic.txt  raw GET /metrics/ body right after start-up
  metrics.txt                 raw GET /metrics/ body after the traffic
  readiness.json              raw GET /health/readiness body
  readiness_details.json      raw GET /health/readiness/details body (Bearer)
  health.json                 raw GET /health body (Bearer; calls every model)
  capture.json                versions, timings, traffic counts, status codes, scrubbing; with
                              --profile budgets also what each test key was given
                              ("budget_callers") and, from a restart with LiteLLM's own checks
                              on custom auth (custom_auth_run_common_checks), what the proxy
                              answered each key ("budget_enforcement")

Bodies are written exactly as received, with two documented exceptions recorded in
capture.json["scrub"]: the proxy's master key (random per run) is replaced by
``sk-REDACTED`` should it ever appear (the budgets profile's test keys, random per run too, by
``sk-REDACTED-<caller>``), and local absolute paths (the venv, the Python
installation, the temp work dir, the repo, the home dir: they show up in stack traces in
/health error bodies) are replaced by ``<venv>``, ``<python>``, ``<workdir>``, ``<repo>``
and ``<home>``, and the machine's host name by ``<hostname>``.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import platform
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # allow ``python capture.py`` too
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import proxy as harness  # type: ignore
else:
    from . import proxy as harness

PLACEHOLDER = b"sk-REDACTED"
# What `local_replacements` puts in place of this machine's paths and host name, as every capture.json lists them.
LOCAL_PLACEHOLDERS = ["<venv>", "<python>", "<workdir>", "<repo>", "<home>", "<hostname>"]
SETTLE_SECONDS = 3.0

FILES = {
    # name -> (path, auth)
    "readiness": ("/health/readiness", False),
    "readiness_details": ("/health/readiness/details", True),
    "health": ("/health", True),
}


def metric_families(text: str, prefix: str = "litellm_") -> list:
    """Family names from ``# TYPE`` lines (as exposed, no normalisation)."""
    names = []
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            parts = line.split()
            if len(parts) >= 3 and parts[2].startswith(prefix) and parts[2] not in names:
                names.append(parts[2])
    return names


def scrub(body: bytes, replacements: list) -> tuple:
    """Apply (needle, placeholder) replacements in order; returns (body, {placeholder: count})."""
    counts = {}
    for needle, placeholder in replacements:
        if not needle:
            continue
        n = body.count(needle.encode())
        if n:
            body = body.replace(needle.encode(), placeholder.encode())
            counts[placeholder] = counts.get(placeholder, 0) + n
    # Error texts are sometimes cut mid-path ('File "/wo'): scrub such truncated prefixes too.
    paths = [(n, p) for n, p in replacements if n.startswith("/")]

    def _truncated(match):
        text = match.group(0).decode()
        for needle, placeholder in paths:
            if needle.startswith(text):
                counts[placeholder] = counts.get(placeholder, 0) + 1
                return placeholder.encode()
        return match.group(0)

    body = re.sub(rb'(?<=File \\")/[^"\\]*(?=\\?")', _truncated, body)
    body = re.sub(rb'(?<=File ")/[^"\\]*(?=\\?")', _truncated, body)
    return body, counts


def local_replacements(venv: Path, workdir: Path) -> list:
    """(needle, placeholder) pairs for machine-specific strings, longest needles first."""
    base = subprocess.run(
        [str(harness.venv_bin(venv, "python")), "-c", "import sys; print(sys.base_prefix)"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    pairs = []
    for path, placeholder in (
        (venv, "<venv>"),
        (Path(venv).resolve(), "<venv>"),
        (base, "<python>"),
        (workdir, "<workdir>"),
        (Path(workdir).resolve(), "<workdir>"),
        (harness.REPO_ROOT, "<repo>"),
        (Path.home(), "<home>"),
    ):
        text = str(path).rstrip("/")
        if text and text != "/" and (text, placeholder) not in pairs:
            pairs.append((text, placeholder))
    pairs.sort(key=lambda p: -len(p[0]))
    host = socket.gethostname()
    if host and len(host) >= 4 and host not in ("localhost",):
        pairs.append((host, "<hostname>"))
    return pairs


def _venv_package_versions(venv: Path, names: list) -> dict:
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for n in sys.argv[1:]:\n"
        "    try: out[n] = m.version(n)\n"
        "    except Exception: out[n] = None\n"
        "print(json.dumps(out))\n"
    )
    res = subprocess.run([str(harness.venv_bin(venv, "python")), "-c", code] + names, capture_output=True, text=True)
    return json.loads(res.stdout) if res.returncode == 0 else {}


def _redis_version() -> str:
    exe = harness.find_redis_server(install=False)
    if not exe:
        return ""
    out = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout
    match = re.search(r"v=(\S+)", out)
    return match.group(1) if match else out.strip()


def provenance(version: str, venv: Path, info: dict, stack, profile: str) -> dict:
    """The first fields of every capture.json: what was captured, when, with which packages."""
    return {
        "litellm_version": version,
        "captured_at": datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat(),
        "venv_python": info.get("python"),
        "harness_python": platform.python_version(),
        "packages": _venv_package_versions(
            venv, ["litellm", "prometheus_client", "fastapi", "uvicorn", "starlette", "redis"]
        ),
        "redis_server": _redis_version() if stack.redis else None,
        "cache": "redis" if stack.redis else None,
        "profile": profile,
    }


def redacted_config(config: dict, key: str) -> dict:
    """The proxy's config as a capture records it: its master key replaced by the placeholder."""
    return json.loads(json.dumps(config).replace(key, PLACEHOLDER.decode()))


def scrubbed_json(document: dict, replacements: list, indent: int) -> str:
    """`document` as JSON text with each (needle, placeholder) of `replacements` replaced: error texts and records
    may hold this machine's paths and host name."""
    text = json.dumps(document, indent=indent)
    for needle, placeholder in replacements:
        text = text.replace(needle, placeholder)
    return text


def _endpoint_record(res: harness.ScrapeResult) -> dict:
    return {
        "path": "/" + res.url.split("/", 3)[-1],
        "status": res.status,
        "content_type": res.headers.get("content-type"),
        "location": res.headers.get("location"),
        "bytes": len(res.body),
        "elapsed_seconds": res.elapsed,
    }


def _wait_for_settle(stack, seconds: float) -> None:
    """Prometheus callbacks run after the response; give them a moment."""
    time.sleep(seconds)


def run_capture(
    version: str,
    out: Path,
    workers: int = None,
    multiproc: bool = None,
    rounds: int = 1,
    use_redis: bool = True,
    cache_root=None,
    keep_workdir: bool = False,
    profile: str = "default",
) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if multiproc is None:
        multiproc = bool(workers and workers > 1)

    root = Path(cache_root) if cache_root else harness.DEFAULT_CACHE_ROOT
    install_reused = (root / version / harness.MARKER_NAME).exists()
    venv = harness.ensure_litellm_venv(version, cache_root)
    info = harness.venv_info(venv)

    stack = harness.launch(
        version,
        cache_root=cache_root,
        num_workers=workers,
        multiproc=multiproc,
        use_redis=use_redis,
        keep_workdir=keep_workdir,
        profile=profile,
    )
    secret = stack.master_key
    bodies = {}
    endpoints = {}
    probes = {}
    try:
        pids_at_start = stack.pids
        before = harness.scrape_metrics(stack)
        bodies["metrics_before_traffic.txt"] = before.body
        endpoints["metrics_before_traffic"] = _endpoint_record(before)

        harness.log("driving traffic")
        traffic = harness.drive_traffic(stack, rounds=rounds, profile=profile)
        harness.log(f"traffic done: {traffic['total']} requests, statuses {traffic['by_status']}")
        _wait_for_settle(stack, SETTLE_SECONDS)

        metrics = harness.scrape_metrics(stack)
        bodies["metrics.txt"] = metrics.body
        endpoints["metrics"] = _endpoint_record(metrics)

        for name, (path, auth) in FILES.items():
            harness.log(f"GET {path}")
            res = harness.scrape(stack, path, auth=auth)
            bodies[name + ".json"] = res.body
            endpoints[name] = _endpoint_record(res)

        for label, path, auth in (
            ("metrics_no_slash_auth", "/metrics", True),
            ("metrics_no_slash_no_auth", "/metrics", False),
            ("metrics_slash_no_auth", "/metrics/", False),
            ("metrics_slash_bad_key", "/metrics/", "sk-bad-key"),
        ):
            if auth is True or auth is False:
                res = harness.scrape(stack, path, auth=auth)
            else:
                res = harness.request(stack, "GET", path, key=auth)
            rec = _endpoint_record(res)
            rec["auth"] = "master key" if auth is True else ("none" if auth is False else "invalid key")
            probes[label] = rec
        upstream_stats = stack.upstream.stats()
        pids_at_end = stack.pids
        startup_seconds = stack.proxy.startup_seconds
        enforcement = None
        if profile == "budgets":
            harness.log("restarting with custom_auth_run_common_checks: true (budget enforcement probe)")
            enforcement = harness.probe_budget_enforcement(stack)
            harness.log(f"enforcement probe: {enforcement['by_category_status']}")
        workdir = stack.workdir
    except BaseException:
        stack.keep_workdir = True
        harness.log(f"capture failed; logs kept in {stack.workdir}")
        raise
    finally:
        stack.stop()

    test_keys = [(key, f"{PLACEHOLDER.decode()}-{name}") for name, key in stack.budget_keys.items()]
    replacements = [(secret, PLACEHOLDER.decode())] + test_keys + local_replacements(venv, workdir)
    scrubbed = {}
    for name, body in bodies.items():
        body, counts = scrub(body, replacements)
        if counts:
            scrubbed[name] = counts
        (out / name).write_bytes(body)

    config = redacted_config(stack.config, secret)
    text = bodies["metrics.txt"].decode("utf-8", "replace")
    families = metric_families(text)
    capture = {
        **provenance(version, venv, info, stack, profile),
        "num_workers": workers,
        "prometheus_multiproc_dir_set": bool(multiproc),
        "install_seconds": info.get("install_seconds"),
        "install_reused": install_reused,
        "proxy_startup_seconds": startup_seconds,
        "proxy_pids": {"at_start": len(pids_at_start), "at_end": len(pids_at_end)},
        "traffic": {k: v for k, v in traffic.items() if k != "records"},
        "traffic_records": traffic["records"],
        "upstream_requests": upstream_stats,
        "endpoints": endpoints,
        "probes": probes,
        "litellm_family_count": len(families),
        "scrub": {
            "placeholder": PLACEHOLDER.decode(),
            "master_key_found": any(PLACEHOLDER.decode() in c for c in scrubbed.values()),
            "replacements_by_file": scrubbed,
            "scrubbed": bool(scrubbed),
            "placeholders": [
                "sk-REDACTED (proxy master key)",
                "sk-REDACTED-<caller> (budgets profile test keys)",
                *LOCAL_PLACEHOLDERS,
            ],
            "note": "bodies are raw apart from these literal replacements",
        },
        "proxy_config": config,
    }
    if enforcement is not None:
        # after the scrapes, on a restarted proxy: what LiteLLM answers each test key once it runs its own checks
        capture["budget_enforcement"] = {
            "general_settings": {"custom_auth_run_common_checks": True},
            "by_category_status": enforcement["by_category_status"],
            "records": enforcement["records"],
        }
    if stack.budget_keys:
        # what the custom auth gave each test key, and the key's hash as LiteLLM labels it (hashed_api_key)
        capture["budget_callers"] = {
            name: {"hashed_api_key": hashlib.sha256(key.encode()).hexdigest(), **harness.budget_auth.CALLERS[name]}
            for name, key in stack.budget_keys.items()
        }
    (out / "capture.json").write_text(scrubbed_json(capture, replacements, indent=2) + "\n")
    for path in out.iterdir():
        content = path.read_bytes()
        for needle, _ in replacements:
            assert needle.encode() not in content, (path, _)
    logs = f"; proxy logs in {workdir}" if keep_workdir else ""
    harness.log(f"wrote {out} ({len(families)} litellm_* families{logs})")
    return capture


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Capture raw LiteLLM proxy /metrics and health output.")
    parser.add_argument("--version", required=True, help="LiteLLM version, e.g. 1.110.2")
    parser.add_argument("--out", required=True, type=Path, help="output dir, e.g. tests/fixtures/real/1.110.2")
    parser.add_argument("--workers", type=int, default=None, help="litellm --num_workers")
    parser.add_argument(
        "--multiproc",
        dest="multiproc",
        action="store_true",
        default=None,
        help="set PROMETHEUS_MULTIPROC_DIR (default: on when --workers > 1)",
    )
    parser.add_argument("--no-multiproc", dest="multiproc", action="store_false")
    parser.add_argument("--rounds", type=int, default=1, help="traffic rounds")
    parser.add_argument("--no-redis", action="store_true", help="run without redis cache")
    parser.add_argument("--cache-root", type=Path, default=None, help="venv cache (default <repo>/.cache/litellm)")
    parser.add_argument("--keep-workdir", action="store_true", help="keep the temp dir with logs and config")
    parser.add_argument(
        "--profile",
        choices=harness.PROFILES,
        default="default",
        help="default: the traffic of every existing capture; features: plus the rarer families' triggers; "
        "budgets: plus custom auth with budgets and rate limits; callers: thousands of callers, a scrape sequence",
    )
    parser.add_argument("--callers", type=int, default=harness.CALLERS_DEFAULT, help="callers profile: keys")
    parser.add_argument("--scrapes", type=int, default=6, help="callers profile: scrapes as the callers grow")
    parser.add_argument("--compress", choices=("xz", "gz", "none"), default="xz", help="callers profile: scrapes")
    parser.add_argument("--phase-timeout", type=float, default=600.0, help="callers profile: seconds per phase")
    args = parser.parse_args(argv)

    def _terminate(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _terminate)
    common = {"use_redis": not args.no_redis, "cache_root": args.cache_root, "keep_workdir": args.keep_workdir}
    if args.profile == "callers":
        from . import callers  # a package import: run as ``python -m tools.harness.capture``

        run, options = (
            callers.run_capture,
            {
                "callers": args.callers,
                "scrapes": args.scrapes,
                "compress": args.compress,
                "phase_timeout": args.phase_timeout,
            },
        )
    else:
        run, options = (
            run_capture,
            {
                "workers": args.workers,
                "multiproc": args.multiproc,
                "rounds": args.rounds,
                "profile": args.profile,
            },
        )
    try:
        run(args.version, args.out, **common, **options)
    finally:
        harness.stop_all_processes()
    return 0


if __name__ == "__main__":
    sys.exit(main())
