"""Generator of the DERIVED payloads in tests/fixtures/derived/: families no proxy of this workplace can fill.

Real captures come from real proxies (tools/harness). A few families need what a proxy here cannot have:
LiteLLM's database (spend queues, DB writers, its cron jobs; its client downloads engines at run time, which
fails here), an enterprise licence (LiteLLM < 1.75 exported token counters only when licensed), or an
external service (the Lens exporter, Anthropic workload identity). For those, this script renders payloads with
prometheus_client itself, so the text format is exactly LiteLLM's; family names, types and label names are
those of LiteLLM's source (`litellm/integrations/prometheus*.py`) at the version each file names.

Budgets and rate limits are NOT derived any more: LiteLLM fills them per request from the request's auth object,
which the harness's custom auth builds without a database (`--profile budgets`, tests/fixtures/real/*-budgets).
What stays derived of them needs the database or its cron job:

  org and customer budget remaining hours   the per-request path passes no reset time for orgs and customers
                                            (LiteLLM 1.110.2 sets them to None); only the budget cron, reading
                                            the database, sets these gauges
  project per-model rate limits             a project's limits are read from its database row
  team members                              counted from the team's database row

Label values and numbers are made up, deterministic, and plausible. Never edit the .txt files by hand:
change this script and run `python -m tools.generate_derived` from `litellm/`; a test fails when the files
differ from what this script renders.
"""

import hashlib
import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

try:  # `_created` samples carry wall-clock times; without them the output is reproducible.
    from prometheus_client import disable_created_metrics

    disable_created_metrics()
except ImportError:  # pragma: no cover
    pass

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), 'tests', 'fixtures', 'derived')

# LiteLLM's latency buckets since 1.85 (seconds).
LATENCY_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.0,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    420.0,
    600.0,
)


def sha256(text):
    return hashlib.sha256(text.encode()).hexdigest()


# Two callers: label values for the first and the second series of each family.
CALLERS = [
    {
        'hashed_api_key': sha256('sk-derived-key-alpha'),
        'api_key_alias': 'checkout-service',
        'team': 'team-checkout',
        'team_alias': 'Checkout',
        'user': 'user-ada',
        'user_email': 'ada@example.com',
        'end_user': 'customer-42',
        'org_id': 'org-retail',
        'org_alias': 'Retail',
        'project_id': 'proj-search',
        'project_alias': 'Search',
        'requested_model': 'gpt-4o',
        'model': 'gpt-4o',
        'model_group': 'gpt-4o',
        'model_id': 'deployment-east',
        'litellm_model_name': 'azure/gpt-4o',
        'api_provider': 'azure',
        'api_base': 'https://east.example.invalid/openai',
        'client_ip': '10.0.0.5',
        'user_agent': 'OpenAI/Python 1.99.0',
        'exception_status': '429',
        'exception_class': 'Openai.RateLimitError',
        'tag': 'checkout',
        'rate_limit_type': 'requests',
    },
    {
        'hashed_api_key': sha256('sk-derived-key-beta'),
        'api_key_alias': 'None',
        'team': 'team-research',
        'team_alias': 'None',
        'user': 'user-grace',
        'user_email': 'None',
        'end_user': 'None',
        'org_id': 'None',
        'org_alias': 'None',
        'project_id': 'proj-labs',
        'project_alias': 'None',
        'requested_model': 'claude-sonnet',
        'model': 'claude-sonnet',
        'model_group': 'claude-sonnet',
        'model_id': 'deployment-west',
        'litellm_model_name': 'anthropic/claude-sonnet-4',
        'api_provider': 'anthropic',
        'api_base': '',
        'client_ip': '10.0.0.6',
        'user_agent': 'curl/8.5.0',
        'exception_status': '500',
        'exception_class': 'Anthropic.InternalServerError',
        'tag': 'research',
        'rate_limit_type': 'tokens',
    },
]

# Label sets of LiteLLM 1.110.2.
KEY = ['hashed_api_key', 'api_key_alias']
TEAM = ['team', 'team_alias']
ORG = ['org_id', 'org_alias']

