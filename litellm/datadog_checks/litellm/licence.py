"""Unlicensed proxies: before 1.80 LiteLLM exports `litellm_not_a_premium_user_metric` (a counter that stays
at 0) instead of its metrics when no enterprise licence is set. The scraper notes the family; this turns it
into the service check `litellm.prometheus.licensed` (WARNING) and a log warning at most once an hour."""

import time

from datadog_checks.base import AgentCheck

UNLICENSED_FAMILY = 'litellm_not_a_premium_user_metric'
WARN_EVERY_SECONDS = 3600
MESSAGE = (
    'LiteLLM withholds its Prometheus metrics: before 1.80 they need an enterprise licence. '
    'Upgrade the proxy to 1.80 or later, or set LITELLM_LICENSE in its environment.'
)


class LicenceWatch:
    def __init__(self, check, tags, clock=time.monotonic):
        self.check = check
        self.tags = tags
        self.clock = clock
        self.warned_at = None

    def report(self, unlicensed):
        if not unlicensed:
            self.check.service_check('prometheus.licensed', AgentCheck.OK, tags=self.tags)
            return
        self.check.service_check('prometheus.licensed', AgentCheck.WARNING, tags=self.tags, message=MESSAGE)
        now = self.clock()
        if self.warned_at is None or now - self.warned_at >= WARN_EVERY_SECONDS:
            self.warned_at = now
            self.check.log.warning(MESSAGE)
