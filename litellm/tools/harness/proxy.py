"""Run a real LiteLLM proxy on loopback for captures, tests and demos.

Public API (stable, used by pytest fixtures and ``make demo``):

  ensure_litellm_venv(version, root=None) -> Path        venv with LiteLLM==version
  start_redis(workdir) -> RedisHandle | None             throwaway redis-server
  start_fake_upstream(workdir) -> UpstreamHandle         fake OpenAI upstream (subprocess)
  write_proxy_config(path, upstream, redis, master_key)  proxy config.yaml
  start_proxy(venv, config, ...) -> ProxyHandle          ``litellm --config ...``
  launch(version, ...) -> Stack                          all of the above, as a context manager
  drive_traffic(handle, ...) -> dict                     real requests through the proxy
  drive_feature_traffic(stack, ...) -> dict              the ``features`` profile's extra requests
  drive_budget_traffic(stack, ...) -> dict               the ``budgets`` profile's extra requests
  probe_budget_enforcement(stack) -> dict                ``budgets``: restart with LiteLLM's checks on
                                                         custom auth, one request per test key

Profiles (``profile=`` of launch / build_proxy_config / write_proxy_config / drive_traffic):

  default   the models, settings and traffic every existing capture was made with
  features  default plus what makes the less common families report: token details, images,
            a video job, deployment tpm/rpm limits, a provider budget, guardrails that pass and
            one that blocks, a failing logging callback, a $0-priced billable request,
            admission control with a burst that overflows it, and a redis outage
  budgets   default plus custom auth (budget_auth.py) mapping random test keys to keys, teams,
            users, orgs and end users with budgets (room left, exhausted, unlimited, reset
            times) and rpm/tpm limits, and traffic with each key that exceeds one limit
  callers   default plus custom auth for thousands of generated callers (keys, hundreds of teams
            and users, end users), CALLER_GROUPS model groups, end users in Prometheus; its
            traffic and scrape sequence are in callers.py
  scrape(handle, path) / scrape_metrics / scrape_health / scrape_readiness /
  scrape_readiness_details                               GETs returning ScrapeResult

Everything binds to loopback only. Every process is started in its own process
group and the whole group is killed on stop(), also when start-up fails.
"""

from __future__ import annotations

import contextlib
import glob
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

if __package__:
    from . import budget_auth
else:  # capture.py run as a script puts this directory on sys.path
    import budget_auth  # type: ignore

HERE = Path(__file__).resolve().parent
# <repo>/litellm/tools/harness/proxy.py -> <repo>
REPO_ROOT = HERE.parents[2]
DEFAULT_CACHE_ROOT = REPO_ROOT / ".cache" / "litellm"
FAKE_UPSTREAM_SCRIPT = HERE / "fake_upstream.py"
# Loaded by the proxy (not by us): guardrails and a logging callback for the ``features`` profile.
PLUGINS_SCRIPT = HERE / "harness_plugins.py"
# Loaded by the proxy as its custom auth in the ``budgets`` profile (and read here for its callers).
BUDGET_AUTH_SCRIPT = HERE / "budget_auth.py"

LOOPBACK = "127.0.0.1"
SECOND_LOOPBACK = "127.0.0.2"

# Packages needed next to ``litellm`` for the proxy once the ``[proxy]`` extra
# stopped pulling in everything (1.101+).
PROXY_EXTRA_PACKAGES = [
    "fastapi",
    "uvicorn",
    "uvloop",
    "gunicorn",
    "starlette",
    "backoff",
    "rq",
    "orjson",
    "apscheduler",
    "python-multipart",
    "cryptography",
    "pyjwt",
    "email-validator",
    "websockets",
    "semver",
    "expression",
    "fastapi-sso",
    "mcp",
    "soundfile",
    "prometheus_client",
]
ALWAYS_EXTRA_PACKAGES = ["redis", "prometheus_client"]

MARKER_NAME = ".harness-installed.json"