# (family, kind, labels, values of the two series, extra label values per series)
DB_BACKED_1_110 = [
    # Hours to the budget reset of orgs and customers: only the budget cron sets them, from the database.
    ('litellm_org_budget_remaining_hours_metric', 'gauge', ORG, (240.0, 2.0)),
    ('litellm_customer_budget_remaining_hours_metric', 'gauge', ['end_user'], (5.0, 48.0)),
    # Rate limits of projects (limits stored in the project's database row).
    (
        'litellm_project_model_rate_limit_allowed_metric',
        'gauge',
        ['project_id', 'project_alias', 'requested_model', 'rate_limit_type'],
        (300.0, 400000.0),
    ),
    (
        'litellm_project_model_rate_limit_used_metric',
        'gauge',
        ['project_id', 'project_alias', 'requested_model', 'rate_limit_type'],
        (12.0, 5000.0),
    ),
    # Users and teams.
    ('litellm_team_members_metric', 'gauge', TEAM, (8.0, 3.0)),
    # Managed batches and files (stored in the database).
    (
        'litellm_managed_batch_created',
        'counter',
        ['model', 'api_provider', 'user', 'user_email', 'api_key_alias'],
        (3, 1),
    ),
    (
        'litellm_managed_file_created',
        'counter',
        ['model', 'api_provider', 'user', 'user_email', 'api_key_alias'],
        (4, 2),
    ),
    ('litellm_managed_file_deleted', 'counter', ['result'], (2, 1), [{'result': 'success'}, {'result': 'blocked'}]),
    (
        'litellm_managed_file_size_bytes',
        'gauge',
        ['purpose', 'file_type', 'model', 'api_provider', 'user'],
        (52430.0, 1024.0),
        [{'purpose': 'batch', 'file_type': 'jsonl'}, {'purpose': 'fine-tune', 'file_type': 'jsonl'}],
    ),
    ('litellm_managed_batch_duration_seconds', 'histogram', ['model', 'api_provider'], (840.0, 3600.0)),
    ('litellm_check_batch_cost_jobs_processed', 'counter', ['model', 'api_provider'], (3, 1)),
    (
        'litellm_check_batch_cost_errors',
        'counter',
        ['error_type'],
        (1, 2),
        [{'error_type': 'batch_not_found'}, {'error_type': 'cost_calculation_error'}],
    ),
    # Spend accounting against the provider's bill and the spend log tables.
    ('litellm_spend_capture_rate', 'gauge', ['api_provider'], (0.98, 1.0)),
    (
        'litellm_spend_log_cleanup_rows_deleted',
        'counter',
        ['table'],
        (15000, 1200),
        [{'table': 'LiteLLM_SpendLogs'}, {'table': 'LiteLLM_SpendLogToolIndex'}],
    ),
    (
        'litellm_spend_log_cleanup_rows_remaining',
        'gauge',
        ['table'],
        (300.0, 0.0),
        [{'table': 'LiteLLM_SpendLogs'}, {'table': 'LiteLLM_SpendLogToolIndex'}],
    ),
    (
        'litellm_spend_log_cleanup_batch_duration_seconds',
        'histogram',
        ['table'],
        (0.8, 0.1),
        [{'table': 'LiteLLM_SpendLogs'}, {'table': 'LiteLLM_SpendLogToolIndex'}],
    ),
    (
        'litellm_spend_log_cleanup_batch_failures',
        'counter',
        ['table'],
        (1, 0),
        [{'table': 'LiteLLM_SpendLogs'}, {'table': 'LiteLLM_SpendLogToolIndex'}],
    ),
    (
        'litellm_spend_log_cleanup_runs',
        'counter',
        ['outcome'],
        (23, 1),
        [{'outcome': 'completed'}, {'outcome': 'error'}],
    ),
    (
        'litellm_spend_log_storage_bytes',
        'gauge',
        ['measure'],
        (734003200.0, 524288000.0),
        [{'measure': 'allocated'}, {'measure': 'estimated_live'}],
    ),
]

# `prometheus_system` services that only run with a database, and the spend queues it feeds.
DB_SERVICES = ['postgres', 'batch_write_to_db', 'reset_budget_job']
DECLARED_SERVICES = [  # declared with the default counter+histogram set; LiteLLM only ever sizes these queues
    'redis_daily_team_spend_update_queue',
    'redis_daily_tag_spend_update_queue',
    'redis_daily_org_spend_update_queue',
    'redis_window_spend_update_queue',
]
QUEUES = [
    'in_memory_spend_update_queue',
    'in_memory_daily_spend_update_queue',
    'redis_spend_update_queue',
    'redis_daily_spend_update_queue',
    'redis_daily_end_user_spend_update_queue',
    'redis_daily_agent_spend_update_queue',
]

# Families that need an external service this workplace cannot reach (the Lens exporter's ClickHouse,
# Anthropic workload identity federation). MCP tools and video have real captures (1.110.2-features).
EXTERNAL_1_110 = [
    ('litellm_lens_export_rows_written', 'counter', [], (1520,)),
    ('litellm_lens_export_rows_dropped', 'counter', [], (3,)),
]
EXTERNAL_SERVICES = ['anthropic_wif']
EXTERNAL_COUNTER_ONLY_SERVICES = ['anthropic_wif_cache']

