"""The scraper: a run's transport, its two hooks into the base library's pipeline (the parser and the tag step)
and its health. Every change to how samples are read, tagged or combined starts here."""

from prometheus_client.metrics_core import Metric
from requests import exceptions as rex
from urllib3 import exceptions as u3

from datadog_checks.base import is_affirmative
from datadog_checks.base.checks.openmetrics.v2.scraper import OpenMetricsScraper
from datadog_checks.base.constants import ServiceCheck
from datadog_checks.base.errors import ConfigurationError

from .licence import UNLICENSED_FAMILY
from .metrics import METRIC_MAP
from .parsing.families import FILTERED, PlainFamily, Reader, TaggedFamily, broken_plain_series
from .parsing.options import base_path_options
from .parsing.series_cache import DEFAULT_CACHE_SIZE
from .tags import BOUND_TAGS, TagPolicy
from .transport import fetch, http_errors
from .transport.body import FAMILY_START, BodyLines, response_problem
from .transport.decode import Budget
from .transport.limits import max_body_bytes
from .transport.redact import Redactor, safe_tag, scrub_library_loggers, scrub_logger

# A skipped line holding this many characters of a secret in a row is not logged.
NEAR_SECRET = 10
# Broken histogram series named in the run's warning (the rest counted), each cut to this length.
NAMED_SERIES, SERIES_NAME_LENGTH = 5, 160


# The one private name of the base library this check uses: the base's parser is picked by the response's
# Content-Type, which its own `stream_connection_lines` (replaced here) stores under this name.
BASE_CONTENT_TYPE = '_content_type'


