"""Runs a Datadog log pipeline file (assets/logs/<name>.yaml) on records, by the processors' documented rules.

A log is modelled as Datadog shows it: the reserved fields (``message``, ``status``, ``date``, ``host``,
``service``) next to the attributes, nested by dots. What a record goes through, in order:

1. intake: a record whose text is a JSON object is parsed (Datadog's JSON preprocessing, default settings):
   its keys become attributes and the first of the documented attributes of each reserved field sets it
   (message: message, msg, log; status: status, severity, level, syslog.severity; date: @timestamp,
   timestamp, _timestamp, Timestamp, eventTime, date, published, syslog.timestamp; host: host, hostname,
   syslog.hostname; service: service, syslog.appname, dd.service). Other records are plain text: message.
   Items posted to the logs API (``intake=True``) take ddsource, ddtags, hostname, service, status and
   message as those fields and keep their message a string.
2. the pipeline's processors, top to bottom: grok-parser, attribute-remapper, category-processor, a nested
   pipeline (its filter query, then its processors),
   status-remapper (the first one that applies to a log sets its status), date-remapper (the last one that
   applies wins), message-remapper. Any other processor type raises: nothing is skipped silently.
3. a log without a status is ``info``; a log without a date has the intake time (``intake_time``).
"""

from __future__ import annotations

import datetime
import json
import re

from .grok import Grok, GrokError, get_path, pop_path, set_path

RESERVED_FROM_JSON = {
    "message": ("message", "msg", "log"),
    "status": ("status", "severity", "level", "syslog.severity"),
    "date": (
        "@timestamp",
        "timestamp",
        "_timestamp",
        "Timestamp",
        "eventTime",
        "date",
        "published",
        "syslog.timestamp",
    ),
    "host": ("host", "hostname", "syslog.hostname"),
    "service": ("service", "syslog.appname", "dd.service"),
}
SYSLOG = ("emergency", "alert", "critical", "error", "warn", "notice", "info", "debug")


def status_of(value) -> str:
    """Datadog's status remapper rules: syslog numbers, then the value's first letters, else info."""
    if isinstance(value, bool):
        return "info"
    if isinstance(value, (int, float)) or (isinstance(value, str) and value.strip().isdigit()):
        n = int(value)
        return SYSLOG[n] if 0 <= n <= 7 else "info"
    text = str(value).strip().lower()
    for prefixes, status in (
        (("emerg", "f"), "emergency"),
        (("a",), "alert"),
        (("c",), "critical"),
        (("err",), "error"),
        (("w",), "warn"),
        (("n",), "notice"),
        (("i",), "info"),
        (("d", "t", "v"), "debug"),
        (("o", "s"), "ok"),
    ):
        if text.startswith(prefixes):
            return status
    return "info"