# LiteLLM < 1.75 exported these only with an enterprise licence. Label sets of LiteLLM 1.74.
PRE_1_75_TOKENS = ['end_user', *KEY, 'model', *TEAM, 'user', 'requested_model']
LICENSED_1_74 = [
    ('litellm_input_tokens', 'counter', PRE_1_75_TOKENS, (1830, 412)),
    ('litellm_output_tokens', 'counter', PRE_1_75_TOKENS, (622, 90)),
    ('litellm_total_tokens', 'counter', PRE_1_75_TOKENS, (2452, 502)),
    (
        'litellm_deployment_failure_by_tag_responses',
        'counter',
        [
            'requested_model',
            'tag',
            'litellm_model_name',
            'model_id',
            'api_base',
            'api_provider',
            'exception_status',
            'exception_class',
        ],
        (5, 2),
    ),
    (
        'litellm_remaining_requests',
        'gauge',
        ['model_group', 'api_provider', 'api_base', 'litellm_model_name', *KEY],
        (4999.0, 49.0),
    ),
    (
        'litellm_remaining_tokens',
        'gauge',
        ['model_group', 'api_provider', 'api_base', 'litellm_model_name', *KEY],
        (799000.0, 39000.0),
    ),
]


def _add(registry, family, kind, labels, values, extra=None):
    help_text = f'{family} (derived payload)'
    if kind == 'counter':
        metric = Counter(family, help_text, labels, registry=registry)
    elif kind == 'gauge':
        metric = Gauge(family, help_text, labels, registry=registry)
    else:
        metric = Histogram(family, help_text, labels, buckets=LATENCY_BUCKETS, registry=registry)
    for i, value in enumerate(values):
        label_values = {**CALLERS[i], **(extra[i] if extra else {})}
        child = metric.labels(**{name: label_values[name] for name in labels}) if labels else metric
        if kind == 'counter':
            child.inc(value)
        elif kind == 'gauge':
            child.set(value)
        else:
            for fraction in (0.2, 0.3, 0.5):
                child.observe(value * fraction)


def _services(registry, services, counters=True, histogram=True):
    for service in services:
        if histogram:
            _add(registry, f'litellm_{service}_latency', 'histogram', [service], (0.012,), [{service: service}])
        if counters:
            _add(registry, f'litellm_{service}_total_requests', 'counter', [service], (42,), [{service: service}])
            _add(
                registry,
                f'litellm_{service}_failed_requests',
                'counter',
                [service, 'error_class', 'function_name'],
                (2,),
                [{service: service, 'error_class': 'TimeoutError', 'function_name': 'update_spend'}],
            )


def _queues(registry):
    for i, queue in enumerate(QUEUES):
        # The label value is LiteLLM's `gauge_labels`, the queue's own name.
        _add(registry, f'litellm_{queue}_size', 'gauge', [queue], (float(3 * i),), [{queue: queue}])
    _add(
        registry,
        'litellm_pod_lock_manager_size',
        'gauge',
        ['pod_lock_manager'],
        (1.0,),
        [{'pod_lock_manager': 'budget_reset_job:pod-7f9c'}],
    )


def _counts(registry):
    for family, value in (('litellm_total_users', 120.0), ('litellm_active_users', 97.0), ('litellm_teams_count', 9.0)):
        Gauge(family, f'{family} (derived payload)', registry=registry).set(value)


def render():
    """{file name: payload text} for every derived payload."""
    payloads = {}

    registry = CollectorRegistry()
    for spec in DB_BACKED_1_110:
        _add(registry, *spec)
    _services(registry, DB_SERVICES)
    _services(registry, DECLARED_SERVICES)
    _queues(registry)
    _counts(registry)
    payloads['database_1.110.2.txt'] = registry

    registry = CollectorRegistry()
    for spec in EXTERNAL_1_110:
        _add(registry, *spec)
    _services(registry, EXTERNAL_SERVICES)
    _services(registry, EXTERNAL_COUNTER_ONLY_SERVICES, histogram=False)
    payloads['external_services_1.110.2.txt'] = registry

    registry = CollectorRegistry()
    for spec in LICENSED_1_74:
        _add(registry, *spec)
    payloads['licensed_1.74.txt'] = registry

    header = (
        '# DERIVED payload, not a real capture: rendered by tools/generate_derived.py with prometheus_client\n'
        '# from the family names and label sets of LiteLLM {version} (see the script for why). Do not edit.\n'
    )
    return {
        name: header.format(version=name.rsplit('_', 1)[1][: -len('.txt')]) + generate_latest(registry).decode()
        for name, registry in payloads.items()
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, text in render().items():
        with open(os.path.join(OUT, name), 'w') as f:
            f.write(text)
        print(f'wrote fixtures/derived/{name}')


if __name__ == '__main__':
    main()
