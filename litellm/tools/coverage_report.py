"""Prints, per fixture, the LiteLLM families present and mapped: `python -m tools.coverage_report` from litellm/."""

from prometheus_client.parser import text_string_to_metric_families

from datadog_checks.litellm.metrics import METRIC_MAP
from tests.common import read_fixture
from tests.test_coverage import PAYLOADS


def main():
    print(f'{"fixture":52} {"litellm_ families":>17} {"with samples":>12} {"mapped":>6} {"runtime":>7}')
    for payload in PAYLOADS:
        found = list(text_string_to_metric_families(read_fixture(payload, mode='r')))
        litellm = [f for f in found if f.name.startswith('litellm_') and not f.name.endswith('_created')]
        with_samples = [f for f in litellm if f.samples]
        mapped = [f for f in litellm if f.name in METRIC_MAP]
        runtime = [f for f in found if f.name.startswith(('python_', 'process_'))]
        print(f'{payload:52} {len(litellm):17} {len(with_samples):12} {len(mapped):6} {len(runtime):7}')


if __name__ == '__main__':
    main()
