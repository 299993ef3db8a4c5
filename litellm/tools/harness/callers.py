"""The ``callers`` capture profile: a busy proxy's /metrics, scraped as its callers grow.

A real LiteLLM proxy on loopback, with the custom auth of budget_auth.py for N generated callers (keys, one
team per KEYS_PER_TEAM keys, one user per KEYS_PER_USER, orgs, end users, budgets and limits on some of each),
the model groups of proxy.CALLER_GROUPS on the fake upstream, end users tracked in Prometheus. Traffic comes in
phases; after each, /metrics/ is scraped and written. In phase k the callers active grow (10 % of N in the first
phase, all of them in the last two), each new caller calls once and half the earlier callers, by turns, call again
(their counters rise; every second call of a caller picks another model group and end user). Each phase also
sends requests that fail (upstream 500s and 429s, unknown keys) and a scanner's probes: random paths under
LiteLLM's pass-through prefixes and common scanner paths, without a key or with a guessed one (never a valid
key on a pass-through prefix: it would forward the request to the real provider), which LiteLLM records in
`route`.

    cd litellm && ../.cache/venv/bin/python -m tools.harness.capture --version 1.110.2 --profile callers \\
        --callers 3000 --compress gz --out ../.cache/callers/1.110.2-3000

writes metrics-01.txt.gz ... metrics-06.txt.gz (raw bodies but for the scrubbing below) and capture.json:
versions, the schedule, what was sent and answered per phase, and per scrape its size, lines, series, tag sets
per metric and distinct values per label. The callers' keys, the guessed keys and the master key are replaced
by `sk-REDACTED-caller-<i>`, `sk-REDACTED-guess-<j>` and `sk-REDACTED` should they appear (LiteLLM labels keys
by their sha256 only); local paths as capture.py does. Requests are bounded in count (the plan) and time
(--phase-timeout per phase).
"""

from __future__ import annotations

import concurrent.futures
import gzip
import hashlib
import json
import lzma
import random
import re
import time
from pathlib import Path

from . import budget_auth
from . import proxy as harness

SCRAPES_DEFAULT = 6
# An earlier caller calls again in a phase when (i + phase) % RECALL == 0.
RECALL = 2
# Concurrent requests: enough to keep one proxy worker busy on 2 cores.
CONCURRENCY = 24
PHASE_TIMEOUT = 600.0
SETTLE_SECONDS = 3.0
# One probe per PROBE_SHARE callers per phase, one unknown key per GUESS_SHARE new callers.
PROBE_SHARE = 40
GUESS_SHARE = 50

# LiteLLM's provider pass-through prefixes (`/<prefix>/{endpoint:path}` routes of 1.80-1.110), and langfuse's.
PASS_THROUGH_PREFIXES = (
    "/openai",
    "/anthropic",
    "/vertex_ai",
    "/vertex-ai",
    "/gemini",
    "/bedrock",
    "/azure",
    "/cohere",
    "/mistral",
    "/assemblyai",
    "/vllm",
    "/langfuse",
)
PROBE_TAILS = ("v1/models", "v1/chat/completions", "v1beta/models", ".env", "admin", "config.json", "api/v1/keys")
SCANNER_PATHS = (
    "/.env",
    "/.git/config",
    "/wp-login.php",
    "/xmlrpc.php",
    "/admin",
    "/phpmyadmin/index.php",
    "/server-status",
    "/actuator/env",
    "/.aws/credentials",
    "/config.json",
    "/api/v1/pods",
    "/cgi-bin/luci",
    "/owa/auth/logon.aspx",
    "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
)
# Labels the check drops by default (datadog_checks.litellm.tags.DROPPED_LABELS): not part of a tag set.
DROPPED_LABELS = frozenset({"client_ip", "user_agent", "user_email", "pid"})
COMPRESSORS = {
    "xz": (".xz", lambda b: lzma.compress(b, preset=6)),
    "gz": (".gz", lambda b: gzip.compress(b, compresslevel=6)),
    "none": ("", bytes),
}

_LABEL = re.compile(rb'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')
_KEY = re.compile(rb"sk-[0-9a-f]{48}")


def active_schedule(count: int, scrapes: int) -> list:
    """Callers active at each scrape: 10 % of `count` first, growing evenly to all, all again at the last."""
    if scrapes < 2:
        return [count]
    steps = scrapes - 1
    return [max(1, round(count * min(1.0, 0.1 + 0.9 * k / max(1, steps - 1)))) for k in range(steps)] + [count]


