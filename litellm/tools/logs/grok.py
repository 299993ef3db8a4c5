"""The part of Datadog's grok dialect the LiteLLM pipeline uses, on Python's ``re``.

Semantics follow Datadog's parsing documentation and VRL's implementation of the dialect (read, not copied):
a match rule is anchored at both ends and ``.`` matches newlines; rules are tried top to bottom and the first
that matches wins; ``%{matcher:path:filter}`` extracts into a dotted path (nested objects); helper rules are
aliases expanded in place; ``integer``/``number`` convert their value; ``date("fmt"[, "tz"])`` gives epoch
milliseconds, a format without a day taking today's date (in the given timezone, UTC by default).

Matchers: data, greedyData, notSpace, word, integer, number, integerStr, numberStr, ip, ipv4, ipv6, ipOrHost,
hostname, port, uuid, quotedString, doubleQuotedString, space, regex("..."), date("..."[, "tz"]).
Filters: integer, number, json, lowercase, uppercase, nullIf("value").
Anything else raises GrokError: the runner never silently ignores part of the pipeline.
"""

from __future__ import annotations

import datetime
import json
import re
import zoneinfo

_IPV4 = r"(?<![0-9])(?:(?:25[0-5]|2[0-4][0-9]|[0-1]?[0-9]{1,2})\.){3}(?:25[0-5]|2[0-4][0-9]|[0-1]?[0-9]{1,2})(?![0-9])"
_IPV6 = r"(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}"
_HOSTNAME = r"\b(?:[0-9A-Za-z][0-9A-Za-z_-]{0,62})(?:\.(?:[0-9A-Za-z][0-9A-Za-z_-]{0,62}))*(?:\.?|\b)"

# matcher -> (regex, implicit filter)
MATCHERS = {
    "data": (r".*", None),
    "greedyData": (r".*", None),
    "notSpace": (r"\S+", None),
    "word": (r"\b\w+\b", None),
    "space": (r"\s+", None),
    "integerStr": (r"[+-]?\d+", None),
    "integer": (r"[+-]?\d+", "integer"),
    "numberStr": (r"[+-]?(?>\d+(?:\.(?:\d*)?)?|\.\d+)", None),
    "number": (r"[+-]?(?>\d+(?:\.(?:\d*)?)?|\.\d+)", "number"),
    "ipv4": (_IPV4, None),
    "ipv6": (_IPV6, None),
    "ip": (f"(?:{_IPV6}|{_IPV4})", None),
    "hostname": (_HOSTNAME, None),
    "ipOrHost": (f"(?:{_IPV6}|{_IPV4}|{_HOSTNAME})", None),
    "port": (r"[1-9]\d{0,4}", None),
    "uuid": (r"[A-Fa-f0-9]{8}-(?:[A-Fa-f0-9]{4}-){3}[A-Fa-f0-9]{12}", None),
    "doubleQuotedString": (r'"[^"]*"', None),
    "quotedString": (r"""(?>"[^"]*"|'[^']*')""", None),
}

# %{...} with quoted arguments that may hold '}' (as the dialect allows)
_PATTERN = re.compile(r'%\{((?:[^"}]|"(?:\\.|[^"\\])*")+)\}')
_CALL = re.compile(r'^(\w+)(?:\((.*)\))?$', re.S)


class GrokError(ValueError):
    pass


def _split_pattern(body: str) -> tuple:
    """'matcher(args):path:filter(args)' -> (matcher, args, path, filter, filter args), colons in quotes kept."""
    parts, buf, quoted, depth = [], "", False, 0
    for i, ch in enumerate(body):
        if ch == '"' and (i == 0 or body[i - 1] != "\\"):
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        if ch == ":" and not quoted and depth == 0:
            parts.append(buf)
            buf = ""
        else:
            buf += ch
    parts.append(buf)
    if len(parts) > 3:
        raise GrokError(f"bad grok pattern %{{{body}}}")
    parts += [""] * (3 - len(parts))
    matcher, margs = _call(parts[0])
    filt, fargs = _call(parts[2]) if parts[2] else (None, [])
    return matcher, margs, parts[1], filt, fargs


def _call(text: str) -> tuple:
    m = _CALL.match(text.strip())
    if not m:
        raise GrokError(f"bad grok call {text!r}")
    args = []
    if m.group(2):
        args = [_unescape(a[1:-1]) for a in re.findall(r'"(?:\\.|[^"\\])*"', m.group(2))]
    return m.group(1), args


def _unescape(text: str) -> str:
    """A quoted argument's escapes as the dialect reads them: a backslash before a backslash, a quote or an
    apostrophe stands for that character, two backslashes before n, r or t for a newline, return or tab;
    any other escape is an error (so a regex's ``\\d`` is written ``\\\\d``)."""
    out, i = "", 0
    while i < len(text):
        if text[i] != "\\":
            out, i = out + text[i], i + 1
        elif text[i : i + 3] in ("\\\\n", "\\\\r", "\\\\t"):
            out, i = out + {"n": "\n", "r": "\r", "t": "\t"}[text[i + 2]], i + 3
        elif i + 1 < len(text) and text[i + 1] in "\\\"'":
            out, i = out + text[i + 1], i + 2
        else:
            raise GrokError(f"invalid escape in {text!r}")
    return out