def log(msg: str) -> None:
    """Progress line on stderr."""
    sys.stderr.write("[harness {}] {}\n".format(time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


# --------------------------------------------------------------------------
# Python interpreter discovery and the LiteLLM venv
# --------------------------------------------------------------------------


def version_tuple(version: str) -> tuple:
    parts = []
    for piece in version.split("."):
        digits = ""
        for ch in piece:
            if ch.isdigit():
                digits += ch
            else:
                break
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def _python_works(exe: str) -> tuple | None:
    try:
        out = subprocess.run(
            [exe, "-c", "import sys, venv; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return version_tuple(out.stdout.strip())


def find_python(preferred: Iterable[str] = ("3.13", "3.12", "3.11")) -> str:
    """Find a working interpreter, newest preferred: PATH names first, then pyenv."""
    pyenv_roots = []
    if os.environ.get("PYENV_ROOT"):
        pyenv_roots.append(os.environ["PYENV_ROOT"])
    pyenv = shutil.which("pyenv")
    if pyenv:
        with contextlib.suppress(Exception):
            root = subprocess.run([pyenv, "root"], capture_output=True, text=True, timeout=30).stdout.strip()
            if root:
                pyenv_roots.append(root)
    pyenv_roots.append(os.path.expanduser("~/.pyenv"))

    for minor in preferred:
        candidates = []
        exe = shutil.which("python" + minor)
        if exe:
            candidates.append(exe)
        for root in pyenv_roots:
            candidates.extend(
                sorted(glob.glob(os.path.join(root, "versions", minor + "*", "bin", "python" + minor)), reverse=True)
            )
        for cand in candidates:
            got = _python_works(cand)
            if got and got[:2] == version_tuple(minor)[:2]:
                return cand
    own = _python_works(sys.executable)
    if own and own[:2] >= (3, 11):
        return sys.executable
    raise RuntimeError("no usable Python 3.11+ interpreter found")


def litellm_requirements(version: str) -> list:
    """pip requirement list for a LiteLLM version."""
    if version_tuple(version)[:2] <= (1, 100):
        reqs = [f"litellm[proxy]=={version}"]
    else:
        reqs = [f"litellm=={version}"] + PROXY_EXTRA_PACKAGES
    for extra in ALWAYS_EXTRA_PACKAGES:
        if extra not in reqs:
            reqs.append(extra)
    return reqs


def venv_bin(venv: Path, name: str) -> Path:
    return Path(venv) / "bin" / name


def _run_with_progress(cmd: list, logfile: Path, label: str, env: dict | None = None) -> None:
    """Run cmd, send full output to logfile, echo the interesting lines to stderr."""
    start = time.monotonic()
    interesting = ("Collecting", "Installing collected", "Successfully installed", "ERROR", "error:")
    with open(logfile, "a") as fh:
        fh.write("$ {}\n".format(" ".join(cmd)))
        fh.flush()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        last = 0.0
        assert proc.stdout is not None
        for line in proc.stdout:
            fh.write(line)
            now = time.monotonic()
            if line.startswith(interesting) and (now - last > 5 or not line.startswith("Collecting")):
                log(f"{label}: {line.strip()[:160]} ({now - start:.0f}s)")
                last = now
        rc = proc.wait()
    if rc != 0:
        raise RuntimeError(f"{label} failed (rc={rc}), see {logfile}")


def ensure_litellm_venv(version: str, root: os.PathLike | None = None, python: str | None = None) -> Path:
    """Create (or reuse) a venv with LiteLLM==version under root/version.

    Reuse is decided by a marker file written only after a successful install.
    """
    root = Path(root) if root else DEFAULT_CACHE_ROOT
    venv = root / version
    marker = venv / MARKER_NAME
    if marker.exists() and venv_bin(venv, "litellm").exists():
        return venv
    if venv.exists():
        log(f"removing incomplete venv {venv}")
        shutil.rmtree(venv)
    venv.parent.mkdir(parents=True, exist_ok=True)
    python = python or find_python()
    log(f"creating venv for litellm {version} with {python}")
    started = time.monotonic()
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    reqs = litellm_requirements(version)
    logfile = venv / "pip-install.log"
    pip = [str(venv_bin(venv, "python")), "-m", "pip", "install", "--disable-pip-version-check"]
    _run_with_progress(pip + ["--upgrade", "pip"], logfile, "pip upgrade")
    log("installing {} (this takes a few minutes)".format(" ".join(reqs)))
    _run_with_progress(pip + reqs, logfile, f"pip install litellm {version}")
    installed = subprocess.run(
        [str(venv_bin(venv, "python")), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if installed != version:
        raise RuntimeError(f"installed litellm {installed}, wanted {version}")
    elapsed = time.monotonic() - started
    pyver = subprocess.run(
        [str(venv_bin(venv, "python")), "-c", "import sys; print(sys.version.split()[0])"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    marker.write_text(
        json.dumps(
            {
                "litellm": version,
                "requirements": reqs,
                "python": pyver,
                "install_seconds": round(elapsed, 1),
                "installed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            },
            indent=2,
        )
    )
    log(f"litellm {version} installed in {elapsed:.0f}s")
    return venv


def venv_info(venv: Path) -> dict:
    marker = Path(venv) / MARKER_NAME
    if marker.exists():
        return json.loads(marker.read_text())
    return {}


# --------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def can_bind(host: str) -> bool:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
        return True
    except OSError:
        return False


_LIVE_PROCESSES: set[ManagedProcess] = set()


def _group_pids(pgid: int) -> list:
    """pids of all live processes in process group pgid (Linux /proc)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        # fields after the "(comm)" part: state ppid pgrp ...
        rest = stat.rsplit(")", 1)[-1].split()
        if len(rest) > 2 and rest[0] != "Z" and int(rest[2]) == pgid:
            pids.append(int(entry))
    return sorted(pids)


class ManagedProcess:
    """A subprocess in its own session/process group; stop() kills the whole group."""

    def __init__(
        self, name: str, cmd: list, logfile: Path, env: dict | None = None, cwd=None, stderr_logfile: Path | None = None
    ):
        self.name = name
        self.cmd = list(cmd)
        self.logfile = Path(logfile)
        self.env = env
        self.cwd = cwd
        self._logfh = open(self.logfile, "ab")
        # a separate stderr file keeps which stream each line came from (log captures); else both in logfile
        self._errfh = open(stderr_logfile, "ab") if stderr_logfile else None
        self.proc = subprocess.Popen(
            self.cmd,
            stdout=self._logfh,
            stderr=self._errfh or subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        self.pgid = self.proc.pid
        _LIVE_PROCESSES.add(self)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def pids(self) -> list:
        return _group_pids(self.pgid)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, nbytes: int = 4000) -> str:
        try:
            with open(self.logfile, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                fh.seek(max(0, size - nbytes))
                return fh.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> None:
        try:
            for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
                try:
                    os.killpg(self.pgid, sig)
                except ProcessLookupError:
                    break
                deadline = time.monotonic() + wait
                while time.monotonic() < deadline:
                    if self.proc.poll() is not None and not _group_pids(self.pgid):
                        break
                    time.sleep(0.1)
                else:
                    continue
                break
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
        finally:
            for fh in (self._logfh, self._errfh):
                with contextlib.suppress(Exception):
                    fh and fh.close()
            _LIVE_PROCESSES.discard(self)


def stop_all_processes() -> None:
    """Kill every process group this module started and has not stopped yet."""
    for proc in list(_LIVE_PROCESSES):
        with contextlib.suppress(Exception):
            proc.stop(timeout=5)


import atexit  # noqa: E402

atexit.register(stop_all_processes)


def _http_get(host: str, port: int, path: str, timeout: float = 5.0, headers: dict | None = None):
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


# --------------------------------------------------------------------------
# redis
# --------------------------------------------------------------------------

_APT_UPDATED = False


def _install_redis_with_apt() -> bool:
    global _APT_UPDATED
    apt = shutil.which("apt-get")
    if not apt or os.geteuid() != 0:
        return False
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        if not _APT_UPDATED:
            log("apt-get update (to install redis-server)")
            subprocess.run([apt, "update"], check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            _APT_UPDATED = True
        log("apt-get install -y redis-server")
        subprocess.run(
            [apt, "install", "-y", "redis-server"],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        log(f"could not install redis-server: {exc}")
        return False
    return True


def find_redis_server(install: bool = True) -> str | None:
    exe = shutil.which("redis-server")
    if not exe and install and _install_redis_with_apt():
        exe = shutil.which("redis-server")
    return exe


@dataclass
class RedisHandle:
    host: str
    port: int
    process: ManagedProcess

    def stop(self) -> None:
        self.process.stop()

    def start(self, timeout: float = 20.0) -> RedisHandle:
        """Start redis-server again with the same port and settings: ends an outage begun with stop()."""
        if self.process.alive():
            return self
        old = self.process
        self.process = ManagedProcess(old.name, old.cmd, old.logfile, env=old.env, cwd=old.cwd)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ping():
                return self
            if not self.process.alive():
                break
            time.sleep(0.1)
        raise RuntimeError(f"redis-server did not come back on port {self.port} (see {old.logfile})")

    def ping(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=2) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False


def start_redis(workdir: os.PathLike, install: bool = True, timeout: float = 20.0) -> RedisHandle | None:
    """Start a throwaway redis-server on a free loopback port; None if redis is unavailable."""
    exe = find_redis_server(install=install)
    if not exe:
        log("redis-server not available: running without cache")
        return None
    workdir = Path(workdir)
    port = free_port()
    cmd = [
        exe,
        "--port",
        str(port),
        "--bind",
        LOOPBACK,
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(workdir),
        "--daemonize",
        "no",
        "--protected-mode",
        "yes",
    ]
    proc = ManagedProcess("redis", cmd, workdir / "redis.log", cwd=str(workdir))
    handle = RedisHandle(LOOPBACK, port, proc)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if handle.ping():
            return handle
        if not proc.alive():
            break
        time.sleep(0.1)
    proc.stop()
    log(f"redis-server did not start (see {proc.logfile}): running without cache")
    return None


# --------------------------------------------------------------------------
# fake upstream
# --------------------------------------------------------------------------


@dataclass
class UpstreamHandle:
    hosts: tuple
    port: int
    process: ManagedProcess

    def url(self, host: str | None = None) -> str:
        return f"http://{host or self.hosts[0]}:{self.port}/v1"

    def stats(self) -> dict:
        status, body = _http_get(self.hosts[0], self.port, "/_stats")
        return json.loads(body)["counts"] if status == 200 else {}

    def stop(self) -> None:
        self.process.stop()


def start_fake_upstream(workdir: os.PathLike, python: str | None = None, timeout: float = 20.0) -> UpstreamHandle:
    """Run fake_upstream.py as a subprocess on 127.0.0.1 (and 127.0.0.2 when bindable)."""
    workdir = Path(workdir)
    hosts = [LOOPBACK] + ([SECOND_LOOPBACK] if can_bind(SECOND_LOOPBACK) else [])
    port = free_port()
    cmd = [python or sys.executable, str(FAKE_UPSTREAM_SCRIPT), "--port", str(port)]
    for host in hosts:
        cmd += ["--host", host]
    proc = ManagedProcess("fake-upstream", cmd, workdir / "fake_upstream.log", cwd=str(workdir))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if _http_get(LOOPBACK, port, "/_stats")[0] == 200:
                return UpstreamHandle(tuple(hosts), port, proc)
        if not proc.alive():
            break
        time.sleep(0.1)
    tail = proc.log_tail()
    proc.stop()
    raise RuntimeError("fake upstream did not start:\n" + tail)


# --------------------------------------------------------------------------
# proxy config
# --------------------------------------------------------------------------

FAKE_UPSTREAM_KEY = "sk-fake-upstream-key-not-a-secret"
INPUT_COST_PER_TOKEN = 0.000001
OUTPUT_COST_PER_TOKEN = 0.000002


def generate_master_key() -> str:
    return "sk-" + secrets.token_hex(24)


PROFILES = ("default", "features", "budgets", "callers")

# ``features`` profile settings. The limits are far above what the traffic needs: they are there to be
# reported, not to bite (only the admission limit is meant to overflow, during the burst).
FEATURE_TPM_LIMIT = 120000
FEATURE_RPM_LIMIT = 600
PROVIDER_BUDGET_USD = 50.0
ADMISSION_SETTINGS = {
    "max_in_flight_requests_per_worker": 4,
    "max_queued_requests_per_worker": 2,
    "admission_queue_timeout_seconds": 0.5,
}
ADMISSION_BURST = 10
# The redis circuit breaker must be able to close again within the capture.
FEATURE_ENV = {"REDIS_CIRCUIT_BREAKER_RECOVERY_TIMEOUT": "2"}
IMAGE_COST = 0.01
VIDEO_COST_PER_SECOND = 0.1
PASSING_GUARDRAILS = ("harness-pass-pre", "harness-pass-during", "harness-pass-post")
BLOCKING_GUARDRAIL = "harness-block"
FAIL_LOGGING_TAG = "harness-fail-logging"  # same as harness_plugins.FAIL_LOGGING_TAG
MCP_SERVER = "harness_tools"
MCP_COST_PER_CALL = 0.001


# ``callers`` profile: model groups on the fake upstream, {group prefix: (upstream model prefix, groups, mode)}.
# The first CALLER_PAIRED ok groups have a second deployment on the upstream's other address.
CALLER_GROUPS = {
    "chat": ("fake-ok", 16, "chat"),
    "chat-plain": ("fake-plain", 4, "chat"),
    "chat-err": ("fake-500", 2, "chat"),
    "chat-limit": ("fake-429", 2, "chat"),
    "embed": ("fake-embed", 2, "embedding"),
}
CALLER_PAIRED = 4
CALLERS_DEFAULT = 3000


def caller_group_names(prefix: str) -> list:
    _, count, _ = CALLER_GROUPS[prefix]
    return [f"{prefix}-{n:02d}" for n in range(count)]


def _check_profile(profile: str) -> None:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}, expected one of {PROFILES}")


def _add_feature_config(config: dict, url: str) -> None:
    """Extend a default config in place with the ``features`` profile (see the module docstring)."""
    cost = {"input_cost_per_token": INPUT_COST_PER_TOKEN, "output_cost_per_token": OUTPUT_COST_PER_TOKEN}

    def deployment(name, upstream_model, dep_id, mode, pricing, **extra):
        params = {"model": "openai/" + upstream_model, "api_base": url, "api_key": FAKE_UPSTREAM_KEY}
        params.update(pricing)
        params.update(extra)
        info = {"id": dep_id, "mode": mode}
        info.update(pricing)
        return {"model_name": name, "litellm_params": params, "model_info": info}

    config["model_list"] += [
        # usage with prompt/completion token details; tpm/rpm limits for the deployment limit gauges
        deployment(
            "gpt-details", "fake-details", "gpt-details-a", "chat", cost, tpm=FEATURE_TPM_LIMIT, rpm=FEATURE_RPM_LIMIT
        ),
        # answers after a delay, to fill the admission queue
        deployment("gpt-slow", "fake-slow", "gpt-slow-a", "chat", cost),
        # an output-only price and an empty answer: billable input tokens priced at $0
        deployment("gpt-zero-cost", "fake-empty", "gpt-zero-cost-a", "chat", {"output_cost_per_token": 0.00001}),
        deployment(
            "gpt-image-fake", "fake-image", "gpt-image-a", "image_generation", {"output_cost_per_image": IMAGE_COST}
        ),
        deployment(
            "video-fake",
            "fake-video",
            "video-fake-a",
            "video_generation",
            {"output_cost_per_second": VIDEO_COST_PER_SECOND},
        ),
    ]
    config["router_settings"]["provider_budget_config"] = {
        "openai": {"budget_limit": PROVIDER_BUDGET_USD, "time_period": "1d"}
    }
    modes = {"harness-pass-pre": "pre_call", "harness-pass-during": "during_call", "harness-pass-post": "post_call"}
    config["guardrails"] = [
        {
            "guardrail_name": name,
            "litellm_params": {"guardrail": "harness_plugins.PassingGuardrail", "mode": mode, "default_on": False},
        }
        for name, mode in modes.items()
    ] + [
        {
            "guardrail_name": BLOCKING_GUARDRAIL,
            "litellm_params": {
                "guardrail": "harness_plugins.BlockingGuardrail",
                "mode": "pre_call",
                "default_on": False,
            },
        }
    ]
    config["litellm_settings"]["callbacks"] = config["litellm_settings"]["callbacks"] + [
        "harness_plugins.failing_logger"
    ]
    config["general_settings"].update(ADMISSION_SETTINGS)
    # the fake upstream also speaks MCP (one tool, ``echo``); a price per call makes tool spend report
    config["mcp_servers"] = {
        MCP_SERVER: {
            "url": url.rsplit("/v1", 1)[0] + "/mcp",
            "transport": "http",
            "mcp_info": {"mcp_server_cost_info": {"default_cost_per_query": MCP_COST_PER_CALL}},
        }
    }


def _add_caller_config(config: dict, urls: list) -> None:
    """Extend a default config in place with the ``callers`` profile (see the module docstring)."""
    cost = {"input_cost_per_token": INPUT_COST_PER_TOKEN, "output_cost_per_token": OUTPUT_COST_PER_TOKEN}
    for prefix, (upstream, _, mode) in CALLER_GROUPS.items():
        for n, name in enumerate(caller_group_names(prefix)):
            paired = prefix == "chat" and n < CALLER_PAIRED
            for url, side in zip(urls, "ab", strict=False) if paired else [(urls[n % len(urls)], "a")]:
                params = {"model": f"openai/{upstream}-{n:02d}", "api_base": url, "api_key": FAKE_UPSTREAM_KEY, **cost}
                info = {"id": f"{name}-{side}", "mode": mode, **cost}
                config["model_list"].append({"model_name": name, "litellm_params": params, "model_info": info})
    config["general_settings"]["custom_auth"] = "budget_auth.callers_user_api_key_auth"
    # the end_user label is off unless asked for (1.80 to 1.110 alike)
    config["litellm_settings"]["enable_end_user_cost_tracking_prometheus_only"] = True


def build_proxy_config(
    upstream_urls: list,
    master_key: str,
    redis: RedisHandle | None = None,
    cooldown_time: int = 30,
    allowed_fails: int = 1,
    profile: str = "default",
) -> dict:
    """The proxy config as a dict (see write_proxy_config)."""
    _check_profile(profile)
    url_a = upstream_urls[0]
    url_b = upstream_urls[1] if len(upstream_urls) > 1 else upstream_urls[0]
    cost = {"input_cost_per_token": INPUT_COST_PER_TOKEN, "output_cost_per_token": OUTPUT_COST_PER_TOKEN}

    def deployment(name, upstream_model, api_base, dep_id, mode="chat"):
        params = {"model": "openai/" + upstream_model, "api_base": api_base, "api_key": FAKE_UPSTREAM_KEY}
        params.update(cost)
        info = {"id": dep_id, "mode": mode}
        info.update(cost)
        return {"model_name": name, "litellm_params": params, "model_info": info}

    model_list = [
        # load-balanced group: two deployments of the same model_name
        deployment("gpt-ok", "fake-ok", url_a, "gpt-ok-a"),
        deployment("gpt-ok", "fake-ok", url_b, "gpt-ok-b"),
        # answers without x-ratelimit-* headers
        deployment("gpt-plain", "fake-plain", url_a, "gpt-plain-a"),
        # always 429
        deployment("gpt-429", "fake-429", url_a, "gpt-429-a"),
        # always 500, fallback gpt-ok succeeds
        deployment("gpt-500", "fake-500", url_a, "gpt-500-a"),
        # always 500, fallback gpt-500c fails too
        deployment("gpt-500b", "fake-500-b", url_a, "gpt-500b-a"),
        deployment("gpt-500c", "fake-500-c", url_a, "gpt-500c-a"),
        # one good and one bad deployment: the bad one gets cooled down
        deployment("gpt-flaky", "fake-ok-flaky", url_a, "gpt-flaky-good"),
        deployment("gpt-flaky", "fake-500-flaky", url_b, "gpt-flaky-bad"),
        deployment("text-embedding-fake", "fake-embed", url_a, "embed-a", mode="embedding"),
    ]
    litellm_settings = {
        "callbacks": ["prometheus"],
        "service_callback": ["prometheus_system"],
        "num_retries": 0,
        "request_timeout": 30,
        "drop_params": True,
    }
    if redis is not None:
        litellm_settings["cache"] = True
        litellm_settings["cache_params"] = {"type": "redis", "host": redis.host, "port": redis.port, "ttl": 600}
    config = {
        "model_list": model_list,
        "router_settings": {
            "routing_strategy": "simple-shuffle",
            "num_retries": 0,
            "allowed_fails": allowed_fails,
            "cooldown_time": cooldown_time,
            "fallbacks": [{"gpt-500": ["gpt-ok"]}, {"gpt-500b": ["gpt-500c"]}],
        },
        "litellm_settings": litellm_settings,
        "general_settings": {"master_key": master_key},
    }
    if profile == "features":
        _add_feature_config(config, url_a)
    if profile == "budgets":
        # budgets come from the request's auth object, which custom auth builds without a database
        config["general_settings"]["custom_auth"] = "budget_auth.user_api_key_auth"
        # customer (end user) budget gauges and the end_user label are off unless asked for
        config["litellm_settings"]["enable_end_user_cost_tracking_prometheus_only"] = True
    if profile == "callers":
        _add_caller_config(config, upstream_urls)
    return config


def to_yaml(value, indent: int = 0) -> str:
    """Tiny YAML emitter for dicts/lists/scalars (strings JSON-quoted, valid YAML)."""
    pad = "  " * indent

    def scalar(v):
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v)
        if isinstance(v, float):  # PyYAML (YAML 1.1) reads "1e-06" as a string: always write a dot
            text = (f"{v:.12f}").rstrip("0")
            return text + "0" if text.endswith(".") else text
        return json.dumps(str(v))

    lines = []
    if isinstance(value, dict):
        for key, val in value.items():
            if isinstance(val, (dict, list)) and val:
                lines.append(f"{pad}{key}:")
                lines.append(to_yaml(val, indent + 1))
            elif isinstance(val, (dict, list)):
                lines.append("{}{}: {}".format(pad, key, "{}" if isinstance(val, dict) else "[]"))
            else:
                lines.append(f"{pad}{key}: {scalar(val)}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)) and item:
                body = to_yaml(item, indent + 1).splitlines()
                first = body[0].lstrip()
                lines.append(f"{pad}- {first}")
                lines.extend(body[1:])
            else:
                lines.append(f"{pad}- {scalar(item)}")
    else:
        lines.append(pad + scalar(value))
    return "\n".join(lines)


def write_proxy_config(
    path: os.PathLike, upstream: UpstreamHandle, master_key: str, redis: RedisHandle | None = None, **kwargs
) -> dict:
    urls = [upstream.url(h) for h in upstream.hosts]
    config = build_proxy_config(urls, master_key, redis, **kwargs)
    Path(path).write_text("# generated by tools/harness/proxy.py\n" + to_yaml(config) + "\n")
    if kwargs.get("profile", "default") != "default":
        # the config names harness_plugins.* or budget_auth.*, which LiteLLM looks up next to the config file
        for script in (PLUGINS_SCRIPT, BUDGET_AUTH_SCRIPT):
            shutil.copyfile(script, Path(path).parent / script.name)
    return config


# --------------------------------------------------------------------------
# the proxy
# --------------------------------------------------------------------------


def proxy_env(workdir: Path, multiproc_dir: os.PathLike | None = None, extra: dict | None = None) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith(
            (
                "LITELLM_",
                "DATABASE_URL",
                "PROMETHEUS_MULTIPROC",
                "OPENAI_",
                "HTTP_PROXY",
                "HTTPS_PROXY",
                "ALL_PROXY",
                "REDIS_",
            )
        )
    }
    env.update(
        {
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "OPENAI_API_KEY": FAKE_UPSTREAM_KEY,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "PYTHONUNBUFFERED": "1",
            "DISABLE_ADMIN_UI": "True",
            "LITELLM_TELEMETRY": "False",
            "HOME": os.environ.get("HOME", str(workdir)),
        }
    )
    if multiproc_dir:
        env["PROMETHEUS_MULTIPROC_DIR"] = str(multiproc_dir)
    if extra:
        env.update(extra)
    return env


@dataclass
class ProxyHandle:
    venv: Path
    config_path: Path
    workdir: Path
    master_key: str
    host: str
    port: int
    num_workers: int | None = None
    multiproc_dir: Path | None = None
    env_extra: dict | None = None
    ready_timeout: float = 300.0
    # the config named only by CONFIG_FILE_PATH (no --config): LiteLLM 1.90+ then creates no multiprocess directory
    config_via_env: bool = False
    process: ManagedProcess | None = None
    startup_seconds: float | None = None
    starts: int = 0
    # stdout to proxy.stdout.log and stderr to proxy.stderr.log, nothing else written there (log captures)
    split_streams: bool = False
    # more ``litellm`` arguments, e.g. ["--detailed_debug"]
    extra_args: list = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / ("proxy.stdout.log" if self.split_streams else "proxy.log")

    @property
    def stderr_path(self) -> Path | None:
        return self.workdir / "proxy.stderr.log" if self.split_streams else None

    @property
    def pids(self) -> list:
        return self.process.pids() if self.process else []

    @property
    def version(self) -> str:
        return venv_info(self.venv).get("litellm", "")

    def start(self) -> ProxyHandle:
        if self.multiproc_dir:
            # prometheus_client wants an empty directory on a fresh start
            shutil.rmtree(self.multiproc_dir, ignore_errors=True)
            Path(self.multiproc_dir).mkdir(parents=True)
        config = [] if self.config_via_env else ["--config", str(self.config_path)]
        cmd = [
            str(venv_bin(self.venv, "litellm")),
            *config,
            "--host",
            self.host,
            "--port",
            str(self.port),
        ]
        if self.num_workers:
            cmd += ["--num_workers", str(self.num_workers)]
        cmd += self.extra_args
        env = proxy_env(self.workdir, self.multiproc_dir, self.env_extra)
        if self.config_via_env:
            env["CONFIG_FILE_PATH"] = str(self.config_path)
        if not self.split_streams:
            with open(self.log_path, "a") as fh:
                fh.write(f"\n===== start {self.starts + 1}: {' '.join(cmd)}\n")
        started = time.monotonic()
        self.process = ManagedProcess(
            "litellm", cmd, self.log_path, env=env, cwd=str(self.workdir), stderr_logfile=self.stderr_path
        )
        self.starts += 1
        try:
            self.wait_ready(self.ready_timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = round(time.monotonic() - started, 2)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last_report = time.monotonic()
        while time.monotonic() < deadline:
            if not self.process.alive():
                raise RuntimeError(
                    f"litellm exited with {self.process.proc.returncode} during start-up:\n{self.process.log_tail()}"
                )
            with contextlib.suppress(OSError, http.client.HTTPException):
                if _http_get(self.host, self.port, "/health/readiness", timeout=5)[0] == 200:
                    return
            if time.monotonic() - last_report > 15:
                log("waiting for litellm /health/readiness ...")
                last_report = time.monotonic()
            time.sleep(0.5)
        raise TimeoutError(f"litellm not ready after {timeout}s:\n{self.process.log_tail()}")

    def stop(self) -> None:
        if self.process:
            self.process.stop()

    def restart(self) -> ProxyHandle:
        self.stop()
        return self.start()


def start_proxy(
    venv: os.PathLike,
    config_path: os.PathLike,
    master_key: str,
    workdir: os.PathLike,
    port: int | None = None,
    num_workers: int | None = None,
    multiproc_dir: os.PathLike | None = None,
    env_extra: dict | None = None,
    ready_timeout: float = 300.0,
    split_streams: bool = False,
    extra_args: list | None = None,
) -> ProxyHandle:
    """Start ``litellm --config`` on loopback and wait for /health/readiness (split_streams: see ProxyHandle)."""
    handle = ProxyHandle(
        venv=Path(venv),
        config_path=Path(config_path),
        workdir=Path(workdir),
        master_key=master_key,
        host=LOOPBACK,
        port=port or free_port(),
        num_workers=num_workers,
        multiproc_dir=Path(multiproc_dir) if multiproc_dir else None,
        env_extra=env_extra,
        ready_timeout=ready_timeout,
        split_streams=split_streams,
        extra_args=list(extra_args or []),
    )
    return handle.start()


@dataclass
class Stack:
    """Everything launch() started; stop() tears it all down (also used as a context manager)."""

    version: str
    workdir: Path
    venv: Path
    master_key: str
    upstream: UpstreamHandle | None = None
    redis: RedisHandle | None = None
    proxy: ProxyHandle | None = None
    config: dict = field(default_factory=dict)
    keep_workdir: bool = True
    profile: str = "default"
    # budgets profile: {caller: test key} (random per run, known to the proxy's custom auth only)
    budget_keys: dict = field(default_factory=dict)
    # callers profile: the seed of the callers' keys (budget_auth.caller_key) and how many there are
    caller_seed: str = ""
    caller_count: int = 0

    # convenience pass-throughs so a Stack can be used where a ProxyHandle is expected
    @property
    def base_url(self) -> str:
        return self.proxy.base_url

    @property
    def host(self) -> str:
        return self.proxy.host

    @property
    def port(self) -> int:
        return self.proxy.port

    @property
    def pids(self) -> list:
        return self.proxy.pids if self.proxy else []

    def restart(self) -> Stack:
        self.proxy.restart()
        return self

    def stop(self) -> None:
        for part in (self.proxy, self.upstream, self.redis):
            if part is not None:
                with contextlib.suppress(Exception):
                    part.stop()
        if not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def launch(
    version: str,
    cache_root: os.PathLike | None = None,
    num_workers: int | None = None,
    multiproc: bool = False,
    use_redis: bool = True,
    workdir: os.PathLike | None = None,
    keep_workdir: bool = True,
    ready_timeout: float = 300.0,
    env_extra: dict | None = None,
    config_overrides: dict | None = None,
    profile: str = "default",
    callers: int = CALLERS_DEFAULT,
) -> Stack:
    """Install (if needed) and start upstream + redis + proxy. Returns a Stack; call stop().

    profile='features' adds the models, settings and plugins of the features profile (module docstring);
    profile='callers' makes `callers` generated callers known to the proxy's custom auth.
    """
    _check_profile(profile)
    if profile == "features":
        env_extra = {**FEATURE_ENV, **(env_extra or {})}
    budget_keys = {}
    if profile == "budgets":
        budget_keys = {name: generate_master_key() for name in budget_auth.CALLERS}
        env_extra = {budget_auth.KEYS_ENV: json.dumps(budget_keys), **(env_extra or {})}
    caller_seed = secrets.token_hex(16) if profile == "callers" else ""
    if caller_seed:
        env_extra = {budget_auth.CALLERS_ENV: json.dumps({"seed": caller_seed, "count": callers}), **(env_extra or {})}
    venv = ensure_litellm_venv(version, cache_root)
    workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="litellm-harness-"))
    workdir.mkdir(parents=True, exist_ok=True)
    stack = Stack(
        version=version,
        workdir=workdir,
        venv=venv,
        master_key=generate_master_key(),
        keep_workdir=keep_workdir,
        profile=profile,
        budget_keys=budget_keys,
        caller_seed=caller_seed,
        caller_count=callers if caller_seed else 0,
    )
    try:
        stack.upstream = start_fake_upstream(workdir)
        stack.redis = start_redis(workdir) if use_redis else None
        config_path = workdir / "config.yaml"
        stack.config = write_proxy_config(
            config_path,
            stack.upstream,
            stack.master_key,
            stack.redis,
            **{"profile": profile, **(config_overrides or {})},
        )
        log("starting litellm {} on loopback (logs: {})".format(version, workdir / "proxy.log"))
        stack.proxy = start_proxy(
            venv,
            config_path,
            stack.master_key,
            workdir,
            num_workers=num_workers,
            multiproc_dir=(workdir / "prometheus_multiproc") if multiproc else None,
            env_extra=env_extra,
            ready_timeout=ready_timeout,
        )
        log(f"litellm ready at {stack.proxy.base_url} after {stack.proxy.startup_seconds:.1f}s")
    except BaseException:
        stack.keep_workdir = True
        stack.stop()
        log(f"start-up failed; logs kept in {workdir}")
        raise
    return stack


# --------------------------------------------------------------------------
# HTTP client helpers
# --------------------------------------------------------------------------


@dataclass
class ScrapeResult:
    url: str
    status: int
    headers: dict
    body: bytes
    elapsed: float

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)


def _target(handle):
    proxy = handle.proxy if isinstance(handle, Stack) else handle
    return proxy.host, proxy.port, proxy.master_key


def request(
    handle,
    method: str,
    path: str,
    body=None,
    *,
    key: str | None = "master",
    source: str | None = None,
    user_agent: str | None = None,
    headers: dict | None = None,
    timeout: float = 120.0,
) -> ScrapeResult:
    """One HTTP request to the proxy. key='master' uses the master key, None sends no auth."""
    host, port, master_key = _target(handle)
    hdrs = {}
    if key == "master":
        key = master_key
    if key:
        hdrs["Authorization"] = "Bearer " + key
    if user_agent:
        hdrs["User-Agent"] = user_agent
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    hdrs.update(headers or {})
    conn = http.client.HTTPConnection(host, port, timeout=timeout, source_address=(source, 0) if source else None)
    started = time.monotonic()
    try:
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        payload = resp.read()
        return ScrapeResult(
            f"http://{host}:{port}{path}",
            resp.status,
            {k.lower(): v for k, v in resp.getheaders()},
            payload,
            round(time.monotonic() - started, 4),
        )
    finally:
        conn.close()


def scrape(handle, path: str, auth: bool = True, timeout: float = 300.0) -> ScrapeResult:
    """GET path (no redirect following), with the master key as Bearer when auth."""
    return request(handle, "GET", path, key="master" if auth else None, timeout=timeout)


def scrape_metrics(handle, auth: bool = True) -> ScrapeResult:
    return scrape(handle, "/metrics/", auth=auth)


def scrape_readiness(handle) -> ScrapeResult:
    return scrape(handle, "/health/readiness", auth=False)


def scrape_readiness_details(handle) -> ScrapeResult:
    return scrape(handle, "/health/readiness/details", auth=True)


def scrape_health(handle) -> ScrapeResult:
    """/health calls every configured model upstream."""
    return scrape(handle, "/health", auth=True)


# --------------------------------------------------------------------------
# traffic
# --------------------------------------------------------------------------

USER_AGENTS = ("harness-client-a/1.0", "OpenAI/Python 1.99.0")


def _error_type(body: bytes) -> str | None:
    """The error's type and code from a proxy error body ({"error": {"type": ..., "code": ...}}), if any."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict):
        return None
    parts = [str(err[k]) for k in ("type", "code") if err.get(k) not in (None, "")]
    return "/".join(parts) or None


def _error_message(body: bytes, limit: int = 160) -> str:
    """Short error text from a proxy error body (OpenAI-style {"error": {"message": ...}})."""
    try:
        data = json.loads(body)
        err = data.get("error", data) if isinstance(data, dict) else data
        msg = err.get("message", err) if isinstance(err, dict) else err
        text = str(msg)
    except ValueError:
        text = body.decode("utf-8", "replace")
    return text[:limit]


class _Recorder:
    """Sends requests to the proxy and records what was sent and what came back (thread-safe)."""

    def __init__(self, handle, sources: list, user_agents: list, timeout: float):
        self.handle = handle
        self.sources = sources
        self.user_agents = user_agents
        self.timeout = timeout
        self.records = []
        self._lock = threading.Lock()

    def send(self, category, path, body, *, key="master", source=None, ua=None, method="POST"):
        source = source or self.sources[0]
        ua = ua or self.user_agents[0]
        error = error_type = None
        try:
            res = request(self.handle, method, path, body, key=key, source=source, user_agent=ua, timeout=self.timeout)
            status = res.status
            if status == 200 and body and body.get("stream"):
                if b"[DONE]" not in res.body:
                    status = -200  # stream did not finish cleanly
            elif status >= 400:
                error = _error_message(res.body)
                error_type = _error_type(res.body)
        except (OSError, http.client.HTTPException) as exc:
            status = -1
            error = str(exc)
            log(f"request {category} failed: {exc}")
        record = {
            "category": category,
            "path": path,
            "model": (body or {}).get("model"),
            "stream": bool((body or {}).get("stream")),
            "source": source,
            "user_agent": ua,
            "status": status,
            "error": error,
        }
        if error_type:
            record["error_type"] = error_type
        with self._lock:
            self.records.append(record)
        return status


def _chat_body(model, text, stream=False, **extra):
    body = {"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 32}
    if stream:
        body["stream"] = True
    body.update(extra)
    return body


def _summary(records: list, tag: str, rounds: int) -> dict:
    def tally(keyfunc):
        out = {}
        for rec in records:
            k = keyfunc(rec)
            out[k] = out.get(k, 0) + 1
        return dict(sorted(out.items()))

    by_category_status = {}
    for rec in records:
        by_category_status.setdefault(rec["category"], {})
        st = str(rec["status"])
        by_category_status[rec["category"]][st] = by_category_status[rec["category"]].get(st, 0) + 1
    return {
        "tag": tag,
        "rounds": rounds,
        "total": len(records),
        "by_category": tally(lambda r: r["category"]),
        "by_status": tally(lambda r: str(r["status"])),
        "by_category_status": by_category_status,
        "by_model": tally(lambda r: str(r["model"])),
        "by_source": tally(lambda r: r["source"]),
        "by_user_agent": tally(lambda r: r["user_agent"]),
        "streaming": sum(1 for r in records if r["stream"]),
        "records": records,
    }


def _default_sources() -> list:
    return [LOOPBACK] + ([SECOND_LOOPBACK] if can_bind(SECOND_LOOPBACK) else [])


def drive_traffic(
    handle,
    sources: Iterable[str] | None = None,
    user_agents: Iterable[str] = USER_AGENTS,
    rounds: int = 1,
    tag: str | None = None,
    timeout: float = 120.0,
    profile: str = "default",
) -> dict:
    """Send real traffic through the proxy; return what was sent and what came back.

    Per round: non-streaming and streaming chat per (client address, user agent), a model
    without rate-limit headers, embeddings, the 429 model, the 500 model (fallback succeeds),
    the 500b model (fallback fails), a load-balanced group with a failing deployment, an
    identical request sent twice (cache), an unknown model and an invalid key.
    profile='features' then adds drive_feature_traffic() once (the proxy must run that profile).
    """
    _check_profile(profile)
    sources = list(sources) if sources is not None else _default_sources()
    user_agents = list(user_agents)
    tag = tag or secrets.token_hex(4)
    rec = _Recorder(handle, sources, user_agents, timeout)
    send, chat = rec.send, _chat_body

    for r in range(rounds):
        uniq = f"{tag}-{r}"
        for src in sources:
            for ua in user_agents:
                for i in range(2):
                    send(
                        "chat",
                        "/v1/chat/completions",
                        chat("gpt-ok", f"hello {uniq} {src} {ua} {i}"),
                        source=src,
                        ua=ua,
                    )
                send(
                    "chat_stream",
                    "/v1/chat/completions",
                    chat("gpt-ok", f"stream please {uniq} {src} {ua}", stream=True),
                    source=src,
                    ua=ua,
                )
        send("chat_no_ratelimit_headers", "/v1/chat/completions", chat("gpt-plain", f"plain {uniq}"))
        send(
            "chat_no_ratelimit_headers_stream",
            "/v1/chat/completions",
            chat("gpt-plain", f"plain stream {uniq}", stream=True),
        )
        for i in range(2):
            send(
                "embedding",
                "/v1/embeddings",
                {"model": "text-embedding-fake", "input": f"embed {uniq} {i}"},
                source=sources[i % len(sources)],
            )
        for i in range(2):
            send("rate_limited_429", "/v1/chat/completions", chat("gpt-429", f"limit me {uniq} {i}"))
        for i in range(2):
            send("fallback_success", "/v1/chat/completions", chat("gpt-500", f"fallback {uniq} {i}"))
        for i in range(2):
            send("fallback_failure", "/v1/chat/completions", chat("gpt-500b", f"double fail {uniq} {i}"))
        for i in range(4):
            send("loadbalanced_flaky", "/v1/chat/completions", chat("gpt-flaky", f"flaky {uniq} {i}"))
        for _ in range(2):
            send("cache_repeat", "/v1/chat/completions", chat("gpt-ok", f"cache me {uniq}"))
        for _ in range(2):
            send(
                "cache_repeat_embedding",
                "/v1/embeddings",
                {"model": "text-embedding-fake", "input": f"cached {uniq}"},
            )
        send("unknown_model", "/v1/chat/completions", chat("no-such-model", f"who {uniq}"))
        send(
            "invalid_key",
            "/v1/chat/completions",
            chat("gpt-ok", f"bad key {uniq}"),
            key="sk-bad-" + secrets.token_hex(8),
        )
        send("invalid_key", "/v1/models", None, key="sk-bad-" + secrets.token_hex(8), method="GET")
        send("list_models", "/v1/models", None, method="GET")

    records = rec.records
    if profile == "features":
        records = records + drive_feature_traffic(handle, sources=sources, tag=tag, timeout=timeout)["records"]
    if profile == "budgets":
        records = records + drive_budget_traffic(handle, tag=tag, timeout=timeout)["records"]
    return _summary(records, tag, rounds)


# Requests per caller of the budgets profile: the limited key's rpm limit (budget_auth.CALLERS) is 3.
BUDGET_REQUESTS = {"room": 3, "exhausted": 2, "unlimited": 2, "limited": 6}


def drive_budget_traffic(handle, tag: str | None = None, timeout: float = 120.0) -> dict:
    """The ``budgets`` profile's requests (proxy launched with profile='budgets', handle a Stack): chats with
    each test key in turn, as its end user, enough with the limited key to exceed its rpm limit, and one
    with a key the custom auth does not know. Same result shape as drive_traffic."""
    keys = handle.budget_keys if isinstance(handle, Stack) else {}
    if not keys:
        raise ValueError("budget traffic needs the Stack of a proxy launched with profile='budgets'")
    tag = tag or secrets.token_hex(4)
    rec = _Recorder(handle, _default_sources()[:1], list(USER_AGENTS[:1]), timeout)
    for name, count in BUDGET_REQUESTS.items():
        end_user = budget_auth.CALLERS[name].get("end_user")
        for i in range(count):
            extra = {"user": end_user} if end_user else {}
            body = _chat_body("gpt-ok", f"budget {tag} {name} {i}", **extra)
            rec.send(f"budget_{name}", "/v1/chat/completions", body, key=keys[name])
    rec.send(
        "budget_unknown_key", "/v1/chat/completions", _chat_body("gpt-ok", f"who {tag}"), key=generate_master_key()
    )
    return _summary(rec.records, tag, 1)


def probe_budget_enforcement(stack: Stack, tag: str | None = None, timeout: float = 120.0) -> dict:
    """Restart the budgets profile's proxy with ``custom_auth_run_common_checks: true`` (LiteLLM's budget and
    access checks on custom auth's objects) and send one request per test key: what LiteLLM answers an
    overspent caller. The restart empties /metrics, so call this after the last scrape."""
    config = json.loads(json.dumps(stack.config))
    config["general_settings"]["custom_auth_run_common_checks"] = True
    stack.proxy.config_path.write_text("# generated by tools/harness/proxy.py\n" + to_yaml(config) + "\n")
    stack.restart()
    tag = tag or secrets.token_hex(4)
    rec = _Recorder(stack, _default_sources()[:1], list(USER_AGENTS[:1]), timeout)
    for name in BUDGET_REQUESTS:
        end_user = budget_auth.CALLERS[name].get("end_user")
        extra = {"user": end_user} if end_user else {}
        rec.send(
            f"checked_{name}",
            "/v1/chat/completions",
            _chat_body("gpt-ok", f"checked {tag} {name}", **extra),
            key=stack.budget_keys[name],
        )
    return _summary(rec.records, tag, 1)


def _admission_burst(rec: _Recorder, uniq: str, size: int) -> None:
    """size concurrent requests to the slow model: more than admission control admits plus queues."""
    barrier = threading.Barrier(size)

    def one(i):
        barrier.wait()
        rec.send("admission_burst", "/v1/chat/completions", _chat_body("gpt-slow", f"burst {uniq} {i}"))

    threads = [threading.Thread(target=one, args=(i,), name=f"burst-{i}") for i in range(size)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _redis_outage(rec: _Recorder, redis: RedisHandle, uniq: str, requests_during: int = 6) -> None:
    """Stop redis, send cached chat requests (cache reads/writes fail), start redis again, send more."""
    log(f"redis outage: stopping redis-server on port {redis.port}")
    redis.stop()
    try:
        for i in range(requests_during):
            rec.send("redis_outage", "/v1/chat/completions", _chat_body("gpt-ok", f"redis down {uniq} {i}"))
    finally:
        redis.start()
    log("redis outage over: redis-server is back")
    # the breaker half-opens after its recovery timeout (FEATURE_ENV), then closes on a success
    time.sleep(float(FEATURE_ENV["REDIS_CIRCUIT_BREAKER_RECOVERY_TIMEOUT"]) + 1.0)
    for i in range(3):
        rec.send("redis_recovered", "/v1/chat/completions", _chat_body("gpt-ok", f"redis back {uniq} {i}"))
        time.sleep(0.5)


def drive_feature_traffic(
    handle,
    sources: Iterable[str] | None = None,
    tag: str | None = None,
    timeout: float = 120.0,
    redis_outage: bool = True,
) -> dict:
    """The ``features`` profile's requests (proxy launched with profile='features'); same result shape
    as drive_traffic.

    Token details (plain and streamed), image generation, a video job, guardrails that pass at the
    pre/during/post-call hooks and one that blocks, a request whose logging callback fails, a billable
    request priced at $0, a burst that overflows admission control, and, when handle is a Stack with
    redis and redis_outage is set, a redis outage with requests during and after it.
    """
    sources = list(sources) if sources is not None else _default_sources()
    tag = tag or secrets.token_hex(4)
    uniq = f"{tag}-features"
    rec = _Recorder(handle, sources, list(USER_AGENTS), timeout)
    send, chat = rec.send, _chat_body

    for i in range(2):
        send("token_details", "/v1/chat/completions", chat("gpt-details", f"details {uniq} {i}"))
    send(
        "token_details_stream",
        "/v1/chat/completions",
        chat("gpt-details", f"details stream {uniq}", stream=True, stream_options={"include_usage": True}),
    )
    for n in (2, 1):
        send(
            "image_generation",
            "/v1/images/generations",
            {"model": "gpt-image-fake", "prompt": f"cat {uniq} {n}", "n": n},
        )
    send("video_generation", "/v1/videos", {"model": "video-fake", "prompt": f"waves {uniq}", "seconds": "4"})
    for i in range(2):
        send(
            "guardrails_pass",
            "/v1/chat/completions",
            chat("gpt-ok", f"guarded {uniq} {i}", guardrails=list(PASSING_GUARDRAILS)),
        )
    send(
        "guardrail_block",
        "/v1/chat/completions",
        chat("gpt-ok", f"blocked {uniq}", guardrails=[BLOCKING_GUARDRAIL]),
    )
    send(
        "callback_failure",
        "/v1/chat/completions",
        chat("gpt-ok", f"log me {uniq}", metadata={"tags": [FAIL_LOGGING_TAG]}),
    )
    send("zero_cost", "/v1/chat/completions", chat("gpt-zero-cost", f"free {uniq}"))
    for i in range(2):
        send(
            "mcp_tool_call",
            "/mcp-rest/tools/call",
            {"server_id": MCP_SERVER, "name": "echo", "arguments": {"text": f"echo {uniq} {i}"}},
        )
    _admission_burst(rec, uniq, ADMISSION_BURST)
    redis = handle.redis if isinstance(handle, Stack) else None
    if redis_outage and redis is not None:
        _redis_outage(rec, redis, uniq)
    return _summary(rec.records, tag, 1)