def caller_request(i: int, r: int, count: int) -> tuple:
    """Caller i's r-th request: (category, path, body). Every second call moves to another model and end user."""
    combo = r // 2
    pick = i + combo
    if pick % 23 == 0:
        kind, group = "upstream_500", harness.caller_group_names("chat-err")
    elif pick % 29 == 0:
        kind, group = "upstream_429", harness.caller_group_names("chat-limit")
    elif pick % 11 == 0:
        kind, group = "embedding", harness.caller_group_names("embed")
    elif pick % 7 == 0:
        kind, group = "chat_plain", harness.caller_group_names("chat-plain")
    else:
        kind, group = "chat", harness.caller_group_names("chat")
    model = group[(i * 3 + combo * 5) % len(group)]
    end_users = budget_auth.caller_end_users(i, count)
    extra = {"user": end_users[combo % len(end_users)]} if end_users else {}
    if kind == "embedding":
        return kind, "/v1/embeddings", {"model": model, "input": f"caller {i} call {r}", **extra}
    stream = kind == "chat" and (i + r) % 5 == 1
    category = kind + ("_stream" if stream else "")
    return category, "/v1/chat/completions", harness._chat_body(model, f"caller {i} call {r}", stream=stream, **extra)


def probe(rng: random.Random) -> tuple:
    """A scanner's request: (category, method, path, with a guessed key)."""
    if rng.random() < 0.6:
        path = f"{rng.choice(PASS_THROUGH_PREFIXES)}/{rng.choice(PROBE_TAILS)}"
        category = "probe_pass_through"
    else:
        path = rng.choice(SCANNER_PATHS)
        category = "probe_scanner"
    if rng.random() < 0.7:  # most scanners vary the path
        path += f"/{rng.getrandbits(32):08x}"
    guessed = rng.random() < 0.5
    return category + ("_guessed_key" if guessed else "_no_key"), rng.choice(("GET", "POST")), path, guessed


