from datadog_checks.base import OpenMetricsBaseCheckV2

from .metrics import METRIC_MAP
from .scraper import LitellmScraper


class LitellmCheck(OpenMetricsBaseCheckV2):
    __NAMESPACE__ = 'litellm'

    # LiteLLM's families are bounded by the rename table; per-caller series must never be cut silently.
    DEFAULT_METRIC_LIMIT = 0

    def get_default_config(self):
        return {
            'metrics': [METRIC_MAP],
        }

    def create_scraper(self, config):
        return LitellmScraper(self, self.get_config_with_defaults(config))
