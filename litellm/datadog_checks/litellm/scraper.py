"""The scraper that owns LiteLLM's sample flow: every change to how samples are read, tagged or combined
lives here, so it is made in one place."""

from requests import exceptions as rex
from urllib3 import exceptions as u3

from datadog_checks.base.checks.openmetrics.v2.scraper import OpenMetricsScraper
from datadog_checks.base.constants import ServiceCheck

from . import http_errors
from .body import BodyLines, response_problem
from .licence import UNLICENSED_FAMILY
from .redact import Redactor, scrub_logger
from .tags import BOUND_TAGS, TagPolicy


class LitellmScraper(OpenMetricsScraper):
    unlicensed = False  # this scrape held the family an unlicensed proxy exports instead (see licence.py)

    def __init__(self, check, config):
        super().__init__(check, config)
        self.protect_secrets(config)
        self.tag_policy = TagPolicy.from_config(config, self.exclude_metrics_by_labels, self.hostname_label)
        # A bucket's bound is part of its identity: the base's label filters must not give two buckets one tag set.
        self.exclude_labels -= BOUND_TAGS
        if self.include_labels:
            self.include_labels |= BOUND_TAGS

    def yield_metrics(self, runtime_data):
        # The one place labels become tags: each parsed family goes through the tag policy (dropped labels and
        # values, hashed keys, series left with the same tags combined) before the transformers see it.
        for metric in super().yield_metrics(runtime_data):
            yield self.tag_policy.apply(metric)
            # Submitted: free the samples now, or they stay referenced while the next family is parsed, and the
            # peak memory holds two families (one of a busy proxy's histograms is tens of megabytes).
            metric.samples = []

    def scrape(self):
        self.series = 0
        self.unlicensed = False
        self.body_lines = None
        try:
            super().scrape()  # on failure, the base stops flushing first counter values: no spike after a restart
        except Exception as e:
            message, known = self.explain_failure(e)
            self.submit_health_check(ServiceCheck.CRITICAL, message=message)
            if self.ignore_connection_errors and isinstance(e, rex.ConnectionError):
                self.log.warning('LiteLLM endpoint not accessible: %s', message)
                return
            if not known:
                raise  # a bug, not a transport failure: keep its traceback (run() scrubs registered secrets)
            raise http_errors.ScrapeError(message) from None
        self.report_scraped_body()
        # Sent on every successful scrape of any proxy, whatever its version or settings: no LiteLLM family
        # is (an idle or unlicensed proxy may export none), so this is the manifest's check metric. It also
        # shows the custom-metric cost of the scrape.
        self.gauge('scrape.series', self.series, tags=self.tags)

    def generate_sample_data(self, metric):
        self.unlicensed = self.unlicensed or metric.name == UNLICENSED_FAMILY
        for sample_data in super().generate_sample_data(metric):
            # The +Inf bucket is not submitted: the histogram's `.count` carries it.
            if not sample_data[0].labels.get('upper_bound', '').endswith('inf'):
                self.series += 1
            yield sample_data

    # Transport, HTTP answers and health: the health is decided after the body is parsed, never on the status
    # alone; each failure gets a message that says what to do (http_errors.py), scrubbed of the key (redact.py).

    def protect_secrets(self, config):
        self.redactor = Redactor(config, self.http.options)
        scrub_logger(getattr(self.check.log, 'logger', self.check.log), self.redactor)
        for secret in self.redactor.secrets():
            self.check.register_secret(secret)  # the Agent's log handler and run()'s error report scrub them too
        # A key in the endpoint's user info or in a configured tag must not become a tag.
        self.static_tags = self.tags = tuple(self.redactor.scrub(tag) for tag in self.static_tags)

    def get_connection(self):
        # Unlike the base, no OK here: a 200 with an HTML page or a cut body is not a good scrape.
        response = self.send_request()
        problem = response_problem(response, self.endpoint, self.redactor.sent_key_header())
        if problem:
            response.close()
            raise http_errors.ScrapeError(problem)
        self.submit_telemetry_endpoint_response_size(response)
        return response

    def stream_connection_lines(self):
        with self.get_connection() as response:
            self._content_type = response.headers.get('Content-Type', '')  # picks the parser, as in the base
            self.body_lines = BodyLines(response, self.endpoint, self.redactor.secrets())
            yield from self.body_lines

    def explain_failure(self, error):
        """(message, known): what to tell the user, scrubbed; known is False for an error that is a bug."""
        known = True
        if isinstance(error, http_errors.ScrapeError):
            message = str(error)
        elif isinstance(error, (rex.RequestException, u3.HTTPError, OSError, UnicodeEncodeError)):
            connect_timeout, read_timeout = self.http.options['timeout']
            message = http_errors.transport_message(error, self.endpoint, connect_timeout, read_timeout)
        elif isinstance(error, ValueError) and self.body_lines is not None and self.body_lines.lines:
            message = self.body_lines.not_metrics_message(error)
        else:
            known = False
            message = f'Unexpected error while scraping: {type(error).__name__}: {http_errors.first_line(error)}'
            for secret in self.redactor.secrets():
                self.check.register_secret(secret)
        return self.redactor.scrub(message), known

    def report_scraped_body(self):
        if self.body_lines is not None and self.body_lines.cut:
            # Partial, not failed: the complete lines were right and are kept, so WARNING and no run error.
            message = self.redactor.scrub(self.body_lines.cut_message())
            self.submit_health_check(ServiceCheck.WARNING, message=message)
            self.warning(message)
            self.count('scrape.truncated', 1, tags=self.tags)
        else:
            self.submit_health_check(ServiceCheck.OK)
