"""python -m tools.logs FILE [--intake] [--today YYYY-MM-DD] [--intake-time ISO]

Groups FILE's lines into records with the spec's multi_line rule, masks them with its mask_sequences, runs
assets/logs/litellm.yaml on each record and prints one JSON object per record: ``line`` (its first line in
FILE), then the log as the pipeline leaves it. ``--intake``: FILE holds items posted to the logs API (one JSON
object a line, e.g. the datadog callback's events), each one record, as the intake receives them.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

import yaml

from .agent import AgentRules
from .pipeline import Pipeline

PIPELINE = Path(__file__).resolve().parents[2] / "assets" / "logs" / "litellm.yaml"


def load_pipeline(today: datetime.date | None = None, path: Path = PIPELINE) -> Pipeline:
    return Pipeline(yaml.safe_load(path.read_text()), today=today)


def run_file(path, intake=False, today=None, intake_time=None, pipeline=None) -> list:
    """[{line, status, date, message, ...}] for every record of the file at path."""
    pipeline = pipeline or load_pipeline(today)
    lines = Path(path).read_text(encoding="utf-8", errors="replace").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if intake:
        records = [(n, line) for n, line in enumerate(lines, 1) if line.strip()]
    else:
        records = AgentRules().records(lines)
    if intake_time is None:
        intake_time = int(datetime.datetime.now(datetime.UTC).timestamp() * 1000)
    return [{"line": n, **pipeline.run(text, intake=intake, intake_time=intake_time)} for n, text in records]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.logs", description=__doc__.split("\n\n")[1])
    parser.add_argument("file", type=Path)
    parser.add_argument("--intake", action="store_true", help="FILE holds logs API items, one JSON object a line")
    parser.add_argument(
        "--today", type=datetime.date.fromisoformat, help="the date a time-only line gets (default: today, UTC)"
    )
    parser.add_argument("--intake-time", help="ISO date for records with no date of their own (default: now)")
    args = parser.parse_args(argv)
    intake_time = None
    if args.intake_time:
        when = datetime.datetime.fromisoformat(args.intake_time.replace("Z", "+00:00"))
        intake_time = int((when if when.tzinfo else when.replace(tzinfo=datetime.UTC)).timestamp() * 1000)
    for record in run_file(args.file, args.intake, args.today, intake_time):
        sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
