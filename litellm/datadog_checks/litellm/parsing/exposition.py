"""Strict reading of one line of the text formats LiteLLM writes: Prometheus 0.0.4 and OpenMetrics 1.0.

Pure functions of a line, no state. `families.py` groups the lines into families.

Strict means a line either reads exactly as prometheus_client reads a well-formed line, or raises `Malformed`
(then only that line is lost). prometheus_client accepts more: the base library's sample parser reads
`x="fo"o"` as `x="fo"`, takes the first of three values, reads Arabic-Indic digits. Lines in a syntax this
module does not read but the library may (Prometheus 3 quoted UTF-8 names, OpenMetrics exemplars) raise
`Exotic`: they are handed to the library's own parser, one line at a time.
"""

import re

# A line longer than this is not a series LiteLLM writes (its longest are about 1 KB): skipped, never parsed.
MAX_LINE_LENGTH = 64 * 1024

METRIC_NAME = re.compile(r'[a-zA-Z_:][a-zA-Z0-9_:]*')
# One `name="value"` pair and what follows it. Blanks around the tokens are allowed, as prometheus_client's text
# parser allows them. A value holds any character but an unescaped quote, a control character (a bad byte) or a
# lone surrogate (an invalid UTF-8 sequence, decoded with `surrogateescape`).
_LABEL = re.compile(
    r'[ \t]*([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*=[ \t]*'
    r'"((?:[^"\\\x00-\x08\x0a-\x1f\ud800-\udfff]|\\[^\x00-\x08\x0a-\x1f\ud800-\udfff])*)"[ \t]*(,|\Z)'
)
# The labels as LiteLLM writes them (no blanks, no escapes): checked whole and split in two regex calls; anything
# else is read pair by pair with `_LABEL`, which also says what is wrong.
_PLAIN_PAIR = r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"\\\x00-\x08\x0a-\x1f\ud800-\udfff]*)"'
_PLAIN_PAIRS = re.compile(_PLAIN_PAIR)
_PLAIN_BLOCK = re.compile('(?:{0})(?:,(?:{0}))*,?'.format(_PLAIN_PAIR.replace('(', '(?:')))
# The characters of a bucket bound written as a number (`0.005`, `1e+03`, `+Inf`).
_NUMBER = '0123456789.eE+-Inf'
_ESCAPE = re.compile(r'\\[\\n"]')
_UNESCAPED = {'\\\\': '\\', '\\n': '\n', '\\"': '"'}
_BLANKS = ' \t'
# How prometheus_client splits a comment line: on whitespace in text format, on spaces in OpenMetrics.
_TEXT_COMMENT_SPLIT = re.compile(r'[ \t\n\r\x0b\x0c]+')
_OM_COMMENT_SPLIT = re.compile(r' +')


class Malformed(ValueError):
    """A line that is not valid exposition text: skipped and counted."""


class Exotic(ValueError):
    """Valid-looking syntax this module does not read (quoted names, exemplars): the library's parser reads it."""


def unescape(value):
    return _ESCAPE.sub(lambda m: _UNESCAPED[m.group(0)], value) if '\\' in value else value


def parse_labels(block):
    """The labels of `{...}` (the text between the braces) as a dict, in their order; raises Malformed."""
    if _PLAIN_BLOCK.fullmatch(block) is not None:
        pairs = _PLAIN_PAIRS.findall(block)
        labels = dict(pairs)
        if len(labels) == len(pairs):
            return labels
    labels = {}
    position, end = 0, len(block)
    if not block.strip(_BLANKS):
        return labels
    while position < end:
        if position and not block[position:].strip(_BLANKS):
            break  # a trailing comma
        match = _LABEL.match(block, position)
        if match is None:
            rest = block[position:].lstrip(_BLANKS + ',')
            if rest[:1] == '"':
                raise Exotic('quoted label name')
            raise Malformed(_label_problem(block, position))
        name, value, separator = match.groups()
        if name in labels:
            raise Malformed(f'label {name} given twice')
        labels[name] = unescape(value)
        position = match.end()
        if not separator:
            break
    return labels


def _label_problem(block, position):
    text = block[position:]
    if text.count('"') % 2:
        return 'unbalanced quotes in the labels'
    if re.search(r'[\x00-\x08\x0a-\x1f\ud800-\udfff]', text):
        return 'a bad byte or invalid UTF-8 in the labels'
    return 'unreadable labels (an unescaped quote, or a missing comma or =)'