def _date_regex(fmt: str) -> tuple:
    """Joda-style format -> (regex, strptime format, has a day)."""
    regex, strp, i = "", "", 0
    tokens = {"HH": (r"\d{2}", "%H"), "mm": (r"\d{2}", "%M"), "ss": (r"\d{2}", "%S"), "yyyy": (r"\d{4}", "%Y")}
    tokens.update({"MM": (r"\d{2}", "%m"), "dd": (r"\d{2}", "%d")})
    while i < len(fmt):
        if fmt[i] == "S":
            j = i
            while j < len(fmt) and fmt[j] == "S":
                j += 1
            regex, strp, i = regex + rf"\d{{{j - i}}}", strp + "%f", j
            continue
        for tok, (rx, st) in tokens.items():
            if fmt.startswith(tok, i):
                regex, strp, i = regex + rx, strp + st, i + len(tok)
                break
        else:
            if fmt[i].isalpha():
                raise GrokError(f"date format {fmt!r}: token at {fmt[i:]!r} not implemented")
            regex, strp, i = regex + re.escape(fmt[i]), strp + fmt[i], i + 1
    return regex, strp, "%d" in strp


class Grok:
    """One grok parser: match rules and helper rules as written in a pipeline's grok-parser processor."""

    def __init__(self, match_rules: str, support_rules: str = "", today: datetime.date | None = None):
        self.today = today
        self.aliases = {}
        for line in (support_rules or "").splitlines():
            if line.strip():
                name, _, rule = line.strip().partition(" ")
                self.aliases[name] = rule.strip()
        self.rules = []
        for line in match_rules.splitlines():
            if line.strip():
                name, _, rule = line.strip().partition(" ")
                fields = []
                regex = self._expand(rule.strip(), fields, [])
                self.rules.append((name, re.compile(r"\A" + regex + r"\Z", re.S), fields))

    def _expand(self, rule: str, fields: list, stack: list) -> str:
        out, pos = "", 0
        for m in _PATTERN.finditer(rule):
            out += rule[pos : m.start()]
            pos = m.end()
            matcher, margs, path, filt, fargs = _split_pattern(m.group(1))
            group = None
            if path or filt:
                group = f"g{len(fields)}"
                fields.append([group, path, [], filt, fargs])
            inner = self._matcher(matcher, margs, fields, stack, group)
            out += f"(?P<{group}>{inner})" if group else f"(?:{inner})"
        return out + rule[pos:]

    def _matcher(self, matcher, margs, fields, stack, group) -> str:
        if matcher in self.aliases:
            if matcher in stack:
                raise GrokError(f"circular helper rule {matcher}")
            return self._expand(self.aliases[matcher], fields, stack + [matcher])
        if matcher == "regex":
            return margs[0]
        if matcher == "date":
            regex, strp, has_day = _date_regex(margs[0])
            if group:
                self._implicit(fields, group, ("date", strp, has_day, margs[1] if len(margs) > 1 else "UTC"))
            return regex
        if matcher not in MATCHERS:
            raise GrokError(f"matcher {matcher!r} not implemented by this runner")
        regex, implicit = MATCHERS[matcher]
        if group and implicit:
            self._implicit(fields, group, implicit)
        return regex

    @staticmethod
    def _implicit(fields, group, conversion):
        for f in fields:
            if f[0] == group:
                f[2].append(conversion)

    def parse(self, text: str) -> dict | None:
        """Attributes extracted by the first matching rule (nested by path), or None when no rule matches."""
        for _name, regex, fields in self.rules:
            m = regex.match(text)
            if not m:
                continue
            out = {}
            for group, path, conversions, filt, fargs in fields:
                value = m.group(group)
                if value is None:
                    continue
                for conv in conversions:
                    value = self._convert(conv, value)
                if filt:
                    value = self._filter(filt, fargs, value)
                if value is None:
                    continue
                if path:
                    set_path(out, path, value)
                elif isinstance(value, dict):
                    out.update(value)
            return out
        return None

    def _convert(self, conv, value):
        if conv == "integer":
            return int(value)
        if conv == "number":
            return float(value) if "." in value else int(value)
        _, strp, has_day, tz = conv
        zone = datetime.UTC if tz in ("UTC", "GMT", "Z") else zoneinfo.ZoneInfo(tz)
        if not has_day:
            # the dialect fills a missing date with today's
            today = self.today or datetime.datetime.now(zone).date()
            strp, value = "%Y-%m-%d " + strp, today.isoformat() + " " + value
        parsed = datetime.datetime.strptime(value, strp).replace(tzinfo=zone)
        return int(parsed.timestamp() * 1000)

    @staticmethod
    def _filter(name, args, value):
        if name == "integer":
            return int(value)
        if name == "number":
            return float(value)
        if name == "json":
            try:
                return json.loads(value)
            except ValueError:
                return None
        if name == "lowercase":
            return value.lower()
        if name == "uppercase":
            return value.upper()
        if name == "nullIf":
            return None if value == args[0] else value
        raise GrokError(f"filter {name!r} not implemented by this runner")


def set_path(obj: dict, path: str, value) -> None:
    """Set a dotted attribute path, creating the nested objects (Datadog nests attributes by dots)."""
    parts = path.split(".")
    for part in parts[:-1]:
        nxt = obj.get(part)
        if not isinstance(nxt, dict):
            nxt = obj[part] = {}
        obj = nxt
    obj[parts[-1]] = value


def get_path(obj: dict, path: str):
    for part in path.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def pop_path(obj: dict, path: str):
    parts = path.split(".")
    for part in parts[:-1]:
        obj = obj.get(part) if isinstance(obj, dict) else None
        if not isinstance(obj, dict):
            return None
    return obj.pop(parts[-1], None) if isinstance(obj, dict) else None