def date_of(value) -> int | None:
    """Epoch milliseconds from a date remapper's source: epoch ms numbers and ISO 8601 (no offset: UTC)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        try:
            parsed = datetime.datetime.fromisoformat(text)
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=datetime.UTC)
        return int(parsed.timestamp() * 1000)
    return None


class Log:
    def __init__(self, text: str, intake: bool = False):
        self.fields = {"message": text}
        self.attributes = {}
        self.status_set = False
        if intake:
            item = json.loads(text)
            self.fields = {"message": item.pop("message", "")}
            for key, field in (("ddsource", "source"), ("ddtags", "tags"), ("hostname", "host")):
                if key in item:
                    self.fields[field] = item.pop(key)
            for key in ("service", "status"):
                if key in item:
                    self.fields[key] = item.pop(key)
            if "status" in self.fields:
                self.fields["status"] = status_of(self.fields["status"])
            self.attributes = item
            return
        stripped = text.strip()
        if stripped.startswith("{"):
            try:
                data = json.loads(stripped)
            except ValueError:
                data = None
            if isinstance(data, dict):
                self.attributes = data
                for field, sources in RESERVED_FROM_JSON.items():
                    for source in sources:
                        value = get_path(data, source)
                        if value is not None:
                            self.fields[field] = value
                            break
                if "status" in self.fields:
                    self.fields["status"] = status_of(self.fields["status"])
                if "date" in self.fields:
                    self.fields["date"] = date_of(self.fields["date"])
                # the JSON's message attribute is the log's message
                self.attributes.pop("message", None)

    def get(self, path: str):
        if path == "message":
            return self.fields.get("message")
        return get_path(self.attributes, path)


class Pipeline:
    """A pipeline file's processors, ready to run."""

    def __init__(self, definition: dict, today: datetime.date | None = None):
        self.definition = definition
        self.processors = self._build(definition["pipeline"]["processors"], today)

    def _build(self, processors: list, today) -> list:
        built = []
        for proc in processors:
            if not proc.get("enabled", True):
                continue
            kind = proc["type"]
            if kind == "grok-parser":
                grok = Grok(proc["grok"]["matchRules"], proc["grok"].get("supportRules", ""), today=today)
                built.append((kind, proc, grok))
            elif kind == "pipeline":
                built.append((kind, proc, self._build(proc["processors"], today)))
            elif kind in (
                "attribute-remapper",
                "category-processor",
                "status-remapper",
                "date-remapper",
                "message-remapper",
            ):
                built.append((kind, proc, None))
            else:
                raise GrokError(f"processor type {kind!r} is not implemented by this runner")
        return built

    def run(self, text: str, intake: bool = False, intake_time: int | None = None) -> dict:
        log = Log(text, intake=intake)
        self._run(log, self.processors)
        out = {
            "status": log.fields.get("status", "info"),
            "date": _iso(log.fields.get("date") if log.fields.get("date") is not None else intake_time),
            "message": log.fields.get("message", ""),
        }
        for field in ("host", "service", "source", "tags"):
            if field in log.fields:
                out[field] = log.fields[field]
        for key, value in log.attributes.items():
            out.setdefault(key, value)
        return out

    def _run(self, log: Log, processors: list) -> None:
        for kind, proc, extra in processors:
            getattr(self, "_" + kind.replace("-", "_"))(log, proc, extra)

    # processors -------------------------------------------------------------------------------------------

    def _pipeline(self, log: Log, proc: dict, processors: list) -> None:
        """A nested pipeline: its processors run on the logs its filter query matches."""
        if _query(log, proc["filter"]["query"]):
            self._run(log, processors)

    def _grok_parser(self, log: Log, proc: dict, grok: Grok) -> None:
        value = log.get(proc.get("source", "message"))
        if not isinstance(value, str):
            return
        parsed = grok.parse(value)
        if not parsed:
            return
        if "message" in parsed:
            log.fields["message"] = parsed.pop("message")
        _merge(log.attributes, parsed)

    def _attribute_remapper(self, log: Log, proc: dict, _grok) -> None:
        kinds = (_option(proc, "sourceType", "attribute"), _option(proc, "targetType", "attribute"))
        if kinds != ("attribute", "attribute"):
            raise GrokError("attribute-remapper: only attribute to attribute is implemented by this runner")
        target = proc["target"]
        for source in proc["sources"]:
            value = log.get(source)
            if value is None:
                continue
            if get_path(log.attributes, target) is not None and not _option(proc, "overrideOnConflict", False):
                return
            if not _option(proc, "preserveSource", False):
                pop_path(log.attributes, source)
            set_path(log.attributes, target, value)
            return

    def _category_processor(self, log: Log, proc: dict, _grok) -> None:
        for category in proc["categories"]:
            if _query(log, category["filter"]["query"]):
                set_path(log.attributes, proc["target"], category["name"])
                return

    def _status_remapper(self, log: Log, proc: dict, _grok) -> None:
        if log.status_set:
            return
        for source in proc["sources"]:
            value = log.get(source)
            if value is not None:
                log.fields["status"] = status_of(value)
                log.status_set = True
                return

    def _date_remapper(self, log: Log, proc: dict, _grok) -> None:
        for source in proc["sources"]:
            value = date_of(log.get(source))
            if value is not None:
                log.fields["date"] = value
                return

    def _message_remapper(self, log: Log, proc: dict, _grok) -> None:
        for source in proc["sources"]:
            value = log.get(source)
            if isinstance(value, str):
                log.fields["message"] = value
                return


def _option(proc: dict, name: str, default):
    """A processor option as exported (camelCase) or as the API names it (snake_case)."""
    snake = re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)
    return proc.get(name, proc.get(snake, default))


def _merge(into: dict, new: dict) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    when = datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


_TERM = re.compile(r"(-?)@([\w.]+):(\*|\[(\S+) TO (\S+)\]|\S+)")


def _query(log: Log, query: str) -> bool:
    """The search syntax a category uses here: space-separated terms, all must hold; ``@attr:*`` (exists),
    ``@attr:[a TO b]`` (numeric range), ``@attr:value``; a leading ``-`` negates a term."""
    terms = list(_TERM.finditer(query))
    if not terms or _TERM.sub("", query).strip():
        raise GrokError(f"query {query!r} is not implemented by this runner")
    for m in terms:
        negate, path, rhs, low, high = m.groups()
        value = log.get(path)
        if rhs == "*":
            ok = value is not None
        elif low is not None:
            ok = isinstance(value, (int, float)) and float(low) <= value <= float(high)
        else:
            ok = value is not None and str(value).lower() == rhs.lower()
        if ok == bool(negate):
            return False
    return True