def parse_series(key, last=(None, None)):
    """(sample name, labels, text) of the text before a sample's value; raises Malformed or Exotic. `text` is its
    labels text less the bound (`series_text`), or None; `last` is (text, labels but `le`) of a series read before:
    a line with the same text (the next bucket, count or sum of a histogram series) has the same labels."""
    brace = key.find('{')
    if brace < 0:
        if METRIC_NAME.fullmatch(key) is None:
            raise Malformed('invalid metric name')
        return key, {}, ''
    if brace == 0:
        raise Exotic('quoted metric name')
    name = key[:brace].rstrip(_BLANKS)
    if METRIC_NAME.fullmatch(name) is None:
        raise Malformed('invalid metric name')
    if key[-1] != '}':
        raise Malformed('text after the labels')
    block = key[brace + 1 : -1]
    text, bound = series_text(block)
    if text is not None and text == last[0]:
        labels = dict(last[1])
        if bound is not None:
            labels['le'] = bound
        return name, labels, text
    return name, parse_labels(block), text


# `_LABEL` ends a pair at `,` or at the end of the text between the braces; in a whole line the last pair is
# followed by `}`.
_LABEL_IN_LINE = re.compile(_LABEL.pattern.replace(r'(,|\Z)', r'(,|(?=\}))'))


def lenient_head(line):
    """(sample name or None, labels read before the first problem) of a malformed sample line: what can be
    known of the series it belonged to. A label counts only when a comma or the closing brace follows it."""
    brace = line.find('{')
    if brace >= 0:
        head = line[:brace]
    else:
        tokens = line.split(None, 1)
        head = tokens[0] if tokens else ''
    name = head.rstrip(_BLANKS)
    if METRIC_NAME.fullmatch(name) is None:
        name = None
    labels = {}
    if brace >= 0:
        position = brace + 1
        while True:
            match = _LABEL_IN_LINE.match(line, position)
            if match is None:
                break
            label, value, separator = match.groups()
            labels.setdefault(label, unescape(value))
            position = match.end()
            if separator != ',':
                break
    return name, labels


def number(token):
    """A value or timestamp as prometheus_client reads it (an int when written as one, else a float), for the
    spellings of the format: ASCII, no `_`, no blanks (`1`, `-2.5e-05`, `+Inf`, `NaN`); raises Malformed."""
    if not token or not token.isascii() or '_' in token:
        raise Malformed('missing or non-numeric value')
    try:
        if '.' in token or 'e' in token or 'E' in token:
            return float(token)
        try:
            return int(token)
        except ValueError:
            return float(token)
    except ValueError:
        raise Malformed('missing or non-numeric value') from None


def parse_value(rest):
    """The value of the text after a sample's series (` 1.5` or ` 1.5 1700000000000`); raises Malformed."""
    tokens = rest.split()
    if not tokens or len(tokens) > 2:
        raise Malformed('missing value' if not tokens else 'more than a value and a timestamp')
    value = number(tokens[0])
    if len(tokens) == 2:
        number(tokens[1])  # a timestamp: checked, not used (the base library does not submit it either)
    return value


def series_text(block):
    """(the labels text less its `le` pair, the bound) of the text between a series' braces: the same text for the
    buckets, count and sum of one histogram series. (None, None) when `le` is written another way."""
    bound = None
    first = block.startswith('le="')
    start = 0 if first else block.find(',le="') + 1
    if start or first:
        head = block[:start]
        if start and (start < 2 or block[start - 2] != '"' or '\\' in head or head.count('"') % 2):
            return None, None  # the `,le="` found does not follow a pair (it is inside a value, or after a comma)
        end = block.find('"', start + 4)
        bound = block[start + 4 : end]
        if end < 0 or not bound or bound.strip(_NUMBER) or block[end + 1 : end + 2] not in ('', ','):
            return None, None
        block = block[end + 2 :] if not start else block[: start - 1] + block[end + 1 :]
    if block.startswith('le="') or ',le="' in block:
        return None, None
    return block, bound


def split_sample(line):
    """(series key, text after it) of a sample line. The key ends at the last `}`: a label value may hold one,
    the value and timestamp may not."""
    close = line.rfind('}')
    if close >= 0:
        return line[: close + 1], line[close + 1 :]
    for index, char in enumerate(line):
        if char in _BLANKS:
            return line[:index], line[index:]
    return line, ''


def split_comment(line, openmetrics):
    """A comment line's tokens as prometheus_client splits it: at most 4, the last one the rest of the line."""
    splitter = _OM_COMMENT_SPLIT if openmetrics else _TEXT_COMMENT_SPLIT
    return splitter.split(line, maxsplit=3)


def comment_name(token):
    """The metric name of a HELP/TYPE/UNIT line; raises Exotic for a quoted (UTF-8) name, Malformed if invalid."""
    if token[:1] == '"':
        raise Exotic('quoted metric name')
    if METRIC_NAME.fullmatch(token) is None:
        raise Malformed('invalid metric name in a HELP or TYPE line')
    return token
