"""Writes assets/logs/litellm_tests.yaml: real records of the captures (tests/fixtures/logs) as samples, and as
each one's result what the runner gives (integrations-core's format: custom attributes, message, status, tags,
timestamp). ``python -m tools.logs.tests_file`` rewrites it; tests/test_logs.py checks it is up to date.

A time-only line (plain format) gets its date from the day the pipeline runs on; the results here use TODAY.
"""

from __future__ import annotations

import datetime
import re
import sys
from pathlib import Path

from .__main__ import load_pipeline
from .agent import AgentRules

ROOT = Path(__file__).resolve().parents[2]
LOGS = ROOT / "tests" / "fixtures" / "logs"
OUT = ROOT / "assets" / "logs" / "litellm_tests.yaml"
TODAY = datetime.date(2026, 12, 4)
MAX_SAMPLE_CHARS = 8000

# (capture, stream, pattern the record must match): the shortest such record is a sample
SAMPLES = [
    ("1.110.2-plain-default", "stderr", r"\A\d\d:\d\d:\d\d - LiteLLM:WARNING: "),
    ("1.110.2-plain-default", "stderr", r"\A\d\d:\d\d:\d\d - LiteLLM Router:ERROR: "),
    ("1.110.2-plain-default", "stderr", r"\A\d\d:\d\d:\d\d - LiteLLM Proxy:ERROR: .*Traceback"),
    ("1.110.2-plain-default", "stderr", r"\AINFO:     Started server process"),
    ("1.110.2-plain-default", "stdout", r'\AINFO: .*" 200 OK'),
    ("1.110.2-plain-default", "stdout", r'\AINFO: .*" 429 '),
    ("1.110.2-plain-default", "stdout", r'\AINFO: .*" 500 '),
    ("1.110.2-plain-debug", "stdout", r"\A\d\d:\d\d:\d\d - LiteLLM Router:DEBUG: "),
    ("1.80.11-plain-default", "stderr", r"\A\x1b\[92m\d\d:\d\d:\d\d - LiteLLM Router:ERROR"),
    ("1.110.2-json-default", "stdout", r'\A\{"message": "127\.0\.0\.1:\d+ - \\"POST'),
    ("1.110.2-json-default", "stderr", r'"level": "WARNING"'),
    ("1.110.2-json-default", "stderr", r'"error": "'),
    ("1.80.11-json-default", "stderr", r'"stacktrace": '),
    ("1.100.5-json-default", "stdout", r'"level": "INFO"'),
]


def pick(capture: str, stream: str, pattern: str) -> str:
    lines = (LOGS / capture / f"{stream}.log").read_text(encoding="utf-8").split("\n")
    found = [text for _, text in AgentRules().records(lines) if re.search(pattern, text, re.S)]
    if found and len(min(found, key=len)) <= MAX_SAMPLE_CHARS:
        return min(found, key=len)
    raise LookupError(f"no record of {capture}/{stream}.log matches {pattern!r} in {MAX_SAMPLE_CHARS} characters")


def expected(pipeline, sample: str) -> dict:
    """A sample's result in the tests file's format, from the runner."""
    out = pipeline.run(sample, intake_time=None)
    result = {
        "custom": {k: v for k, v in out.items() if k not in ("status", "date", "message", "host", "service")},
        "message": out["message"],
        "status": out["status"],
        "tags": ["source:LOGS_SOURCE"],
    }
    if out["date"]:
        when = datetime.datetime.fromisoformat(out["date"].replace("Z", "+00:00"))
        result["timestamp"] = int(when.timestamp() * 1000)
    return result


def build() -> dict:
    pipeline = load_pipeline(TODAY)
    tests = []
    for capture, stream, pattern in SAMPLES:
        if not (LOGS / capture).is_dir():
            continue
        sample = pick(capture, stream, pattern)
        tests.append({"sample": sample, "result": expected(pipeline, sample)})
    return {"id": "litellm", "tests": tests}


def main() -> int:
    import yaml

    OUT.write_text(yaml.safe_dump(build(), sort_keys=False, allow_unicode=False, width=120))
    return 0


if __name__ == "__main__":
    sys.exit(main())
