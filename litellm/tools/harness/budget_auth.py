"""Custom auth of the harness's ``budgets`` and ``callers`` profiles: test keys mapped to keys, teams, users, orgs
and end users.

LiteLLM keeps virtual keys, teams and budgets in its database, which a proxy here cannot run. But it fills the
budget and rate-limit families per request from the request's auth object, and ``general_settings.custom_auth``
builds that object without a database. This module is loaded by the PROXY (``budget_auth.user_api_key_auth``,
copied next to config.yaml); the harness imports it too, for ``CALLERS``, so it imports LiteLLM only inside
functions.

The test keys are random per run and reach the proxy in ``HARNESS_BUDGET_KEYS`` ({caller: key}); the master
key is answered as LiteLLM answers it (the ``litellm_proxy_master_key`` alias, an admin).

The ``callers`` profile (``callers_user_api_key_auth``) has thousands of generated callers instead: caller i's key
is derived from a per-run seed (``HARNESS_CALLERS``: {"seed": ..., "count": N}), its key alias, team, user, org
and budgets from i (``caller_spec``), and its end users, sent as the request's ``user``, from i too.
"""

import hashlib
import json
import os
from datetime import UTC, datetime, timedelta

KEYS_ENV = 'HARNESS_BUDGET_KEYS'
CALLERS_ENV = 'HARNESS_CALLERS'
MASTER_ALIAS = 'litellm_proxy_master_key'

# One entry per test key. Budgets are US dollars; `*_reset_hours` is when the budget resets, from the request's
# time (negative: a reset that is overdue, as between two runs of LiteLLM's reset job). Per-model limits are the
# key's metadata (`model_rpm_limit`, `model_tpm_limit`), as LiteLLM stores them.
CALLERS = {
    # Room left everywhere, reset times on key, team and user, limits the traffic stays under.
    'room': {
        'key_alias': 'budget-room',
        'spend': 2.5,
        'max_budget': 10.0,
        'key_reset_hours': 720.0,
        'rpm_limit': 1000,
        'tpm_limit': 1000000,
        'model_rpm_limit': {'gpt-ok': 100},
        'model_tpm_limit': {'gpt-ok': 100000},
        'team_id': 'team-room',
        'team_alias': 'Room',
        'team_spend': 40.0,
        'team_max_budget': 100.0,
        'team_reset_hours': 168.0,
        'team_rpm_limit': 2000,
        'team_tpm_limit': 2000000,
        'user_id': 'user-room',
        'user_spend': 5.0,
        'user_max_budget': 20.0,
        'user_reset_hours': 24.0,
        'org_id': 'org-room',
        'org_alias': 'Room Org',
        'org_spend': 120.0,
        'org_max_budget': 500.0,
        'end_user': 'customer-room',
        'end_user_spend': 1.0,
        'end_user_max_budget': 5.0,
    },
    # Every budget already spent past its maximum.
    'exhausted': {
        'key_alias': 'budget-exhausted',
        'spend': 1.5,
        'max_budget': 1.0,
        'team_id': 'team-exhausted',
        'team_alias': 'Exhausted',
        'team_spend': 55.0,
        'team_max_budget': 50.0,
        'user_id': 'user-exhausted',
        'user_spend': 2.5,
        'user_max_budget': 2.0,
        'org_id': 'org-exhausted',
        'org_alias': 'Exhausted Org',
        'org_spend': 12.0,
        'org_max_budget': 10.0,
        'end_user': 'customer-exhausted',
        'end_user_spend': 1.2,
        'end_user_max_budget': 1.0,
    },
    # No budget and no limit anywhere.
    'unlimited': {
        'key_alias': 'budget-unlimited',
        'spend': 3.0,
        'team_id': 'team-unlimited',
        'team_alias': 'Unlimited',
        'team_spend': 7.0,
        'user_id': 'user-unlimited',
        'user_spend': 1.0,
        'end_user': 'customer-unlimited',
        'end_user_spend': 0.5,
    },
    # Rate limits the traffic exceeds (key rpm, team rpm), and a key budget whose reset is overdue.
    'limited': {
        'key_alias': 'rate-limited',
        'spend': 4.0,
        'max_budget': 25.0,
        'key_reset_hours': -2.0,
        'rpm_limit': 3,
        'tpm_limit': 50000,
        'team_id': 'team-limited',
        'team_alias': 'Limited',
        'team_spend': 10.0,
        'team_max_budget': 30.0,
        'team_rpm_limit': 4,
        'team_tpm_limit': 80000,
        'user_id': 'user-limited',
        'org_id': 'org-room',
        'org_alias': 'Room Org',
        'org_spend': 120.0,
        'org_max_budget': 500.0,
    },
}


def _keys():
    return json.loads(os.environ.get(KEYS_ENV) or '{}')


