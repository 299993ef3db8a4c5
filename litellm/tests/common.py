"""Names and paths the tests share."""

import gzip
import json
import lzma
import os

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, 'fixtures')
REAL_FIXTURES = os.path.join(FIXTURES, 'real')
DERIVED_FIXTURES = os.path.join(FIXTURES, 'derived')

# The 97 metric names and in-app types of Datadog's public LiteLLM page: the contract users' dashboards query.
SEED_METRICS = {
    'litellm.api.key.budget.remaining_hours.metric': 'gauge',
    'litellm.api.key.max_budget.metric': 'gauge',
    'litellm.auth.failed_requests.count': 'count',
    'litellm.auth.latency.bucket': 'count',
    'litellm.auth.latency.count': 'count',
    'litellm.auth.latency.sum': 'count',
    'litellm.auth.total_requests.count': 'count',
    'litellm.batch_write_to_db.failed_requests.count': 'count',
    'litellm.batch_write_to_db.latency.bucket': 'count',
    'litellm.batch_write_to_db.latency.count': 'count',
    'litellm.batch_write_to_db.latency.sum': 'count',
    'litellm.batch_write_to_db.total_requests.count': 'count',
    'litellm.deployment.cooled_down.count': 'count',
    'litellm.deployment.failed_fallbacks.count': 'count',
    'litellm.deployment.failure_by_tag_responses.count': 'count',
    'litellm.deployment.failure_responses.count': 'count',
    'litellm.deployment.latency_per_output_token.bucket': 'count',
    'litellm.deployment.latency_per_output_token.count': 'count',
    'litellm.deployment.latency_per_output_token.sum': 'count',
    'litellm.deployment.state': 'gauge',
    'litellm.deployment.success_responses.count': 'count',
    'litellm.deployment.successful_fallbacks.count': 'count',
    'litellm.deployment.total_requests.count': 'count',
    'litellm.in_memory.daily_spend_update_queue.size': 'gauge',
    'litellm.in_memory.spend_update_queue.size': 'gauge',
    'litellm.input.tokens.count': 'count',
    'litellm.llm.api.failed_requests.metric.count': 'count',
    'litellm.llm.api.latency.metric.bucket': 'count',
    'litellm.llm.api.latency.metric.count': 'count',
    'litellm.llm.api.latency.metric.sum': 'count',
    'litellm.llm.api.time_to_first_token.metric.bucket': 'count',
    'litellm.llm.api.time_to_first_token.metric.count': 'count',
    'litellm.llm.api.time_to_first_token.metric.sum': 'count',
    'litellm.output.tokens.count': 'count',
    'litellm.overhead_latency.metric.bucket': 'count',
    'litellm.overhead_latency.metric.count': 'count',
    'litellm.overhead_latency.metric.sum': 'count',
    'litellm.pod_lock_manager.size': 'gauge',
    'litellm.postgres.failed_requests.count': 'count',
    'litellm.postgres.latency.bucket': 'count',
    'litellm.postgres.latency.count': 'count',
    'litellm.postgres.latency.sum': 'count',
    'litellm.postgres.total_requests.count': 'count',
    'litellm.process.uptime.seconds': 'gauge',
    'litellm.provider.remaining_budget.metric': 'gauge',
    'litellm.proxy.failed_requests.metric.count': 'count',
    'litellm.proxy.pre_call.failed_requests.count': 'count',
    'litellm.proxy.pre_call.latency.bucket': 'count',
    'litellm.proxy.pre_call.latency.count': 'count',
    'litellm.proxy.pre_call.latency.sum': 'count',
    'litellm.proxy.pre_call.total_requests.count': 'count',
    'litellm.proxy.total_requests.metric.count': 'count',
    'litellm.redis.daily_spend_update_queue.size': 'gauge',
    'litellm.redis.daily_tag_spend_update_queue.failed_requests.count': 'count',
    'litellm.redis.daily_tag_spend_update_queue.latency.bucket': 'count',
    'litellm.redis.daily_tag_spend_update_queue.latency.count': 'count',
    'litellm.redis.daily_tag_spend_update_queue.latency.sum': 'count',
    'litellm.redis.daily_tag_spend_update_queue.total_requests.count': 'count',
    'litellm.redis.daily_team_spend_update_queue.failed_requests.count': 'count',
    'litellm.redis.daily_team_spend_update_queue.latency.bucket': 'count',
    'litellm.redis.daily_team_spend_update_queue.latency.count': 'count',
    'litellm.redis.daily_team_spend_update_queue.latency.sum': 'count',
    'litellm.redis.daily_team_spend_update_queue.total_requests.count': 'count',
    'litellm.redis.failed_requests.count': 'count',
    'litellm.redis.latency.bucket': 'count',
    'litellm.redis.latency.count': 'count',
    'litellm.redis.latency.sum': 'count',
    'litellm.redis.spend_update_queue.size': 'gauge',
    'litellm.redis.total_requests.count': 'count',
    'litellm.remaining.api_key.budget.metric': 'gauge',
    'litellm.remaining.api_key.requests_for_model': 'gauge',
    'litellm.remaining.api_key.tokens_for_model': 'gauge',
    'litellm.remaining.requests': 'gauge',
    'litellm.remaining.team_budget.metric': 'gauge',
    'litellm.remaining_requests.metric': 'gauge',
    'litellm.remaining_tokens': 'gauge',
    'litellm.request.total_latency.metric.bucket': 'count',
    'litellm.request.total_latency.metric.count': 'count',
    'litellm.request.total_latency.metric.sum': 'count',
    'litellm.requests.metric.count': 'count',
    'litellm.reset_budget_job.failed_requests.count': 'count',
    'litellm.reset_budget_job.latency.bucket': 'count',
    'litellm.reset_budget_job.total_requests.count': 'count',
    'litellm.router.failed_requests.count': 'count',
    'litellm.router.latency.bucket': 'count',
    'litellm.router.latency.count': 'count',
    'litellm.router.latency.sum': 'count',
    'litellm.router.total_requests.count': 'count',
    'litellm.self.failed_requests.count': 'count',
    'litellm.self.latency.bucket': 'count',
    'litellm.self.latency.count': 'count',
    'litellm.self.latency.sum': 'count',
    'litellm.self.total_requests.count': 'count',
    'litellm.spend.metric.count': 'count',
    'litellm.team.budget.remaining_hours.metric': 'gauge',
    'litellm.team.max_budget.metric': 'gauge',
    'litellm.total.tokens.count': 'count',
}


