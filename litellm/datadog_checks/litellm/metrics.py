"""The one rename table: LiteLLM's Prometheus family names -> `litellm.*` names (namespace added by the check).

A plain Python mapping rather than `metrics.yaml`: it loads on every supported `datadog-checks-base`, and the
tests, the benchmark and the metadata checks import it directly.

Counters are submitted as `<name>.count`, histograms as `<name>.bucket/.count/.sum`, gauges as `<name>`.
"""

# Families named in Datadog's public LiteLLM page (the contract users' dashboards query), keyed by the
# family name LiteLLM exports (counters without their `_total` suffix).
SEED_METRICS = {
    # Requests, tokens and spend
    'litellm_proxy_total_requests_metric': 'proxy.total_requests.metric',
    'litellm_proxy_failed_requests_metric': 'proxy.failed_requests.metric',
    'litellm_requests_metric': 'requests.metric',
    'litellm_llm_api_failed_requests_metric': 'llm.api.failed_requests.metric',
    'litellm_spend_metric': 'spend.metric',
    'litellm_input_tokens': 'input.tokens',
    'litellm_output_tokens': 'output.tokens',
    'litellm_total_tokens': 'total.tokens',
    # Latency
    'litellm_request_total_latency_metric': 'request.total_latency.metric',
    'litellm_llm_api_latency_metric': 'llm.api.latency.metric',
    'litellm_llm_api_time_to_first_token_metric': 'llm.api.time_to_first_token.metric',
    'litellm_overhead_latency_metric': 'overhead_latency.metric',
    # Deployments and load balancing
    'litellm_deployment_state': 'deployment.state',
    'litellm_deployment_success_responses': 'deployment.success_responses',
    'litellm_deployment_failure_responses': 'deployment.failure_responses',
    'litellm_deployment_failure_by_tag_responses': 'deployment.failure_by_tag_responses',
    'litellm_deployment_total_requests': 'deployment.total_requests',
    'litellm_deployment_latency_per_output_token': 'deployment.latency_per_output_token',
    'litellm_deployment_cooled_down': 'deployment.cooled_down',
    'litellm_deployment_successful_fallbacks': 'deployment.successful_fallbacks',
    'litellm_deployment_failed_fallbacks': 'deployment.failed_fallbacks',
    # Rate limits reported by the upstream provider and by LiteLLM
    'litellm_remaining_requests': 'remaining.requests',
    'litellm_remaining_requests_metric': 'remaining_requests.metric',
    'litellm_remaining_tokens': 'remaining_tokens',
    'litellm_remaining_api_key_requests_for_model': 'remaining.api_key.requests_for_model',
    'litellm_remaining_api_key_tokens_for_model': 'remaining.api_key.tokens_for_model',
    # Budgets
    'litellm_remaining_team_budget_metric': 'remaining.team_budget.metric',
    'litellm_team_max_budget_metric': 'team.max_budget.metric',
    'litellm_team_budget_remaining_hours_metric': 'team.budget.remaining_hours.metric',
    'litellm_remaining_api_key_budget_metric': 'remaining.api_key.budget.metric',
    'litellm_api_key_max_budget_metric': 'api.key.max_budget.metric',
    'litellm_api_key_budget_remaining_hours_metric': 'api.key.budget.remaining_hours.metric',
    'litellm_provider_remaining_budget_metric': 'provider.remaining_budget.metric',
    # `prometheus_system` service families
    'litellm_auth_failed_requests': 'auth.failed_requests',
    'litellm_auth_latency': 'auth.latency',
    'litellm_auth_total_requests': 'auth.total_requests',
    'litellm_batch_write_to_db_failed_requests': 'batch_write_to_db.failed_requests',
    'litellm_batch_write_to_db_latency': 'batch_write_to_db.latency',
    'litellm_batch_write_to_db_total_requests': 'batch_write_to_db.total_requests',
    'litellm_postgres_failed_requests': 'postgres.failed_requests',
    'litellm_postgres_latency': 'postgres.latency',
    'litellm_postgres_total_requests': 'postgres.total_requests',
    'litellm_proxy_pre_call_failed_requests': 'proxy.pre_call.failed_requests',
    'litellm_proxy_pre_call_latency': 'proxy.pre_call.latency',
    'litellm_proxy_pre_call_total_requests': 'proxy.pre_call.total_requests',
    'litellm_redis_failed_requests': 'redis.failed_requests',
    'litellm_redis_latency': 'redis.latency',
    'litellm_redis_total_requests': 'redis.total_requests',
    'litellm_redis_daily_tag_spend_update_queue_failed_requests': 'redis.daily_tag_spend_update_queue.failed_requests',
    'litellm_redis_daily_tag_spend_update_queue_latency': 'redis.daily_tag_spend_update_queue.latency',
    'litellm_redis_daily_tag_spend_update_queue_total_requests': 'redis.daily_tag_spend_update_queue.total_requests',
    'litellm_redis_daily_team_spend_update_queue_failed_requests': (
        'redis.daily_team_spend_update_queue.failed_requests'
    ),
    'litellm_redis_daily_team_spend_update_queue_latency': 'redis.daily_team_spend_update_queue.latency',
    'litellm_redis_daily_team_spend_update_queue_total_requests': 'redis.daily_team_spend_update_queue.total_requests',
    'litellm_reset_budget_job_failed_requests': 'reset_budget_job.failed_requests',
    'litellm_reset_budget_job_latency': 'reset_budget_job.latency',
    'litellm_reset_budget_job_total_requests': 'reset_budget_job.total_requests',
    'litellm_router_failed_requests': 'router.failed_requests',
    'litellm_router_latency': 'router.latency',
    'litellm_router_total_requests': 'router.total_requests',
    'litellm_self_failed_requests': 'self.failed_requests',
    'litellm_self_latency': 'self.latency',
    'litellm_self_total_requests': 'self.total_requests',
    'litellm_in_memory_daily_spend_update_queue_size': 'in_memory.daily_spend_update_queue.size',
    'litellm_in_memory_spend_update_queue_size': 'in_memory.spend_update_queue.size',
    'litellm_redis_daily_spend_update_queue_size': 'redis.daily_spend_update_queue.size',
    'litellm_redis_spend_update_queue_size': 'redis.spend_update_queue.size',
    'litellm_pod_lock_manager_size': 'pod_lock_manager.size',
    # Process: the start time becomes the time elapsed since, so graphs show uptime.
    'process_start_time_seconds': {'name': 'process.uptime.seconds', 'type': 'time_elapsed'},
}

