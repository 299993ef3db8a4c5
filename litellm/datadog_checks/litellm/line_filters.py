"""Lines the check never submits, dropped before they are parsed (the default of the base's `raw_line_filters`).

Parsing is about half of a scrape's CPU (README, Performance), and a line dropped here is never parsed, tagged
or looked up. Each pattern matches a whole family (its `# HELP`, `# TYPE` and sample lines alike, anchored at
the start of the line, so a label value never matches), and never a family of the rename table.
"""

from .metrics import METRIC_MAP

_COMMENT = r'(?:# (?:HELP|TYPE) )?'
_SUFFIXES = r'(?:_total|_bucket|_count|_sum)?'


def _unless_mapped(predicate):
    """A lookahead refusing the lines of any mapped family `predicate` picks, whatever its sample suffix."""
    names = sorted(name for name in METRIC_MAP if predicate(name))
    return f'(?!(?:{"|".join(names)}){_SUFFIXES}[ {{])' if names else ''


# prometheus_client's creation time of every counter and histogram series: a gauge family `<family>_created` of
# its own in text format, a sample of the family in OpenMetrics. One line per series, never mapped. The check's
# reader reads them (they tell which process answered: parsing/processes.py); the base library's parser
# (`fast_parser: false`) would take the OpenMetrics ones for counter values, so it never sees them. (Counters named
# `..._created` export `..._created_total`: not matched.)
CREATED = rf'\A{_COMMENT}{_unless_mapped(lambda n: n.endswith("_created"))}[A-Za-z_:][A-Za-z0-9_:]*_created[ {{]'

# prometheus_client's default collectors: the proxy's own Python and process, except the mapped start time.
RUNTIME = rf'\A{_COMMENT}{_unless_mapped(lambda n: n.startswith(("python_", "process_")))}(?:python|process)_'

RAW_LINE_FILTERS = (RUNTIME,)
BASE_PARSER_LINE_FILTERS = (CREATED, RUNTIME)
