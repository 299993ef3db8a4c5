"""Which instance options the series cache honours. The cache hands the base transformers tags it built once per
series, so it is right only while tags are a function of the series alone and nothing edits a sample in place.
Any option set that is not in `CACHED_OPTIONS` (those below, a typo, an option of a later base) sends the
instance to the base library's own tagging; tests/test_parser.py fails when the base reads an option that
neither list names."""

from datadog_checks.base.utils.http import STANDARD_FIELDS

CACHED_OPTIONS = frozenset(STANDARD_FIELDS) | {
    # Transport keys the HTTP wrapper reads besides its STANDARD_FIELDS.
    'proxy_password',
    'no_proxy',
    'kerberos',
    # The Agent's and the base check's own.
    'min_collection_interval',
    'empty_default_hostname',
    'service',
    'tags',
    'disable_generic_tags',
    'enable_legacy_tags_normalization',
    'metric_patterns',
    # The base scraper's: read once per series (names, filters, renames, static tags, hostname) or per family.
    'openmetrics_endpoint',
    'namespace',
    'metrics',
    'extra_metrics',
    'exclude_metrics',
    'exclude_metrics_by_labels',
    'exclude_labels',
    'include_labels',
    'rename_labels',
    'raw_line_filters',
    'raw_metric_prefix',
    'hostname_label',
    'hostname_format',
    'enable_health_service_check',
    'ignore_connection_errors',
    'ignore_tags',
    'use_latest_spec',
    'tag_by_endpoint',
    'cache_metric_wildcards',
    'collect_histogram_buckets',
    'use_process_start_time',
    # This check's.
    'fast_parser',
    'series_cache_size',
    'keep_labels',
    'max_tag_sets_per_metric',
    'probed_routes',
    'drop_none_tags',
    'hash_unhashed_api_keys',
    'submit_no_limit_sentinels',
    'collect_readiness',
    'readiness_endpoint',
    'readiness_timeout',
    'litellm_health_endpoint',
    'litellm_health_min_interval',
    'litellm_health_timeout',
    'bundled_check_names',
    'max_body_size',
}

# Options whose tags depend on other series (shared labels, target_info), that count samples per run
# (telemetry), or whose transformers edit samples and tags in place (histogram distributions, decumulated
# buckets): the base library tags every sample of every run.
BASE_PATH_OPTIONS = frozenset(
    {
        'share_labels',
        'cache_shared_labels',
        'target_info',
        'telemetry',
        'histogram_buckets_as_distributions',
        'non_cumulative_histogram_buckets',
        'collect_counters_with_distributions',
        'collect_histograms_as_distributions',
        'histogram_bound_tag_prefixes',
    }
)

_FALSE_WORDS = frozenset({'false', 'no', 'off', '0', ''})


def base_path_options(config):
    """The options set in `config` that the series cache does not honour, sorted."""
    return sorted(key for key, value in config.items() if key not in CACHED_OPTIONS and _set(value))


def _set(value):
    if isinstance(value, str):
        return value.strip().lower() not in _FALSE_WORDS
    return value is not None and value is not False and value != [] and value != {}
