"""ddev's manifest validators, run offline on manifest.json (`ddev validate manifest` is gone; its validators remain in
datadog_checks.dev), with the immutable-attributes check against the published integration's identity
(fixtures/published/manifest_identity.json: app_id, app_uuid, source type, dashboard and monitor short names)."""

import copy
import json
import os
from unittest import mock

import pytest

from .common import FIXTURES, HERE

# ddev's tooling needs the CLI extras of datadog-checks-dev (the project venv has them; ddev's test env does not).
pytest.importorskip('datadog_checks.dev.tooling.manifest_validator', reason='no ddev tooling: make validate runs it')

from datadog_checks.dev.tooling.constants import get_root, set_root  # noqa: E402
from datadog_checks.dev.tooling.datastructures import JSONDict  # noqa: E402
from datadog_checks.dev.tooling.manifest_validator import get_all_validators  # noqa: E402
from datadog_checks.dev.tooling.manifest_validator.constants import V2_STRING  # noqa: E402

CHECK_ROOT = os.path.dirname(HERE)
CHECK = os.path.basename(CHECK_ROOT)
PUBLISHED = os.path.join(FIXTURES, 'published', 'manifest_identity.json')


def load(path):
    with open(path, encoding='utf-8') as f:
        return json.load(f)


@pytest.fixture
def validate():
    """validate(manifest) -> (failures, warnings) of the offline validators, against the published identity."""
    previous_root = get_root()
    set_root(os.path.dirname(CHECK_ROOT))
    published = load(PUBLISHED)

    def run(manifest):
        failures, warnings = [], []
        show = mock.patch(
            'datadog_checks.dev.tooling.manifest_validator.common.validator.git_show_file',
            lambda path, ref: json.dumps(published),
        )
        with show:
            for validator in get_all_validators(None, V2_STRING, ignore_schema=True):
                validator.validate(CHECK, JSONDict(copy.deepcopy(manifest)), False)
                failures += validator.result.messages['failure']
                warnings += validator.result.messages['warning']
        return failures, warnings

    yield run
    set_root(previous_root)


def test_manifest_passes_every_offline_validator(validate):
    failures, warnings = validate(load(os.path.join(CHECK_ROOT, 'manifest.json')))
    assert not failures, '\n'.join(failures)
    # The only warning: the tile's documentation is not published from this repository.
    assert all('display_on_public_website' in w for w in warnings), warnings


@pytest.mark.parametrize(
    'path, value',
    [
        (('app_uuid',), 'e28e7a3d-72fe-4d9a-8326-c9890e588aa6'),
        (('app_id',), 'litellm-proxy'),
        (('assets', 'integration', 'source_type_name'), 'LiteLLM proxy'),
        (('tile', 'description'), 'Monitor the LiteLLM proxy: requests, tokens, spend, latency, deployments, budgets.'),
    ],
)
def test_validators_refuse_a_changed_identity(validate, path, value):
    manifest = load(os.path.join(CHECK_ROOT, 'manifest.json'))
    node = manifest
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    failures, _ = validate(manifest)
    assert failures


def test_validators_refuse_a_dropped_published_monitor(validate):
    manifest = load(os.path.join(CHECK_ROOT, 'manifest.json'))
    manifest['assets']['monitors'].pop('High Fallback Failure Rate Detected')
    failures, _ = validate(manifest)
    assert any('High Fallback Failure Rate Detected' in f for f in failures)


def test_same_source_type_id_as_published():
    # Not among ddev's immutable attributes, but the tile's data is keyed by it.
    ours, published = load(os.path.join(CHECK_ROOT, 'manifest.json')), load(PUBLISHED)
    assert ours['assets']['integration']['source_type_id'] == published['assets']['integration']['source_type_id']
    assert len(ours['tile']['description']) <= 80