def real_fixture_dirs():
    """Every real capture, newest layout: fixtures/real/<version>/ with metrics.txt and capture.json."""
    return sorted(d for d in os.listdir(REAL_FIXTURES) if os.path.isfile(os.path.join(REAL_FIXTURES, d, 'metrics.txt')))


def _release(name):
    return tuple(int(p) for p in name.split('-', 1)[0].split('.'))


def budget_fixture_dirs():
    """Real captures of the harness's budgets profile (custom auth with budgets and limits), oldest release first."""
    return sorted((d for d in real_fixture_dirs() if d.endswith('-budgets')), key=_release)


def callers_fixture_dirs():
    """Real captures of the harness's callers profile (a sequence of scrapes as callers grow), oldest release first."""
    return sorted(
        (d for d in os.listdir(REAL_FIXTURES) if d.endswith('-callers') and os.path.isfile(capture_json_path(d))),
        key=_release,
    )


def capture_json_path(capture):
    """capture.json of a capture: a folder name under fixtures/real/, or any folder the harness wrote."""
    return os.path.join(capture if os.path.isabs(capture) else os.path.join(REAL_FIXTURES, capture), 'capture.json')


def read_capture(capture):
    with open(capture_json_path(capture)) as f:
        return json.load(f)


def read_scrape(path):
    """One scrape as served (bytes), from a file compressed by its extension (.xz, .gz) or not."""
    opener = {'.xz': lzma.open, '.gz': gzip.open}.get(os.path.splitext(path)[1], open)
    with opener(path, 'rb') as f:
        return f.read()


def final_scrape(capture):
    """The last scrape of a callers-profile capture (the biggest), decompressed: what `tools.grow.grow_keys` grows
    to a full-size payload, e.g. `grow_keys(final_scrape(NEWEST_CALLERS).decode(), 3000)`."""
    folder = os.path.dirname(capture_json_path(capture))
    return read_scrape(os.path.join(folder, read_capture(capture)['scrapes'][-1]['file']))


def scrape_sequence(capture):
    """The scrapes of a callers-profile capture in the order they were taken, decompressed, one at a time: walk
    them run after run with one check (a `Response` whose `body` is replaced before each run; see `walk_scrapes`
    in conftest.py). `capture` is a folder under fixtures/real/ or the path of one the harness wrote elsewhere."""
    folder = os.path.dirname(capture_json_path(capture))
    for scrape in read_capture(capture)['scrapes']:
        yield read_scrape(os.path.join(folder, scrape['file']))


def scrape_payloads():
    """Every whole scrape of the fixtures, relative to FIXTURES: each real capture's scrapes, then the derived."""
    real = [
        os.path.join('real', version, name)
        for version in real_fixture_dirs()
        for name in ('metrics.txt', 'metrics_before_traffic.txt')
        if os.path.isfile(os.path.join(REAL_FIXTURES, version, name))
    ]
    return real + sorted(os.path.join('derived', n) for n in os.listdir(DERIVED_FIXTURES) if n.endswith('.txt'))


def read_fixture(*parts, mode='rb'):
    with open(os.path.join(FIXTURES, *parts), mode) as f:
        return f.read()


NEWEST = '1.110.2'
# The callers-profile capture of the newest release: a sequence of scrapes as 1,000 keys come (test_callers.py).
NEWEST_CALLERS = f'{NEWEST}-callers'

# The LiteLLM release the live tests, `make live-env`, `make demo` and CI run: pinned here and nowhere else.
LITELLM_VERSION = '1.110.2'