class LitellmScraper(OpenMetricsScraper):
    unlicensed = False  # this scrape held the family an unlicensed proxy exports instead (see licence.py)
    content_type = ''
    body_lines = None
    broken = ()  # histogram series withheld this run: 'family{labels} (why)'
    ended_in_filtered_family = False

    def __init__(self, check, config):
        super().__init__(check, config)
        self.submitted_twice = set()  # families also submitted under the bundled check's names
        self.protect_secrets(config)
        self.tag_policy = TagPolicy.from_config(config, self.exclude_metrics_by_labels, self.hostname_label)
        # A bucket's bound is part of its identity: the base's label filters must not give two buckets one tag set.
        self.exclude_labels -= BOUND_TAGS
        if self.include_labels:
            self.include_labels |= BOUND_TAGS
        self.reader = self.make_reader(config)
        self.budgeted = {}  # family -> whether the base path budgets it (the base submits it)

    def make_reader(self, config):
        if not is_affirmative(config.get('fast_parser', True)):
            return None
        size = config.get('series_cache_size', DEFAULT_CACHE_SIZE)
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ConfigurationError('Setting `series_cache_size` must be a non-negative integer')
        untagged = base_path_options(config)
        if untagged:
            self.log.debug('The base library tags every sample of this instance, for: %s', ', '.join(untagged))
        return Reader(self, cached=not untagged, cache_size=size)

    # The two hooks into the base library's pipeline: the parser (`parse_metric_families`, the strict reader of
    # parsing/families.py) and the tag step (`generate_sample_data`, which hands back the tags the reader
    # cached). The base's transformers submit every sample. `fast_parser: false` is the base's own parser.

    @property
    def parse_metric_families(self):
        if self.reader is None:
            return super().parse_metric_families
        return self.reader.read

    def filter_connection_lines(self, line_streamer):
        """The base's raw line filters, telling the reader where dropped lines were (a damaged one amid them is
        theirs, not the family's before) and whether the body ended in dropped lines after a family declaration."""
        self.ended_in_filtered_family = False
        if self.reader is None:
            yield from super().filter_connection_lines(line_streamer)
            return
        search, ignored = self.raw_line_filter.search, self.submit_telemetry_number_of_ignored_lines
        dropped = declares = False
        for line in line_streamer:
            if search(line):
                ignored()
                dropped = True
                declares = declares or line.startswith(FAMILY_START)
                continue
            if dropped:
                yield FILTERED
                dropped = declares = False
            yield line
        self.ended_in_filtered_family = declares

    def stopped_between_families(self):
        """Whether a body that stopped early stopped after the family being read had ended: inside the first line
        of the next one, or in dropped lines that declared another family (a counter's `_created` lines)."""
        return self.ended_in_filtered_family or (self.body_lines is not None and self.body_lines.cut_at_declaration)

    def generate_sample_data(self, metric):
        """The sample data the transformers submit; the one place `scrape.series` and the unlicensed family are
        counted."""
        self.unlicensed = self.unlicensed or metric.name == UNLICENSED_FAMILY
        times = 2 if metric.name in self.submitted_twice else 1
        if isinstance(metric, TaggedFamily):
            self.series += times * metric.series
            return iter(metric.sample_data)
        return self._counted(super().generate_sample_data(metric), times)

    def _counted(self, sample_data, times):
        for data in sample_data:
            # The +Inf bucket is not submitted: the histogram's `.count` carries it.
            if not data[0].labels.get('upper_bound', '').endswith('inf'):
                self.series += times
            yield data

    def submit_also_as(self, aliases):
        """Have the base transformer of each family in `aliases` ({family: Datadog name}) submit its samples under
        that name too, with the same values and tags (the bundled 2.x check's names)."""
        transformers = self.metric_transformer
        for family, alias in aliases.items():
            if family not in transformers.transformer_data:
                continue
            kind, first = transformers.transformer_data[family]
            _, second = transformers.compile_transformer({'name': alias, 'type': kind})

            def both(metric, sample_data, runtime_data, first=first, second=second):
                sample_data = list(sample_data)
                first(metric, sample_data, runtime_data)
                second(metric, sample_data, runtime_data)

            transformers.transformer_data[family] = kind, both
            self.submitted_twice.add(family)

    def tag_step(self, metric):
        """The base library's tags for the samples of `metric` (the series cache asks once per series)."""
        return super().generate_sample_data(metric)

    def transforms(self, metric):
        """The type of the transformer the base library would submit this family with (its name after
        `raw_metric_prefix`; `native` resolved), or None when it would not submit it."""
        name = metric.name
        if self.raw_metric_prefix and name.startswith(self.raw_metric_prefix):
            name = metric.name = name[len(self.raw_metric_prefix) :]
        if name in self.exclude_metrics or (
            self.exclude_metrics_pattern is not None and self.exclude_metrics_pattern.search(name)
        ):
            return None
        if self.metric_transformer.get(metric) is None:
            return None
        kind = self.metric_transformer.transformer_data.get(name, ('custom',))[0]
        return metric.type if kind == 'native' else kind

    def openmetrics_format(self):
        # As the base picks its parser (`parse_metric_families`).
        return is_affirmative(self.config.get('use_latest_spec', False)) or (
            self.content_type.split(';')[0].strip().lower() == 'application/openmetrics-text'
        )

    def body_cut(self):
        """(why the body ended before its end, what cut it), or (None, None)."""
        return (self.body_lines.cut, self.body_lines.cut_kind) if self.body_lines is not None else (None, None)

    def refuse_unreadable_body(self, reader):
        """A body of which no line could be read is not metrics (an error text served with a 200): that is a
        failed scrape, not one with skipped lines."""
        if reader.skipped and not reader.read_ok:
            line_number, reason, line = reader.first_skipped
            raise http_errors.ScrapeError(http_errors.not_metrics_message(self.endpoint, line_number, line, reason))

    def line_number(self):
        return self.body_lines.lines if self.body_lines is not None else 0

    def loggable(self, line):
        """A skipped line as the log shows it: cut, undecodable bytes escaped, and not at all if it holds part of
        a configured secret (BodyLines masks a key in the body whole; a damaged copy would escape it)."""
        text = http_errors.excerpt(line, 200)
        for secret in self.redactor.secrets():
            size = min(NEAR_SECRET, len(secret))
            if any(secret[i : i + size] in text for i in range(len(secret) - size + 1)):
                return '(not shown: it holds part of a configured secret)'
        return text

    # The tag policy on families the reader did not tag (the base path): dropped labels and values, hashed keys,
    # series left with the same tags combined, before the transformers see them. Both consume methods, which
    # every base version runs (`yield_metrics` is only in >= 38).

    def consume_metrics(self, runtime_data):
        yield from self.tagged(super().consume_metrics(runtime_data))

    def consume_metrics_w_target_info(self, runtime_data):
        yield from self.tagged(super().consume_metrics_w_target_info(runtime_data))

    def tagged(self, metrics):
        for metric in metrics:
            if not isinstance(metric, TaggedFamily):
                if metric.type == 'histogram':
                    self.withhold_broken_series(metric)
                self.tag_policy.apply(metric, budgeted=self.submits(metric))
                if isinstance(metric, PlainFamily) and metric.withheld:
                    # Tag sets an unreadable line of the family may have belonged to (Reader.withhold).
                    self.reader.withhold(metric.withheld, metric.samples, lambda sample: (sample.name, sample.labels))
            yield metric
            # Submitted: free the samples now, or they stay referenced while the next family is parsed.
            metric.samples = []
            metric.sample_data = ()

    def withhold_broken_series(self, metric):
        """A histogram read by the base's parser or handed over as read: the series whose buckets break the format
        are not submitted, nor any series the tag policy joins to them; the others are."""
        metric.samples, problems = broken_plain_series(metric.samples, self.tag_policy)
        for series, problem in problems.items():
            self.broken_series(metric.name, series, problem)

    def broken_series(self, family, labels, problem):
        """Note a histogram series withheld this run, by its family and (label, value) pairs."""
        if len(self.broken) < NAMED_SERIES:
            pairs = ','.join(f'{name}="{value}"' for name, value in labels)
            self.broken.append(f'{http_errors.excerpt(f"{family}{{{pairs}}}", SERIES_NAME_LENGTH)} ({problem})')
        self.broken_count += 1
        self.log.debug('A series of the LiteLLM histogram %s was not submitted (%s): %s', family, problem, labels)

    def submits(self, metric):
        """Whether the base library submits this family (the budget counts only those)."""
        known = self.budgeted.get(metric.name)
        if known is None:
            known = self.budgeted[metric.name] = self.transforms(Metric(metric.name, '', metric.type)) is not None
        return known

    def scrape(self):
        self.series = 0
        self.broken = []
        self.broken_count = 0
        if self.tag_policy.budget is not None:
            self.tag_policy.budget.begin()
        self.unlicensed = False
        self.body_lines = None
        waiting = self.rate_limit.remaining()
        if waiting is not None:
            # The proxy asked for a pause (429 with Retry-After): no request until it ends.
            message = f'Not scraped: {self.rate_limited} ({waiting:.0f} s left)'
            self.submit_health_check(ServiceCheck.CRITICAL, message=message)
            raise http_errors.ScrapeError(message)
        # One deadline for the request and the whole body (the read timeout alone bounds each read, not the run).
        self.budget = Budget(max(self.http.options['timeout']), self.max_body_bytes)
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
        self.report_folded()
        # Sent on every successful scrape of any proxy, whatever its version or settings: no LiteLLM family
        # is (an idle or unlicensed proxy may export none), so this is the manifest's check metric. It also
        # shows the custom-metric cost of the scrape.
        self.gauge('scrape.series', self.series, tags=self.tags)

    # Transport, HTTP answers and health: the health is decided after the body is parsed, never on the status
    # alone; each failure gets a message that says what to do (http_errors.py), scrubbed of the key (redact.py).

    def protect_secrets(self, config):
        self.redactor = Redactor(config, self.http.options)
        scrub_logger(getattr(self.check.log, 'logger', self.check.log), self.redactor)
        scrub_library_loggers(self.redactor)  # urllib3's debug lines quote the URL, query string included
        for secret in self.redactor.secrets():
            self.check.register_secret(secret)  # the Agent's log handler and run()'s error report scrub them too
        # A key in the endpoint's user info or query, or in a configured tag, must not become a tag.
        self.static_tags = self.tags = tuple(safe_tag(tag, self.redactor) for tag in self.static_tags)
        # Transport limits, read here so that a bad value fails at the first run, naming its option.
        self.max_body_bytes = max_body_bytes(config)
        self.rate_limit = fetch.RateLimit()
        self.rate_limited = ''
        self.budget = None

    def get_connection(self):
        # Unlike the base, no OK here: a 200 with an HTML page or a cut body is not a good scrape.
        response = fetch.get(self.http, self.endpoint, self.redactor.secrets, budget=self.budget, stream=True)
        if response.status_code == 429:
            response.close()
            wait = self.rate_limit.note(response.headers.get('Retry-After'))
            self.rate_limited = http_errors.rate_limited_message(wait)
            raise http_errors.ScrapeError(self.rate_limited)
        problem = response_problem(response, self.endpoint, self.redactor.sent_key_header(), self.redactor.secrets())
        if problem:
            response.close()
            raise http_errors.ScrapeError(problem)
        if (response.headers.get('Content-Length') or '').strip().isdigit():
            self.submit_telemetry_endpoint_response_size(response)  # without it, the base would read the body whole
        return response

    def stream_connection_lines(self):
        with self.get_connection() as response:
            self.content_type = response.headers.get('Content-Type', '')
            setattr(self, BASE_CONTENT_TYPE, self.content_type)
            # The strict parser skips a line with invalid UTF-8 (kept as lone surrogates); the base's path reads
            # it with replacement characters.
            errors = 'replace' if self.reader is None else 'surrogateescape'
            # The reader drops a family the body stops in by itself; the base's parser needs whole families.
            self.body_lines = BodyLines(
                response,
                self.endpoint,
                self.redactor.secrets(),
                errors=errors,
                budget=self.budget,
                read_timeout=self.http.options['timeout'][1],
                whole_families=self.reader is None,
            )
            yield from self.body_lines

    def explain_failure(self, error):
        """(message, known): what to tell the user, scrubbed; known is False for an error that is a bug."""
        known = True
        if isinstance(error, http_errors.ScrapeError):
            message = str(error)
        elif isinstance(error, (rex.RequestException, u3.HTTPError, OSError, UnicodeEncodeError)) or (
            http_errors.is_invalid_header(error)
        ):
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
        # Partial, not failed: the lines that were read were right and are kept, so WARNING and no run error.
        problems = []
        # Who dropped the family a cut body stopped in: the reader, or the body for the base's parser.
        cut = self.reader if self.reader is not None else self.body_lines
        if cut is not None and cut.cut:
            lines = self.body_lines.lines - cut.dropped
            message = http_errors.cut_short_message(self.body_lines.bytes, cut.cut, lines, cut.dropped, cut.cut_kind)
            problems.append(self.redactor.scrub(message))
            self.count('scrape.truncated', 1, tags=self.tags)
        if self.broken:
            more = self.broken_count - len(self.broken)
            named = '; '.join(self.broken) + (f'; and {more} more' if more else '')
            problems.append(
                f'{self.broken_count} histogram series not submitted this run, their buckets breaking the format '
                f'(with any series the tags combine with them): {self.redactor.scrub(named)}. The others were '
                'submitted.'
            )
        if self.reader is not None and self.reader.ledger.mixed:
            problems.append(http_errors.mixed_processes_message(self.redactor.scrub(self.endpoint)))
        skipped = self.reader.skipped if self.reader is not None else 0
        if skipped:
            problems.append(self.skipped_message())
        # Sent on every successful scrape, 0 included, so a monitor can alert on it.
        self.count('scrape.skipped_lines', skipped, tags=self.tags)
        if problems:
            message = ' '.join(problems)
            self.submit_health_check(ServiceCheck.WARNING, message=message)
            self.warning(message)
        else:
            self.submit_health_check(ServiceCheck.OK)

    def report_folded(self):
        """`scrape.folded_series` per metric that folded in this run, and once per change of what folds, a log
        line saying which labels fold where and how to avoid it. Folding as configured is not a failure."""
        budget = self.tag_policy.budget
        if budget is None:
            return
        folded = self.reader.series.folded(self.reader.tick) if self.reader is not None else {}
        for family, count in budget.folded.items():
            folded[family] = folded.get(family, 0) + count
        for family, count in sorted(folded.items()):
            self.gauge('scrape.folded_series', count, tags=[*self.tags, f'metric:{self.datadog_name(family)}'])
        labels = budget.folded_labels()
        new = {family: names for family, names in labels.items() if budget.reported.get(family) != names}
        if new:
            budget.reported.update(new)
            where = '; '.join(
                f'{self.datadog_name(family)}: {", ".join(names)}' for family, names in sorted(new.items())
            )
            self.log.info(
                'LiteLLM metrics past %d tag sets have labels folded into `other` (series past the room for folded '
                'tag sets fold into one tag set; see litellm.scrape.folded_series): %s. Raise '
                '`max_tag_sets_per_metric` (0: no limit), drop the labels with `exclude_labels`, or at the source: '
                'LiteLLM 1.110+ `prometheus_metrics_max_series_per_metric`, or its per-metric label settings '
                '(`prometheus_metrics_config`).',
                budget.limit,
                where,
            )

    def datadog_name(self, family):
        """The name a family is submitted under, without the type's suffix (`.count`, `.bucket`, ...)."""
        return f'{self.namespace}.{METRIC_MAP.get(family, family)}' if self.namespace else family

    def skipped_message(self):
        reader = self.reader
        line_number, reason, _ = reader.first_skipped
        lines = 'line' if reader.skipped == 1 else 'lines'
        withheld = (
            f' {reader.withheld} combined tag sets they may have belonged to were not submitted this time.'
            if reader.withheld
            else ''
        )
        return (
            f'Skipped {reader.skipped} malformed {lines} of the metrics of {self.redactor.scrub(self.endpoint)} '
            f'(first: line {line_number}, {reason}); every other line was submitted.{withheld} '
            'Debug logging shows each skipped line.'
        )
