"""Grows a real capture into the payload of a busy proxy: every caller-labelled series repeated for N callers
(`grow`), or a capture of many callers copied to more of them (`grow_keys`).

A LiteLLM proxy with many keys and teams exports each per-caller family once per caller. To reproduce that
from a capture of a few requests, each series carrying caller labels becomes a template: its caller labels
are replaced by caller i's values, for i in 0..N-1. Series that differ only by caller labels are one
template (a caller is one identity: one key, team, user, IP and user agent). Everything else (HELP/TYPE
lines, series without caller labels) is kept once, in place, so the result is valid exposition text.

`grow_keys` keeps a capture's own mix instead (each key its models, end users, statuses): the series of each key
are copied with fresh key hashes, aliases, users, end users, teams and orgs (they grow with the keys on a real
proxy: one team per ten keys in the callers profile) until the payload has N keys. The committed 1,000-key
capture of the harness's callers profile grown to 3,000 keys is the size of a real 3,000-key scrape (root README,
the harness paragraph).

Pure functions of the input text; imported by the tests and by `scripts/bench.py`.
"""

import hashlib
import math
import re
import uuid

# Labels that identify who made the request. A busy proxy has one series per caller for each of them.
CALLER_LABELS = frozenset(
    {
        'hashed_api_key',
        'api_key_alias',
        'team',
        'team_alias',
        'user',
        'user_email',
        'end_user',
        'org_id',
        'org_alias',
        'client_ip',
        'user_agent',
    }
)

_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')
_USER_AGENTS = ('OpenAI/Python 1.99.0', 'AsyncOpenAI/Python 1.99.0', 'litellm/1.110.2', 'curl/8.5.0')
_KEYS_PER_TEAM = 4
_TEAMS_PER_ORG = 5


def _uuid(seed):
    return str(uuid.UUID(bytes=hashlib.sha256(seed.encode()).digest()[:16]))


def caller(i):
    """Caller i's label values: a virtual key (sha256 hex, as LiteLLM hashes keys), its team and org, a user,
    and one of several client IPs and user agents."""
    team, org = i // _KEYS_PER_TEAM, i // (_KEYS_PER_TEAM * _TEAMS_PER_ORG)
    return {
        'hashed_api_key': hashlib.sha256(f'sk-bench-{i}'.encode()).hexdigest(),
        'api_key_alias': f'svc-{i:04d}',
        'team': _uuid(f'team-{team}'),
        'team_alias': f'team-{team:03d}',
        'user': f'user-{i:04d}',
        'user_email': f'user-{i:04d}@example.com',
        'end_user': 'None',
        'org_id': _uuid(f'org-{org}'),
        'org_alias': f'org-{org:02d}',
        'client_ip': f'10.0.{i % 7}.{10 + i % 23}',
        'user_agent': _USER_AGENTS[i % len(_USER_AGENTS)],
    }


def _split(line):
    """(name, [(label, raw value)], rest) of a sample line, or None when it has no labels."""
    brace = line.find('{')
    if brace < 0:
        return None
    close = line.rindex('}')
    return line[:brace], _LABEL.findall(line[brace + 1 : close]), line[close + 1 :]


def _render(name, labels, rest):
    return name + '{' + ','.join(f'{k}="{v}"' for k, v in labels) + '}' + rest


def _grow_block(lines, callers):
    """The sample lines of one family: lines without caller labels as they are, then each template once
    per caller (all lines of a histogram series together: buckets, count, sum)."""
    out, templates, owner = [], {}, {}
    for line in lines:
        parts = _split(line)
        if parts is None or not CALLER_LABELS.intersection(k for k, _ in parts[1]):
            out.append(line)
            continue
        name, labels, rest = parts
        key = tuple((k, v) for k, v in labels if k not in CALLER_LABELS and k != 'le')
        series = tuple((k, v) for k, v in labels if k != 'le')
        # Only the first original series of a template is kept: the others differ by caller labels alone.
        if owner.setdefault(key, series) == series:
            templates.setdefault(key, []).append(parts)
    for i in range(callers):
        values = caller(i)
        for parts in templates.values():
            for name, labels, rest in parts:
                out.append(_render(name, [(k, values.get(k, v)) for k, v in labels], rest))
    return out


def _by_family(text, grow_block):
    """`text` with the sample lines of each family (between comment lines) replaced by `grow_block(lines)`."""
    out, block = [], []
    for line in text.splitlines():
        if line.startswith('#') or not line.strip():
            if block:
                out.extend(grow_block(block))
                block = []
            out.append(line)
        else:
            block.append(line)
    out.extend(grow_block(block))
    return '\n'.join(out) + '\n'


def grow(text, callers):
    """`text` (Prometheus text exposition) with every caller-labelled series repeated for `callers` callers."""
    return _by_family(text, lambda block: _grow_block(block, callers))


# What a copy of a key gets fresh values for: everything that names who called.
COPIED_LABELS = frozenset(
    {'hashed_api_key', 'api_key_alias', 'user', 'user_email', 'end_user', 'team', 'team_alias', 'org_id', 'org_alias'}
)
_KEY_HASH = re.compile(r'hashed_api_key="([0-9a-f]{64})"')


def _fresh(label, value, copy):
    if value in ('', 'None'):
        return value
    if label == 'hashed_api_key':
        return hashlib.sha256(f'{value}/{copy}'.encode()).hexdigest()
    return f'{value}~{copy}'


def grow_keys(text, keys):
    """`text` (a scrape with per-key series) with its keys copied until it has `keys` distinct key hashes: copy c
    of the key seen i-th (i < have, the keys in `text`) is made when c * have + i < keys, and holds each series of
    that key with fresh values of COPIED_LABELS. Series of no key (named keys such as the master key's alias
    included) are kept once; series of users, end users or teams without a key (their budget gauges) are copied
    for every copy. Values are copied as they are. Copies follow the originals in each family, series by series."""
    order = {}
    for match in _KEY_HASH.finditer(text):
        order.setdefault(match.group(1), len(order))
    have = max(1, len(order))
    copies = max(1, math.ceil(keys / have))

    def grow_block(lines):
        copied = [[] for _ in range(copies - 1)]
        for line in lines:
            parts = _split(line)
            if parts is None:
                continue
            name, labels, rest = parts
            values = dict(labels)
            if 'hashed_api_key' in values:
                index = order.get(values['hashed_api_key'])
                if index is None:
                    continue
                wanted = [c for c in range(1, copies) if c * have + index < keys]
            elif COPIED_LABELS.intersection(values):
                wanted = range(1, copies)
            else:
                continue
            for c in wanted:
                fresh = [(k, _fresh(k, v, c) if k in COPIED_LABELS else v) for k, v in labels]
                if fresh != labels:
                    copied[c - 1].append(_render(name, fresh, rest))
        return lines + [line for copy in copied for line in copy]

    return _by_family(text, grow_block)