def phase_plan(phase: int, before: int, now: int, calls: list, count: int, guesses: list, rng: random.Random):
    """The requests of one phase, shuffled: (category, method, path, body, key kind, key)."""
    plan = []
    for i in range(now):
        if i >= before or (i + phase) % RECALL == 0:
            category, path, body = caller_request(i, calls[i], count)
            calls[i] += 1
            plan.append((category, "POST", path, body, "caller", i))
    for _ in range(max(2, (now - before) // GUESS_SHARE)):
        guess = len(guesses)
        guesses.append(guess)
        model = rng.choice(harness.caller_group_names("chat"))
        body = harness._chat_body(model, f"guess {guess}")
        plan.append(("unknown_key", "POST", "/v1/chat/completions", body, "guess", guess))
    for _ in range(max(10, count // PROBE_SHARE)):
        category, method, path, guessed = probe(rng)
        guess = len(guesses) if guessed else None
        if guessed:
            guesses.append(guess)
        plan.append((category, method, path, None, "guess" if guessed else None, guess))
    rng.shuffle(plan)
    return plan


def run_phase(stack, plan: list, keys, timeout: float) -> list:
    """Send a phase's requests concurrently, none after `timeout` seconds; returns the records."""
    sources = harness._default_sources()
    rec = harness._Recorder(stack, sources, list(harness.USER_AGENTS), 120.0)
    deadline = time.monotonic() + timeout
    skipped = []

    def send(n, item):
        category, method, path, body, kind, index = item
        if time.monotonic() > deadline:
            skipped.append(category)
            return
        key = keys(kind, index) if kind else None
        source = sources[n % len(sources)]
        ua = harness.USER_AGENTS[n % len(harness.USER_AGENTS)]
        rec.send(category, path, body, key=key, source=source, ua=ua, method=method)

    with concurrent.futures.ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(send, range(len(plan)), plan))
    if skipped:
        harness.log(f"phase timeout: {len(skipped)} requests not sent")
    return rec.records + [{"category": c, "status": "not_sent", "model": None, "stream": False} for c in skipped]


def tally(records: list) -> dict:
    out = {}
    for r in records:
        by = out.setdefault(r["category"], {})
        by[str(r["status"])] = by.get(str(r["status"]), 0) + 1
    return dict(sorted(out.items()))


def scrape_stats(body: bytes) -> dict:
    """Size of one scrape: bytes, lines, series, families; per metric (sample name, `_created` left out, as the
    check ignores it) its series and its tag sets (label sets without the labels the check drops; `le` kept, as
    Datadog counts a bucket's bound); per label its distinct values."""
    lines = series = families = 0
    per_metric, values = {}, {}
    for line in body.splitlines():
        lines += 1
        if not line or line[:1] == b"#":
            families += line.startswith(b"# TYPE ")
            continue
        series += 1
        brace = line.find(b"{")
        name = (line[:brace] if brace >= 0 else line.split(b" ", 1)[0]).decode()
        if name.endswith("_created"):
            continue
        labels = _LABEL.findall(line[brace:]) if brace >= 0 else []
        for k, v in labels:
            values.setdefault(k.decode(), set()).add(v)
        entry = per_metric.setdefault(name, [0, set()])
        entry[0] += 1
        entry[1].add(tuple(kv for kv in labels if kv[0].decode() not in DROPPED_LABELS))
    return {
        "bytes": len(body),
        "lines": lines,
        "series": series,
        "families": families,
        "metrics": {n: {"series": s, "tag_sets": len(t)} for n, (s, t) in sorted(per_metric.items())},
        "label_values": {k: len(v) for k, v in sorted(values.items())},
    }


class Keys:
    """The run's keys (callers', guessed, master) and a one-pass replacement of them by placeholders."""

    def __init__(self, stack):
        self.seed = stack.caller_seed
        self.placeholders = {stack.master_key: "sk-REDACTED"}
        for i in range(stack.caller_count):
            self.placeholders[budget_auth.caller_key(self.seed, i)] = f"sk-REDACTED-caller-{i}"

    def key(self, kind, index):
        if kind == "caller":
            return budget_auth.caller_key(self.seed, index)
        key = budget_auth.caller_key(self.seed + "-guess", index)
        self.placeholders[key] = f"sk-REDACTED-guess-{index}"
        return key

    def redact(self, body: bytes, counts: dict) -> bytes:
        def one(match):
            placeholder = self.placeholders.get(match.group(0).decode())
            if placeholder is None:
                return match.group(0)
            kind = placeholder.rsplit("-", 1)[0] if placeholder != "sk-REDACTED" else placeholder
            counts[kind] = counts.get(kind, 0) + 1
            return placeholder.encode()

        body = _KEY.sub(one, body)
        assert not _KEY.search(body), "a key of this run's shape is left in a body"
        return body


def run_capture(
    version: str,
    out: Path,
    callers: int = harness.CALLERS_DEFAULT,
    scrapes: int = SCRAPES_DEFAULT,
    compress: str = "xz",
    use_redis: bool = True,
    cache_root=None,
    keep_workdir: bool = False,
    phase_timeout: float = PHASE_TIMEOUT,
) -> dict:
    from . import capture  # scrubbing and provenance helpers shared with the other profiles

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    suffix, compressor = COMPRESSORS[compress]
    venv = harness.ensure_litellm_venv(version, cache_root)
    info = harness.venv_info(venv)
    stack = harness.launch(
        version,
        cache_root=cache_root,
        use_redis=use_redis,
        keep_workdir=keep_workdir,
        profile="callers",
        callers=callers,
    )
    keys = Keys(stack)
    local = capture.local_replacements(venv, stack.workdir)
    rng = random.Random(stack.caller_seed)
    calls = [0] * callers
    guesses = []
    schedule = active_schedule(callers, scrapes)
    phases, written, redacted = [], [], {}
    started = time.monotonic()
    try:
        before = 0
        for k, now in enumerate(schedule, 1):
            plan = phase_plan(k, before, now, calls, callers, guesses, rng)
            harness.log(f"phase {k}/{len(schedule)}: {now} callers active, {len(plan)} requests")
            t0 = time.monotonic()
            records = run_phase(stack, plan, keys.key, phase_timeout)
            sent_seconds = round(time.monotonic() - t0, 1)
            time.sleep(SETTLE_SECONDS)
            t0 = time.monotonic()
            res = harness.scrape_metrics(stack)
            scrape_seconds = round(time.monotonic() - t0, 1)
            if res.status != 200:
                raise RuntimeError(f"/metrics/ answered {res.status}")
            counts = {}
            body = keys.redact(res.body, counts)
            body, local_counts = capture.scrub(body, local)
            counts.update(local_counts)
            for placeholder, n in counts.items():
                redacted[placeholder] = redacted.get(placeholder, 0) + n
            name = f"metrics-{k:02d}.txt{suffix}"
            (out / name).write_bytes(compressor(body))
            stats = scrape_stats(body)
            harness.log(
                f"scrape {k}: {stats['bytes']:,} bytes, {stats['lines']:,} lines, {stats['series']:,} series "
                f"in {scrape_seconds}s ({(out / name).stat().st_size:,} bytes written)"
            )
            written.append(name)
            phases.append(
                {
                    "file": name,
                    "active_callers": now,
                    "requests": len(records),
                    "send_seconds": sent_seconds,
                    "scrape_seconds": scrape_seconds,
                    "compressed_bytes": (out / name).stat().st_size,
                    "sha256": hashlib.sha256(body).hexdigest(),
                    "by_category_status": tally(records),
                    **stats,
                }
            )
            before = now
        upstream_stats = stack.upstream.stats()
        workdir = stack.workdir
    except BaseException:
        stack.keep_workdir = True
        harness.log(f"capture failed; logs kept in {stack.workdir}")
        raise
    finally:
        stack.stop()

    config = capture.redacted_config(stack.config, stack.master_key)
    capture_doc = {
        **capture.provenance(version, venv, info, stack, "callers"),
        "callers": callers,
        "teams": len({budget_auth.caller_spec(i, callers)["team_id"] for i in range(callers)}),
        "users": len({budget_auth.caller_spec(i, callers)["user_id"] for i in range(callers)}),
        "orgs": len({budget_auth.caller_spec(i, callers)["org_id"] for i in range(callers)}),
        "end_users": len({e for i in range(callers) for e in budget_auth.caller_end_users(i, callers)}),
        "model_groups": len({m["model_name"] for m in config["model_list"]}),
        "deployments": len(config["model_list"]),
        "schedule": {
            "active_callers": schedule,
            "recall": f"an earlier caller i calls again in phase k when (i + k) % {RECALL} == 0",
            "concurrency": CONCURRENCY,
            "phase_timeout_seconds": phase_timeout,
            "seconds": round(time.monotonic() - started, 1),
        },
        "compression": compress,
        "scrapes": phases,
        "upstream_requests": upstream_stats,
        "scrub": {
            "replacements": redacted,
            "placeholders": [
                "sk-REDACTED (proxy master key)",
                "sk-REDACTED-caller-<i> (the callers' keys)",
                "sk-REDACTED-guess-<j> (unknown keys sent by the traffic)",
                *capture.LOCAL_PLACEHOLDERS,
            ],
            "note": "bodies are raw apart from these literal replacements; LiteLLM labels keys by sha256 only",
        },
        "proxy_config": config,
    }
    data = capture.scrubbed_json(capture_doc, local, indent=1) + "\n"
    (out / "capture.json").write_text(data)
    assert stack.master_key not in data
    harness.log(f"wrote {out}: {len(written)} scrapes" + (f"; proxy logs in {workdir}" if keep_workdir else ""))
    return capture_doc


def summary(capture: dict) -> list:
    """One line per scrape of a capture.json: what the README and reports quote."""
    lines = [f"{'scrape':<18} {'callers':>7} {'bytes':>12} {'lines':>9} {'series':>9}  biggest tag sets"]
    for s in capture["scrapes"]:
        top = sorted(s["metrics"].items(), key=lambda kv: -kv[1]["tag_sets"])[:3]
        biggest = ", ".join(f"{name} {m['tag_sets']:,}" for name, m in top)
        lines.append(
            f"{s['file']:<18} {s['active_callers']:>7} {s['bytes']:>12,} {s['lines']:>9,} {s['series']:>9,}  {biggest}"
        )
    return lines


def main(argv=None) -> int:
    """Print a callers capture's scrapes (``python -m tools.harness.callers <capture dir> [--grow-to N]``), and
    with --grow-to the last one grown to N keys by tools.grow.grow_keys, measured the same way."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("capture", type=Path, help="a folder the callers profile wrote")
    parser.add_argument("--grow-to", type=int, default=0, help="keys: grow the last scrape to this many")
    parser.add_argument("--json", action="store_true", help="print the measures as JSON")
    args = parser.parse_args(argv)
    data = json.loads((args.capture / "capture.json").read_text())
    measured = {"scrapes": data["scrapes"]}
    if args.grow_to:
        from tests.common import read_scrape
        from tools.grow import grow_keys

        last = read_scrape(str(args.capture / data["scrapes"][-1]["file"]))
        grown = grow_keys(last.decode(), args.grow_to).encode()
        measured["grown"] = {"file": f"grown to {args.grow_to}", "active_callers": args.grow_to, **scrape_stats(grown)}
    if args.json:
        print(json.dumps(measured, indent=1))
        return 0
    print("\n".join(summary({"scrapes": measured["scrapes"] + ([measured["grown"]] if args.grow_to else [])})))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