# Families renamed by later LiteLLM releases, with no seed name of their own: they keep their
# predecessor's seed name so dashboards survive an upgrade.
RENAMED_METRICS = {
    'litellm_input_tokens_metric': 'input.tokens',
    'litellm_output_tokens_metric': 'output.tokens',
    'litellm_total_tokens_metric': 'total.tokens',
    'litellm_remaining_tokens_metric': 'remaining_tokens',
}

# Families outside the seed. Names follow the published check where it has one, otherwise the seed's pattern:
# `litellm_` dropped, a known subject (deployment, redis, team, ...) split off with a dot, a trailing `_metric`
# kept as `.metric`, the rest keeping its underscores.
EXTRA_METRICS = {
    # Enterprise gate of LiteLLM < 1.80: the only LiteLLM family an unlicensed proxy exports.
    'litellm_not_a_premium_user_metric': 'not_a_premium_user.metric',
    # Token details and media
    'litellm_input_cached_tokens_metric': 'input_cached_tokens.metric',
    'litellm_input_cache_creation_tokens_metric': 'input_cache_creation_tokens.metric',
    'litellm_input_audio_tokens_metric': 'input_audio_tokens.metric',
    'litellm_output_reasoning_tokens_metric': 'output_reasoning_tokens.metric',
    'litellm_output_audio_tokens_metric': 'output_audio_tokens.metric',
    'litellm_provider_cache_read_input_tokens_metric': 'provider_cache.read_input_tokens.metric',
    'litellm_provider_cache_creation_input_tokens_metric': 'provider_cache.creation_input_tokens.metric',
    'litellm_video_duration_seconds_metric': 'video_duration_seconds.metric',
    'litellm_images_generated_metric': 'images_generated.metric',
    # LiteLLM's response cache
    'litellm_cache_hits_metric': 'cache_hits.metric',
    'litellm_cache_misses_metric': 'cache_misses.metric',
    'litellm_cached_tokens_metric': 'cached_tokens.metric',
    # Latency and queueing
    'litellm_overhead_with_guardrails_latency_metric': 'overhead_with_guardrails_latency.metric',
    'litellm_request_queue_time_seconds': 'request.queue_time_seconds',
    'litellm_in_flight_requests': 'in_flight_requests',
    'litellm_admission_admitted_requests': 'admission.admitted_requests',
    'litellm_admission_queued_requests': 'admission.queued_requests',
    'litellm_admission_rejected_requests': 'admission.rejected_requests',
    # Guardrails
    'litellm_guardrail_requests': 'guardrail.requests',
    'litellm_guardrail_errors': 'guardrail.errors',
    'litellm_guardrail_latency_seconds': 'guardrail.latency_seconds',
    # Deployments
    'litellm_deployment_tpm_limit': 'deployment.tpm_limit',
    'litellm_deployment_rpm_limit': 'deployment.rpm_limit',
    # Budgets of users, organisations and customers (end users), like the seed's team and key budgets
    'litellm_remaining_user_budget_metric': 'remaining.user_budget.metric',
    'litellm_user_max_budget_metric': 'user.max_budget.metric',
    'litellm_user_budget_remaining_hours_metric': 'user.budget.remaining_hours.metric',
    'litellm_remaining_org_budget_metric': 'remaining.org_budget.metric',
    'litellm_org_max_budget_metric': 'org.max_budget.metric',
    'litellm_org_budget_remaining_hours_metric': 'org.budget.remaining_hours.metric',
    'litellm_remaining_customer_budget_metric': 'remaining.customer_budget.metric',
    'litellm_customer_max_budget_metric': 'customer.max_budget.metric',
    'litellm_customer_budget_remaining_hours_metric': 'customer.budget.remaining_hours.metric',
    # Rate limits enforced by LiteLLM
    'litellm_api_key_rate_limit_allowed_metric': 'api.key.rate_limit_allowed.metric',
    'litellm_api_key_rate_limit_used_metric': 'api.key.rate_limit_used.metric',
    'litellm_team_rate_limit_allowed_metric': 'team.rate_limit_allowed.metric',
    'litellm_team_rate_limit_used_metric': 'team.rate_limit_used.metric',
    'litellm_project_model_rate_limit_allowed_metric': 'project.model_rate_limit_allowed.metric',
    'litellm_project_model_rate_limit_used_metric': 'project.model_rate_limit_used.metric',
    # Users and teams (database-backed proxies)
    'litellm_total_users': 'total_users',
    'litellm_active_users': 'active_users',
    'litellm_teams_count': 'teams_count',
    'litellm_team_members_metric': 'team.members.metric',
    # Spend accounting
    'litellm_zero_cost_requests': 'zero_cost_requests',
    'litellm_spend_capture_rate': 'spend_capture_rate',
    'litellm_callback_logging_failures_metric': 'callback_logging_failures.metric',
    'litellm_accounting_pending': 'accounting.pending',
    'litellm_accounting_parked': 'accounting.parked',
    'litellm_accounting_oldest_pending_seconds': 'accounting.oldest_pending_seconds',
    'litellm_accounting_batch_seconds': 'accounting.batch_seconds',
    'litellm_accounting_batch_deliveries': 'accounting.batch_deliveries',
    'litellm_accounting_delivery_table_bytes': 'accounting.delivery_table_bytes',
    'litellm_spend_log_cleanup_rows_deleted': 'spend_log_cleanup.rows_deleted',
    'litellm_spend_log_cleanup_rows_remaining': 'spend_log_cleanup.rows_remaining',
    'litellm_spend_log_cleanup_batch_duration_seconds': 'spend_log_cleanup.batch_duration_seconds',
    'litellm_spend_log_cleanup_batch_failures': 'spend_log_cleanup.batch_failures',
    'litellm_spend_log_cleanup_runs': 'spend_log_cleanup.runs',
    'litellm_spend_log_storage_bytes': 'spend_log_storage.bytes',
    'litellm_lens_export_rows_written': 'lens_export.rows_written',
    'litellm_lens_export_rows_dropped': 'lens_export.rows_dropped',
    # MCP tools
    'litellm_mcp_tool_calls': 'mcp.tool_calls',
    'litellm_mcp_tool_call_spend_metric': 'mcp.tool_call_spend.metric',
    # Managed batches and files
    'litellm_managed_batch_created': 'managed_batch.created',
    'litellm_managed_batch_duration_seconds': 'managed_batch.duration_seconds',
    'litellm_managed_file_created': 'managed_file.created',
    'litellm_managed_file_deleted': 'managed_file.deleted',
    'litellm_managed_file_size_bytes': 'managed_file.size_bytes',
    'litellm_check_batch_cost_jobs_polled': 'check_batch_cost.jobs_polled',
    'litellm_check_batch_cost_jobs_processed': 'check_batch_cost.jobs_processed',
    'litellm_check_batch_cost_errors': 'check_batch_cost.errors',
    'litellm_check_batch_cost_last_run_timestamp': 'check_batch_cost.last_run_timestamp',
    # Redis circuit breaker
    'litellm_redis_circuit_breaker_state': 'redis.circuit_breaker.state',
    'litellm_redis_circuit_breaker_transitions': 'redis.circuit_breaker.transitions',
    'litellm_redis_circuit_breaker_failures': 'redis.circuit_breaker.failures',
    # `prometheus_system` service families beyond the seed
    'litellm_anthropic_wif_failed_requests': 'anthropic_wif.failed_requests',
    'litellm_anthropic_wif_latency': 'anthropic_wif.latency',
    'litellm_anthropic_wif_total_requests': 'anthropic_wif.total_requests',
    'litellm_anthropic_wif_cache_failed_requests': 'anthropic_wif_cache.failed_requests',
    'litellm_anthropic_wif_cache_total_requests': 'anthropic_wif_cache.total_requests',
    'litellm_redis_daily_org_spend_update_queue_failed_requests': 'redis.daily_org_spend_update_queue.failed_requests',
    'litellm_redis_daily_org_spend_update_queue_latency': 'redis.daily_org_spend_update_queue.latency',
    'litellm_redis_daily_org_spend_update_queue_total_requests': 'redis.daily_org_spend_update_queue.total_requests',
    'litellm_redis_window_spend_update_queue_failed_requests': 'redis.window_spend_update_queue.failed_requests',
    'litellm_redis_window_spend_update_queue_latency': 'redis.window_spend_update_queue.latency',
    'litellm_redis_window_spend_update_queue_total_requests': 'redis.window_spend_update_queue.total_requests',
    'litellm_redis_daily_end_user_spend_update_queue_size': 'redis.daily_end_user_spend_update_queue.size',
    'litellm_redis_daily_agent_spend_update_queue_size': 'redis.daily_agent_spend_update_queue.size',
}

METRIC_MAP = {**SEED_METRICS, **RENAMED_METRICS, **EXTRA_METRICS}

# The names Datadog's bundled check (2.x) gives three token families that this check submits under the seed's names
# (RENAMED_METRICS): with `bundled_check_names` (default on) each submission is repeated under the 2.x name, so a
# dashboard built on the bundled check keeps its data. Keyed by submitted name, without the `litellm.` namespace.
BUNDLED_CHECK_NAMES = {
    'input.tokens.count': 'input_tokens.metric.count',
    'output.tokens.count': 'output_tokens.metric.count',
    'remaining_tokens': 'remaining_tokens.metric',
}
# The same by LiteLLM family: {family: the 2.x name its transformer submits under too (before `.count`)}.
_BUNDLED_BASES = {'input.tokens': 'input_tokens.metric', 'output.tokens': 'output_tokens.metric'}
_BUNDLED_BASES['remaining_tokens'] = 'remaining_tokens.metric'
BUNDLED_FAMILIES = {
    family: _BUNDLED_BASES[name]
    for family, name in METRIC_MAP.items()
    if isinstance(name, str) and name in _BUNDLED_BASES
}