def _at(hours):
    return None if hours is None else datetime.now(UTC) + timedelta(hours=hours)


def _fields(model):
    return getattr(model, 'model_fields', None) or getattr(model, '__fields__', {})


def _auth_object(spec, key):
    """UserAPIKeyAuth for one caller, with only the fields this LiteLLM release knows."""
    from litellm.proxy._types import UserAPIKeyAuth

    values = {
        'api_key': key,
        'key_alias': spec.get('key_alias'),
        'spend': spec.get('spend', 0.0),
        'max_budget': spec.get('max_budget'),
        'budget_reset_at': _at(spec.get('key_reset_hours')),
        'rpm_limit': spec.get('rpm_limit'),
        'tpm_limit': spec.get('tpm_limit'),
        'metadata': {k: spec[k] for k in ('model_rpm_limit', 'model_tpm_limit') if k in spec},
        'team_id': spec.get('team_id'),
        'team_alias': spec.get('team_alias'),
        'team_spend': spec.get('team_spend'),
        'team_max_budget': spec.get('team_max_budget'),
        'team_rpm_limit': spec.get('team_rpm_limit'),
        'team_tpm_limit': spec.get('team_tpm_limit'),
        'user_id': spec.get('user_id'),
        'user_spend': spec.get('user_spend'),
        'user_max_budget': spec.get('user_max_budget'),
        'org_id': spec.get('org_id'),
        'organization_alias': spec.get('org_alias'),
        'organization_max_budget': spec.get('org_max_budget'),
        'end_user_id': spec.get('end_user'),
        'end_user_max_budget': spec.get('end_user_max_budget'),
    }
    # LiteLLM hashes an `sk-` api_key itself, as it labels keys
    known = _fields(UserAPIKeyAuth)
    auth = UserAPIKeyAuth(**{k: v for k, v in values.items() if k in known and v is not None})
    _carry_snapshots(auth, spec, known)
    return auth


def _carry_snapshots(auth, spec, known):
    """Releases that carry reset times and org figures on the auth object (1.110+): what their DB path would pin."""
    try:
        from litellm.types.proxy.carried_budget_state import OrgBudgetSnapshot, TeamBudgetSnapshot, UserBudgetSnapshot
    except ImportError:
        return
    if 'team_budget_snapshot' in known and spec.get('team_id'):
        auth.team_budget_snapshot = TeamBudgetSnapshot(
            budget_reset_at=_at(spec.get('team_reset_hours')), max_budget=spec.get('team_max_budget')
        )
    if 'user_budget_snapshot' in known and spec.get('user_id'):
        auth.user_budget_snapshot = UserBudgetSnapshot(
            budget_reset_at=_at(spec.get('user_reset_hours')), max_budget=spec.get('user_max_budget'), user_alias=None
        )
    if 'org_budget_snapshot' in known and spec.get('org_id'):
        auth.org_budget_snapshot = OrgBudgetSnapshot(
            spend=spec.get('org_spend', 0.0), max_budget=spec.get('org_max_budget')
        )


async def _remember_end_user(spec):
    """Customer gauges read the end user from LiteLLM's auth cache, where its DB path would have put the row."""
    if not spec.get('end_user'):
        return
    try:
        from litellm.proxy._types import LiteLLM_BudgetTable, LiteLLM_EndUserTable
        from litellm.proxy.proxy_server import user_api_key_cache
    except ImportError:
        return
    try:
        from litellm.proxy.common_utils.user_api_key_cache import end_user_cache_key

        key = end_user_cache_key(spec['end_user'])
    except ImportError:
        key = spec['end_user']
    budget = LiteLLM_BudgetTable(max_budget=spec['end_user_max_budget']) if 'end_user_max_budget' in spec else None
    row = LiteLLM_EndUserTable(
        user_id=spec['end_user'], blocked=False, spend=spec.get('end_user_spend', 0.0), litellm_budget_table=budget
    )
    try:
        await user_api_key_cache.async_set_cache(key=key, value=row, model_type=LiteLLM_EndUserTable)
    except TypeError:  # releases without typed cache reads
        await user_api_key_cache.async_set_cache(key=key, value=row)


def _public(request):
    from litellm.proxy._types import LiteLLMRoutes

    return request.url.path in LiteLLMRoutes.public_routes.value


