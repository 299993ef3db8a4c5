from collections import ChainMap
from collections.abc import Mapping

from requests.exceptions import RequestException

from datadog_checks.base import AgentCheck, OpenMetricsBaseCheckV2, is_affirmative

from .licence import LicenceWatch
from .line_filters import BASE_PARSER_LINE_FILTERS, RAW_LINE_FILTERS
from .metrics import BUNDLED_FAMILIES, METRIC_MAP
from .scraper import LitellmScraper
from .side.model_health import ModelHealth
from .side.probe import SideRedactor
from .side.readiness import Readiness
from .tags import GENERIC_RENAMES
from .transport.limits import validate_instance
from .transport.redact import safe_tag, scrub_library_loggers, scrub_logger


class LitellmCheck(OpenMetricsBaseCheckV2):
    __NAMESPACE__ = 'litellm'

    # LiteLLM's families are bounded by the rename table; per-caller series must never be cut silently.
    DEFAULT_METRIC_LIMIT = 0
    aliases = {}  # LiteLLM family -> the bundled 2.x check's name for it, submitted too

    def __init__(self, name, init_config, instances):
        super().__init__(name, init_config, instances)
        # Before anything reads them: a wrong option fails here, named, not as a TypeError in a library.
        validate_instance(self.instance, self.init_config)
        if is_affirmative(self.instance.get('bundled_check_names', True)):
            self.aliases = BUNDLED_FAMILIES
        # The side requests, readiness, version and model health, go through `self.http`, so the instance's TLS,
        # proxy and header settings apply, each with its own timeout. Their signals are tagged like the scrape's.
        self.redactor = SideRedactor(self.instance, self.http.options)
        scrub_logger(getattr(self.log, 'logger', self.log), self.redactor)
        scrub_library_loggers(self.redactor)
        tags = list(self.instance.get('tags') or [])
        if is_affirmative(self.instance.get('tag_by_endpoint', True)):
            tags.append(f'endpoint:{self.instance.get("openmetrics_endpoint")}')
        tags = [safe_tag(tag, self.redactor) for tag in tags]
        self.readiness = Readiness(self, self.instance, tags)
        self.licence = LicenceWatch(self, tags)
        self.side_steps = [self.readiness.run, self.collect_version]
        self.model_health = None
        if self.instance.get('litellm_health_endpoint'):  # opt-in: /health calls every model
            self.model_health = ModelHealth(self, self.instance, tags)
            self.side_steps.append(self.model_health.run)

    def check(self, instance):
        try:
            super().check(instance)
            self.licence.report(any(scraper.unlicensed for scraper in self.scrapers.values()))
        except (ConnectionError, RequestException) as e:
            # The base prefixes a failed scrape's error with the endpoint as configured: shown as safe_url renders it.
            shown = self.redactor.scrub(str(e))
            if shown == str(e):
                raise
            raise type(e)(shown) from None
        finally:
            # Run whether or not the scrape worked, and never make it fail.
            for step in self.side_steps:
                try:
                    step()
                except Exception as e:
                    self.log.warning('LiteLLM %s failed: %s', step.__qualname__, e)

    def configure_scrapers(self):
        super().configure_scrapers()
        if self.aliases:
            for scraper in self.scrapers.values():
                scraper.submit_also_as(self.aliases)

    @AgentCheck.metadata_entrypoint
    def collect_version(self):
        self.readiness.collect_version()

    def get_default_config(self):
        return {
            'metrics': [METRIC_MAP],
            # Labels named like Datadog's reserved or generic tags get a `litellm_` prefix; the base merges the
            # instance's `rename_labels` over these, so `rename_labels: {env: env}` restores one.
            'rename_labels': dict(GENERIC_RENAMES),
            # The proxy's Python/process families, never submitted, are dropped before parsing (and `_created` lines
            # for the base library's parser). An instance's `raw_line_filters` replaces this list (`[]` parses all).
            'raw_line_filters': list(
                RAW_LINE_FILTERS if is_affirmative(self.instance.get('fast_parser', True)) else BASE_PARSER_LINE_FILTERS
            ),
        }

    def create_scraper(self, config):
        config = self.get_config_with_defaults(config)
        renames = config.get('rename_labels')
        if isinstance(renames, Mapping):
            # As datadog-checks-base >= 38 does: the instance's renames merged over the defaults, not replacing them.
            config = ChainMap({'rename_labels': {**GENERIC_RENAMES, **renames}}, config)
        return LitellmScraper(self, config)