# Seed metrics a database-less capture cannot fill, with the reason. Each is covered by a derived payload
# (fixtures/derived/) where LiteLLM's source gives its label set. Key and team budgets and per-model key limits are
# not listed: the budgets profile's custom auth fills them without a database (fixtures/real/*-budgets).
SEED_NOT_IN_CAPTURE = {
    'litellm.auth.failed_requests.count': 'declared by LiteLLM, recorded by no failure path',
    'litellm.proxy.pre_call.failed_requests.count': 'declared by LiteLLM, recorded by no failure path',
    'litellm.router.failed_requests.count': 'declared by LiteLLM, recorded by no failure path',
    'litellm.self.failed_requests.count': 'declared by LiteLLM, recorded by no failure path',
    'litellm.deployment.failure_by_tag_responses.count': 'LiteLLM < 1.75 only, which exports it only with a licence',
    'litellm.batch_write_to_db.failed_requests.count': 'database writer',
    'litellm.batch_write_to_db.latency.bucket': 'database writer',
    'litellm.batch_write_to_db.latency.count': 'database writer',
    'litellm.batch_write_to_db.latency.sum': 'database writer',
    'litellm.batch_write_to_db.total_requests.count': 'database writer',
    'litellm.postgres.failed_requests.count': 'database',
    'litellm.postgres.latency.bucket': 'database',
    'litellm.postgres.latency.count': 'database',
    'litellm.postgres.latency.sum': 'database',
    'litellm.postgres.total_requests.count': 'database',
    'litellm.reset_budget_job.failed_requests.count': 'budget reset job (database)',
    'litellm.reset_budget_job.latency.bucket': 'budget reset job (database)',
    'litellm.reset_budget_job.total_requests.count': 'budget reset job (database)',
    'litellm.in_memory.daily_spend_update_queue.size': 'spend queues are fed only with a database',
    'litellm.in_memory.spend_update_queue.size': 'spend queues are fed only with a database',
    'litellm.redis.daily_spend_update_queue.size': 'spend queues are fed only with a database',
    'litellm.redis.spend_update_queue.size': 'spend queues are fed only with a database',
    'litellm.pod_lock_manager.size': 'pod lock manager runs with a database',
    'litellm.redis.daily_tag_spend_update_queue.failed_requests.count': 'declared by LiteLLM, never observed',
    'litellm.redis.daily_tag_spend_update_queue.latency.bucket': 'declared by LiteLLM, never observed',
    'litellm.redis.daily_tag_spend_update_queue.latency.count': 'declared by LiteLLM, never observed',
    'litellm.redis.daily_tag_spend_update_queue.latency.sum': 'declared by LiteLLM, never observed',
    'litellm.redis.daily_tag_spend_update_queue.total_requests.count': 'declared by LiteLLM, never observed',
    'litellm.redis.daily_team_spend_update_queue.failed_requests.count': 'declared by LiteLLM, never observed',
    'litellm.redis.daily_team_spend_update_queue.latency.bucket': 'declared by LiteLLM, never observed',
    'litellm.redis.daily_team_spend_update_queue.latency.count': 'declared by LiteLLM, never observed',
    'litellm.redis.daily_team_spend_update_queue.latency.sum': 'declared by LiteLLM, never observed',
    'litellm.redis.daily_team_spend_update_queue.total_requests.count': 'declared by LiteLLM, never observed',
}

# Metrics the check computes itself rather than renaming a LiteLLM family.
CHECK_METRICS = {
    'litellm.scrape.series',
    'litellm.scrape.skipped_lines',
    'litellm.scrape.truncated',
    'litellm.scrape.folded_series',
}
# Model health from /health (model_health.py): only with `litellm_health_endpoint`, tested in test_model_health.py.
CHECK_METRICS |= {
    'litellm.endpoint.health_age',
    'litellm.endpoint.healthy_count',
    'litellm.endpoint.info',
    'litellm.endpoint.unhealthy_count',
}

# Metadata rows no fixture (real or derived) sends yet, with the reason. The coverage test fails when one
# becomes sent (then remove it here) or when a new row is neither sent nor listed.
# LiteLLM declares these seed families, but no failure path of 1.79 to 1.110 records them (measured: invalid keys,
# blocked guardrails, unknown models, upstream 500s, a Redis outage). Their type is asserted by the seed test.
_NEVER_RECORDED = 'seed name; declared by LiteLLM, recorded by no failure path'
NOT_IN_ANY_FIXTURE = {
    'litellm.auth.failed_requests.count': _NEVER_RECORDED,
    'litellm.proxy.pre_call.failed_requests.count': _NEVER_RECORDED,
    'litellm.router.failed_requests.count': _NEVER_RECORDED,
    'litellm.self.failed_requests.count': _NEVER_RECORDED,
}


def submissions(aggregator, skip=()):
    """Everything the check submitted, in a comparable form: (metrics, service checks), each sorted."""
    metrics = sorted(
        (m.name, m.type, m.value, tuple(sorted(m.tags)), m.hostname, m.flush_first_value)
        for name in aggregator.metric_names
        if name not in skip
        for m in aggregator.metrics(name)
    )
    checks = sorted(
        (s.name, s.status, tuple(sorted(s.tags)), s.message)
        for name in aggregator.service_check_names
        for s in aggregator.service_checks(name)
    )
    return metrics, checks