async def _authenticate(request, api_key, find):
    """The master key is the admin, a key `find` knows its caller (auth object, end-user rows), else a 401."""
    from litellm.proxy._types import LitellmUserRoles, UserAPIKeyAuth
    from litellm.proxy.proxy_server import master_key

    token = (api_key or '').strip()
    if token[:7].lower() == 'bearer ':
        token = token[7:].strip()
    if master_key and token == master_key:
        return UserAPIKeyAuth(api_key=MASTER_ALIAS, user_role=LitellmUserRoles.PROXY_ADMIN, user_id='default_user_id')
    if not token and _public(request):
        # before 1.100 custom auth also guards LiteLLM's public routes (readiness): answer them as LiteLLM does
        return UserAPIKeyAuth(user_role=LitellmUserRoles.INTERNAL_USER_VIEW_ONLY)
    found = find(token) if token else None
    if found is not None:
        spec, end_users = found
        for end_user in end_users:
            await _remember_end_user(end_user)
        return _auth_object(spec, token)
    # a 401 like LiteLLM's own refusal of an unknown key (any other exception becomes a 500)
    from litellm.proxy._types import ProxyException

    raise ProxyException(
        message='invalid key for the harness custom auth', type='auth_error', param='api_key', code=401
    )


def _budget_caller(token):
    for name, key in _keys().items():
        if token == key and name in CALLERS:
            return CALLERS[name], [CALLERS[name]]
    return None


async def user_api_key_auth(request, api_key):
    """LiteLLM's custom auth hook of the ``budgets`` profile: the test keys of CALLERS."""
    return await _authenticate(request, api_key, _budget_caller)


# ---------------------------------------------------------------- the ``callers`` profile

# Callers per team, user and org, and end users per caller: hundreds of teams and users for thousands of keys.
KEYS_PER_TEAM = 10
KEYS_PER_USER = 5
KEYS_PER_ORG = 100
END_USERS_PER_KEY = 3
# End users a caller sends as the request's `user`, out of (count * END_USER_SHARE) distinct ones; one caller in
# NO_END_USER sends none (LiteLLM's "None").
END_USER_SHARE = 0.7
NO_END_USER = 4


def caller_key(seed, i):
    """Caller i's key: `sk-` and 48 hex digits like LiteLLM's generated keys, random per run through the seed."""
    return 'sk-' + hashlib.sha256(f'{seed}:{i}'.encode()).hexdigest()[:48]


def caller_end_users(i, count):
    """The end users caller i sends, in the order its requests use them (empty: the caller sends none)."""
    if i % NO_END_USER == NO_END_USER - 1:
        return []
    pool = max(2, int(count * END_USER_SHARE))
    return [f'customer-{(i + c * 7919) % pool:05d}' for c in range(END_USERS_PER_KEY)]


def caller_spec(i, count):
    """Caller i of `count`: key alias, team, user and org, and budgets and limits on some of each (CALLERS' shape)."""
    teams = max(2, count // KEYS_PER_TEAM)
    users = max(2, count // KEYS_PER_USER)
    orgs = max(2, count // KEYS_PER_ORG)
    team, user = i % teams, (i * 7) % users
    org = team % orgs
    spec = {
        'key_alias': f'svc-{i:05d}',
        'spend': round((i % 50) * 0.37, 2),
        'team_id': f'team-{team:04d}',
        'team_alias': f'Team {team:04d}',
        'team_spend': round((team % 40) * 2.5, 2),
        'user_id': f'user-{user:05d}',
        'user_spend': round((user % 30) * 0.5, 2),
        'org_id': f'org-{org:03d}',
        'org_alias': f'Org {org:03d}',
        'org_spend': round((org % 10) * 40.0, 2),
    }
    if i % 3:
        spec.update(max_budget=10.0 + i % 40, key_reset_hours=24.0 * (1 + i % 30))
    if i % 4 == 0:
        spec.update(rpm_limit=6000, tpm_limit=6000000)
    if team % 2 == 0:
        spec.update(team_max_budget=500.0, team_reset_hours=168.0, team_rpm_limit=60000, team_tpm_limit=60000000)
    if user % 3 == 0:
        spec.update(user_max_budget=50.0, user_reset_hours=24.0 * (1 + user % 7))
    if org % 2 == 0:
        spec['org_max_budget'] = 5000.0
    return spec


def _end_user_row(end_user, j):
    row = {'end_user': end_user, 'end_user_spend': round((j % 20) * 0.25, 2)}
    if j % 2 == 0:
        row['end_user_max_budget'] = 10.0
    return row


_CALLER_INDEX = {}


def _generated_caller(token):
    if not _CALLER_INDEX:
        config = json.loads(os.environ.get(CALLERS_ENV) or '{}')
        count = int(config.get('count', 0))
        _CALLER_INDEX.update({caller_key(config.get('seed', ''), i): (i, count) for i in range(count)})
    found = _CALLER_INDEX.get(token)
    if found is None:
        return None
    i, count = found
    rows = [_end_user_row(e, i + c) for c, e in enumerate(caller_end_users(i, count))]
    return caller_spec(i, count), rows


async def callers_user_api_key_auth(request, api_key):
    """LiteLLM's custom auth hook of the ``callers`` profile: the generated callers of HARNESS_CALLERS."""
    return await _authenticate(request, api_key, _generated_caller)
