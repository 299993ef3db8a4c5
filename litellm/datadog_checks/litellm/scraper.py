"""The scraper that owns LiteLLM's sample flow: every change to how samples are read, tagged or combined
lives here, so it is made in one place."""

from datadog_checks.base.checks.openmetrics.v2.scraper import OpenMetricsScraper


class LitellmScraper(OpenMetricsScraper):
    def scrape(self):
        self.series = 0
        super().scrape()
        # Sent on every successful scrape of any proxy, whatever its version or settings: no LiteLLM family
        # is (an idle or unlicensed proxy may export none), so this is the manifest's check metric. It also
        # shows the custom-metric cost of the scrape.
        self.gauge('scrape.series', self.series, tags=self.tags)

    def generate_sample_data(self, metric):
        for sample_data in super().generate_sample_data(metric):
            # The +Inf bucket is not submitted: the histogram's `.count` carries it.
            if not sample_data[0].labels.get('upper_bound', '').endswith('inf'):
                self.series += 1
            yield sample_data
