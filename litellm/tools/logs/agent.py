"""The Agent's side of log collection for a file: the ``log_processing_rules`` documented in the spec's
``logs`` example (assets/configuration/spec.yaml, the one place they are written), applied as the Agent does.

``multi_line``: a line matching the pattern at its start opens a record, any other line joins the open record
(the Agent also closes a record after a second without new lines: a file read at once has no such pauses).
``mask_sequences``: each pattern's matches in a record are replaced by its placeholder, ``${1}`` expanding to
the first group as Go's ``Regexp.ReplaceAll`` does. Lines are grouped first, then masked, as in the Agent.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

SPEC = Path(__file__).resolve().parents[2] / "assets" / "configuration" / "spec.yaml"


def processing_rules(spec: Path = SPEC) -> list:
    """The log_processing_rules of the spec's logs template example."""
    data = yaml.safe_load(spec.read_text())
    for option in data["files"][0]["options"]:
        if option.get("template") == "logs":
            return option["example"][0]["log_processing_rules"]
    raise LookupError(f"no logs template in {spec}")


def _go_placeholder(placeholder: str) -> str:
    return re.sub(r"\$\{(\d+)\}|\$(\d+)", lambda m: "\\g<" + (m.group(1) or m.group(2)) + ">", placeholder)


class AgentRules:
    def __init__(self, rules: list | None = None):
        rules = processing_rules() if rules is None else rules
        starts = [r["pattern"] for r in rules if r["type"] == "multi_line"]
        self.start = re.compile(starts[0]) if starts else None
        self.masks = [
            (re.compile(r["pattern"]), _go_placeholder(r["replace_placeholder"]))
            for r in rules
            if r["type"] == "mask_sequences"
        ]

    def records(self, lines: list, keep_blank: bool = False) -> list:
        """[(first line number, text)] for the lines of a file (numbers from 1), masked; keep_blank: also the
        blank records the Agent drops, unmasked (to cut a file at record boundaries)."""
        out = []
        for number, line in enumerate(lines, 1):
            if not out or self.start is None or self.start.match(line):
                out.append([number, [line]])
            else:
                out[-1][1].append(line)
        records = []
        for number, group in out:
            text = "\n".join(group)
            if keep_blank:
                records.append((number, text))
            elif text.strip():  # the Agent sends no empty log
                records.append((number, self.mask(text)))
        return records

    def mask(self, text: str) -> str:
        for pattern, placeholder in self.masks:
            text = pattern.sub(placeholder, text)
        return text
