"""The instance's transport options, checked before anything uses them: a wrong value fails with a
ConfigurationError that names the option (the Agent shows it), never with a TypeError deep in a library."""

import re
from collections.abc import Mapping

from datadog_checks.base.errors import ConfigurationError

from .decode import DEFAULT_MAX_BODY_MB, MIB

URL_OPTIONS = ('openmetrics_endpoint', 'readiness_endpoint', 'litellm_health_endpoint')
TIMEOUT_OPTIONS = ('timeout', 'connect_timeout', 'read_timeout', 'readiness_timeout', 'litellm_health_timeout')
HEADER_OPTIONS = ('headers', 'extra_headers')


def validate_instance(instance, init_config=None):
    """Raise ConfigurationError for the first transport option of the wrong type or value."""
    if not isinstance(instance, Mapping):
        raise ConfigurationError('Each instance must be a mapping of options')
    for option in URL_OPTIONS:
        value = instance.get(option)
        required = option == 'openmetrics_endpoint'
        if value is None and not required:
            continue
        if not isinstance(value, str) or not value.strip():
            shown = 'missing' if value is None else f'a {type(value).__name__} ({_shown(value)})'
            raise ConfigurationError(
                f'`{option}` must be the URL of the proxy, such as http://localhost:4000/metrics/, not {shown}'
            )
        if not re.match(r'(?i)^(https?|unix)://', value.strip()):
            raise ConfigurationError(
                f'`{option}` must be an http:// or https:// URL, such as http://localhost:4000/metrics/'
            )
    for source in (instance, init_config or {}):
        for option in TIMEOUT_OPTIONS:
            if source.get(option) is not None:
                positive_seconds(source, option)
    for option in HEADER_OPTIONS:
        value = instance.get(option)
        if value is None:
            continue
        if not isinstance(value, Mapping):
            raise ConfigurationError(
                f'`{option}` must be a mapping of header names to values, such as '
                f'{{Authorization: "Bearer <key>"}}, not a {type(value).__name__}'
            )
        for name in value:
            if not isinstance(name, str):
                raise ConfigurationError(f'`{option}`: header names must be strings, not {_shown(name)}')
    filters = instance.get('raw_line_filters')
    if filters is not None:
        if not isinstance(filters, list):
            raise ConfigurationError('`raw_line_filters` must be a list of regular expressions')
        for i, entry in enumerate(filters, 1):
            if not isinstance(entry, str):
                raise ConfigurationError(f'`raw_line_filters`: entry #{i} must be a string, not {_shown(entry)}')
            try:
                re.compile(entry)
            except re.error as e:
                raise ConfigurationError(f'`raw_line_filters`: entry #{i} is not a valid regular expression ({e})')
    max_body_bytes(instance)


def positive_seconds(source, option):
    value = source.get(option)
    if isinstance(value, bool):
        value = None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f'`{option}` must be a number of seconds, not {_shown(source.get(option))}') from None
    if not seconds > 0 or seconds == float('inf'):
        raise ConfigurationError(f'`{option}` must be a number of seconds greater than 0, not {_shown(value)}')
    return seconds


def max_body_bytes(config):
    """The `max_body_size` option (MiB of decoded body) in bytes."""
    value = config.get('max_body_size')
    if value is None:
        return DEFAULT_MAX_BODY_MB * MIB
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or value == float('inf'):
        raise ConfigurationError(
            f'`max_body_size` must be a number of MiB greater than 0 '
            f'(default {DEFAULT_MAX_BODY_MB}), not {_shown(value)}'
        )
    return int(value * MIB)


def _shown(value):
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + '...'
