"""Prints how many tag sets (custom-metric contexts) one scrape of each real capture produces, with the check's
tag defaults and with all of them turned off (every LiteLLM label as a tag, as before the defaults).

    cd litellm && ../.cache/venv/bin/python -m tools.tag_sets
"""

import logging
import re

from datadog_checks.base.stubs import aggregator as stub_aggregator
from datadog_checks.litellm import LitellmCheck
from tests.common import NEWEST, read_fixture, real_fixture_dirs
from tests.http_server import LocalServer, Response

CLIENT_IP = re.compile(r'client_ip="([^"]*)"')

# Every tag default turned off: what the check submitted before them.
ALL_LABELS = {
    'keep_labels': ['client_ip', 'user_agent', 'user_email', 'pid'],
    'drop_none_tags': False,
    'hash_unhashed_api_keys': False,
    'submit_no_limit_sentinels': True,
}


def scrape_counts(payload, **options):
    """(series the check reports in `litellm.scrape.series`, distinct contexts, submissions) for one scrape."""
    stub_aggregator.reset()
    with LocalServer({'/metrics/': Response(payload)}) as server:
        instance = {'openmetrics_endpoint': f'{server.base_url}/metrics/', **options}
        check = LitellmCheck('litellm', {}, [instance])
        error = check.run()
        if error:
            raise RuntimeError(error)
    submitted = [
        m
        for name in stub_aggregator.metric_names
        if name != 'litellm.scrape.series'
        for m in stub_aggregator.metrics(name)
    ]
    contexts = {(m.name, frozenset(m.tags), m.hostname) for m in submitted}
    series = stub_aggregator.metrics('litellm.scrape.series')[0].value
    return int(series), len(contexts), len(submitted)


def more_client_addresses(payload, count):
    """The capture as if each of its callers had come from `count` addresses: every series with a client
    address repeated with addresses 10.<last octet of the original>.x.y (the values are copied as they are)."""
    lines = []
    for line in payload.decode().splitlines():
        match = CLIENT_IP.search(line) if not line.startswith('#') else None
        if match is None:
            lines.append(line)
            continue
        octet = match.group(1).rsplit('.', 1)[-1]
        lines.extend(CLIENT_IP.sub(f'client_ip="10.{octet}.{i // 256}.{i % 256}"', line) for i in range(count))
    return ('\n'.join(lines) + '\n').encode()


def main():
    logging.disable(logging.WARNING)  # the checks' own warnings (an unlicensed capture) are not the numbers
    print(f'{"capture":<34} {"all labels":>10} {"defaults":>9} {"saved":>6}')
    rows = [(version, read_fixture('real', version, 'metrics.txt')) for version in real_fixture_dirs()]
    newest = read_fixture('real', NEWEST, 'metrics.txt')
    rows.append((f'{NEWEST}, callers from 100 addresses', more_client_addresses(newest, 100)))
    for name, payload in rows:
        before = scrape_counts(payload, **ALL_LABELS)
        after = scrape_counts(payload)
        # With the defaults each tag set is submitted once per scrape.
        assert after[1] == after[2], name
        print(f'{name:<34} {before[1]:>10} {after[1]:>9} {1 - after[1] / before[1]:>6.0%}')


if __name__ == '__main__':
    main()
