"""The log pipeline (assets/logs/litellm.yaml) run by the runner (tools/logs) on every captured line of real
proxies (fixtures/logs/<version>-<mode>-<verbosity>, made by tools/harness/capture_logs.py).

What a record's first line states is read here with the test's own patterns, independent of the pipeline's
grok rules, and the runner's output must agree: the status from the level written in the line (an access
line's from its HTTP status class), never from the stream; the full date from the line's time; the logger and
file:line; the access fields; the traceback in error.stack."""

import datetime
import json
import os
import re

import pytest
import yaml

from tools.harness.capture_logs import MAX_RECORDS_PER_LOCATION, trim_records
from tools.logs.__main__ import load_pipeline, run_file
from tools.logs.agent import AgentRules, processing_rules
from tools.logs.grok import Grok, GrokError
from tools.logs.pipeline import status_of

from .common import FIXTURES, HERE

CHECK_ROOT = os.path.dirname(HERE)
LOGS = os.path.join(FIXTURES, 'logs')
CAPTURES = sorted(d for d in os.listdir(LOGS) if os.path.isfile(os.path.join(LOGS, d, 'provenance.json')))
STREAMS = [(c, s) for c in CAPTURES for s in ('stdout', 'stderr')]
INTAKE = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
INTAKE_MS = int(INTAKE.timestamp() * 1000)

ANSI = r'(?:\x1b\[[0-9;]*m)?'
PLAIN = re.compile(ANSI + r'(\d\d:\d\d:\d\d) - ([^:\n]+):([A-Z]+)' + ANSI + r': ([^\s:]+):(\d+) - ')
UVICORN = re.compile(r'(DEBUG|INFO|WARNING|ERROR|CRITICAL):\s+')
ACCESS = re.compile(r'(?:[A-Z]+:\s+)?([\d.]+):(\d+) - "([A-Z]+) (\S+) HTTP/([\d.]+)" (\d{3})')
# a traceback starts a line (one quoted inside a message, with escaped newlines, is not one)
TRACEBACK = re.compile(r'^Traceback \(most recent call last\):', re.M)
EXCEPTION_LINE = re.compile(r'^([A-Za-z_][\w.]*(?:Error|Exception)): (.*)$', re.M)
EXPECTED_STATUS = {'DEBUG': 'debug', 'INFO': 'info', 'WARNING': 'warn', 'ERROR': 'error', 'CRITICAL': 'critical'}


def provenance(capture):
    with open(os.path.join(LOGS, capture, 'provenance.json'), encoding='utf-8') as f:
        return json.load(f)


def capture_day(capture):
    return datetime.date.fromisoformat(provenance(capture)['captured_at'][:10])


def records(capture, stream):
    path = os.path.join(LOGS, capture, stream + '.log')
    day = capture_day(capture)
    return run_file(path, today=day, intake_time=INTAKE_MS, pipeline=load_pipeline(day))


def raw_records(capture, stream):
    with open(os.path.join(LOGS, capture, stream + '.log'), encoding='utf-8') as f:
        lines = f.read().split('\n')
    if lines and lines[-1] == '':
        lines.pop()
    return dict(AgentRules().records(lines))


def http_class(code):
    return {2: 'ok', 3: 'notice', 4: 'warn', 5: 'error'}[code // 100]


def test_captures_cover_three_releases_both_modes_and_verbosities():
    got = {tuple(c.split('-')) for c in CAPTURES}
    versions = {v for v, _, _ in got}
    assert len(versions) >= 3, versions
    for version in versions:
        for mode in ('plain', 'json'):
            for verbosity in ('default', 'debug'):
                assert (version, mode, verbosity) in got


@pytest.mark.parametrize('capture,stream', STREAMS)
def test_every_record_gets_the_level_date_logger_and_fields_its_line_states(capture, stream):
    raw = raw_records(capture, stream)
    day = capture_day(capture)
    out = records(capture, stream)
    assert out, 'no record'
    for rec in out:
        text = raw[rec['line']]
        where = f"{capture}/{stream}.log:{rec['line']}"
        first = text.split('\n', 1)[0]
        plain, access = PLAIN.match(first), ACCESS.match(first)
        data = None
        if first.startswith('{'):
            try:
                data = json.loads(text)
            except ValueError:
                data = None
        if data is not None and ACCESS.match(str(data.get('message', ''))):
            access = ACCESS.match(data['message'])
        if access:
            ip, port, method, url, version, code = access.groups()
            assert rec['status'] == http_class(int(code)), where
            assert rec['http'] == {
                'method': method,
                'url': url,
                'version': version,
                'status_code': int(code),
                'status_category': rec['http']['status_category'],
            }, where
            assert rec['network']['client'] == {'ip': ip, 'port': int(port)}, where
        elif plain:
            time, logger, level, file, line = plain.groups()
            assert rec['status'] == EXPECTED_STATUS[level], where
            assert rec['date'] == f'{day.isoformat()}T{time}.000Z', where
            assert rec['logger']['name'] == logger, where
            assert rec['litellm']['file'] == file and rec['litellm']['line'] == int(line), where
            if not text[plain.end() :].startswith('Traceback'):  # a bare traceback keeps the whole record
                assert not rec['message'].startswith(time) and rec['message'] in text, where
        elif data is not None and isinstance(data, dict) and 'level' in data:
            assert rec['status'] == EXPECTED_STATUS[data['level']], where
            stamp = datetime.datetime.fromisoformat(data['timestamp']).replace(tzinfo=datetime.UTC)
            assert rec['date'] == stamp.isoformat(timespec='milliseconds').replace('+00:00', 'Z'), where
            if 'component' in data:
                assert rec['logger']['name'] == data['component'], where
            if isinstance(data.get('logger'), str) and ':' in data['logger']:
                file, _, line = data['logger'].rpartition(':')
                assert rec['litellm']['file'] == file and rec['litellm']['line'] == int(line), where
            if data.get('stacktrace'):
                assert rec['error']['stack'] == data['stacktrace'], where
                raised = EXCEPTION_LINE.findall(data['stacktrace'])
                if raised:
                    assert (rec['error']['kind'], rec['error']['message'].split('\n')[0]) == raised[-1], where
        elif UVICORN.match(first):
            assert rec['status'] == EXPECTED_STATUS[UVICORN.match(first).group(1)], where
            assert rec['date'] == INTAKE.isoformat(timespec='milliseconds').replace('+00:00', 'Z'), where
        elif TRACEBACK.search(text):
            assert rec['status'] == 'error', where
        else:
            # prints (the banner, model lists): no level written, so no error whatever the stream
            assert rec['status'] == 'info', where
        if TRACEBACK.search(text) and data is None:
            stack = rec['error']['stack']
            assert stack.startswith('Traceback (most recent call last):') and stack in text, where
            raised = EXCEPTION_LINE.findall(stack)
            if raised:  # the exception that ends the traceback (the last one of a chain)
                assert (rec['error']['kind'], rec['error']['message'].split('\n')[0]) == raised[-1], where


@pytest.mark.parametrize('capture,stream', STREAMS)
def test_a_traceback_stays_in_the_record_that_logged_it(capture, stream):
    for number, text in raw_records(capture, stream).items():
        first = text.split('\n', 1)[0]
        assert not first.startswith(('  File "', 'Traceback (most recent call last)', 'During handling')), (
            f'{capture}/{stream}.log:{number} starts a record inside a traceback'
        )


def test_nothing_is_an_error_only_because_it_came_from_stderr():
    seen = 0
    for capture in CAPTURES:
        raw = raw_records(capture, 'stderr')
        for rec in records(capture, 'stderr'):
            first = raw[rec['line']].split('\n', 1)[0]
            stated = PLAIN.match(first) or UVICORN.match(first)
            level = (stated.group(3) if stated and stated.re is PLAIN else stated.group(1)) if stated else None
            if first.startswith('{'):
                level = json.loads(raw[rec['line']]).get('level')
            if level in ('DEBUG', 'INFO', 'WARNING'):
                seen += 1
                assert rec['status'] != 'error', (capture, rec['line'])
    assert seen > 50, 'stderr holds INFO and WARNING lines in the captures'


@pytest.mark.parametrize('capture', CAPTURES)
def test_the_datadog_callback_events_keep_what_users_filter_on(capture):
    path = os.path.join(LOGS, capture, 'events.jsonl')
    if not os.path.getsize(path):
        pytest.skip('this release posted no event to the loopback sink (see provenance.json)')
    out = run_file(path, intake=True, intake_time=INTAKE_MS, pipeline=load_pipeline())
    with open(path, encoding='utf-8') as f:
        sent = [json.loads(line) for line in f]
    assert {e['status'] for e in sent} == {'info', 'error'}
    for rec, item in zip(out, sent, strict=False):
        payload = json.loads(item['message'])
        event = rec['litellm']
        assert rec['source'] == 'litellm' and rec['status'] == item['status']
        if 'error_class' in payload:
            # a proxy-level failure (auth, routing): the exception and the caller's key details
            assert rec['error']['kind'] == payload['error_class'] and rec['error']['message'] == payload['exception']
            assert rec['error']['stack'] == payload['traceback'] and 'user_api_key_alias' in event['metadata']
            continue
        for key in ('model', 'model_group', 'response_cost', 'total_tokens', 'prompt_tokens', 'completion_tokens'):
            assert event[key] == payload[key], key
        assert event['status'] == payload['status'] == ('success' if item['status'] == 'info' else 'failure')
        assert 'user_api_key_alias' in event['metadata'] and 'user_api_key_team_alias' in event['metadata']
        if payload['status'] == 'failure':
            assert rec['error']['kind'] == payload['error_information']['error_class']
            assert rec['error']['message'] == payload['error_str']


def test_keys_lifted_from_a_json_message_never_take_a_reserved_attribute():
    # a real 1.110.2 line: LiteLLM lifted `error` out of the message to the top level
    with open(os.path.join(LOGS, '1.110.2-json-default', 'stderr.log'), encoding='utf-8') as f:
        line = next(raw for raw in f if '"error": ' in raw)
    lifted = json.loads(line)
    lifted.update(host='another-host', service='spoofed', status='success', hostname='h', http={'x': 1})
    path_out = load_pipeline().run(json.dumps(lifted), intake_time=INTAKE_MS)
    assert path_out['status'] == 'error'  # from `level`, whatever `status` says
    assert path_out['litellm']['error'] == json.loads(line)['error']
    assert path_out['litellm']['host'] == 'another-host' and path_out['litellm']['service'] == 'spoofed'
    assert path_out['litellm']['status'] == 'success' and path_out['litellm']['http'] == {'x': 1}
    assert set(path_out.get('error', {})) <= {'stack', 'kind', 'message'}
    assert 'http' not in path_out and 'hostname' not in path_out


SECRET_SHAPES = [
    'sk-' + 'a1' * 24,
    'sk-proj-' + 'Ab9_' * 10,
    'sk-ant-api03-' + 'x' * 40,
    'AIza' + 'B' * 35,
    'AKIA' + 'ABCDEFGHIJKLMNOP',
]


def test_mask_sequences_hide_every_key_in_the_captures():
    agent = AgentRules()
    found = 0
    for capture in CAPTURES:
        for name in ('stdout.log', 'stderr.log', 'events.jsonl'):
            with open(os.path.join(LOGS, capture, name), encoding='utf-8') as f:
                text = f.read()
            found += len(re.findall(r'\bsk-REDACTED', text))
            masked = agent.mask(text)
            assert not re.search(r'\bsk-(?!\[MASKED\])', masked), (capture, name)
    # 1.80.11 prints the master key and the upstream key in clear at debug level (scrubbed to sk-REDACTED-*)
    assert found > 100
    assert provenance('1.80.11-plain-debug')['keys_in_clear_before_scrub']['stderr']


@pytest.mark.parametrize('secret', SECRET_SHAPES)
def test_mask_sequences_hide_provider_key_shapes_in_real_lines(secret):
    agent = AgentRules()
    with open(os.path.join(LOGS, '1.80.11-plain-debug', 'stderr.log'), encoding='utf-8') as f:
        lines = [line for line in f if 'sk-REDACTED' in line][:20]
    assert lines
    for line in lines:
        masked = agent.mask(re.sub(r'sk-REDACTED-\w+', secret, line))
        assert secret not in masked and secret[6:20] not in masked


def test_mask_keeps_the_name_of_a_credential_and_hides_its_value():
    agent = AgentRules()
    assert agent.mask("'api_key': 'abcdef123456'") == "'api_key': '[MASKED]'"
    assert agent.mask('{\\"Authorization\\": \\"Bearer tok_abcdef123\\"}') == '{\\"Authorization\\": \\"[MASKED]\\"}'
    assert agent.mask('model=gpt-4 risk-assessment sk-12') == 'model=gpt-4 risk-assessment sk-12'


def pipeline_definition():
    with open(os.path.join(CHECK_ROOT, 'assets', 'logs', 'litellm.yaml'), encoding='utf-8') as f:
        return yaml.safe_load(f)


def test_pipeline_tests_file_results_come_from_the_runner():
    with open(os.path.join(CHECK_ROOT, 'assets', 'logs', 'litellm_tests.yaml'), encoding='utf-8') as f:
        tests = yaml.safe_load(f)
    assert tests['id'] == 'litellm' and len(tests['tests']) >= 8
    from tools.logs.tests_file import TODAY, expected

    pipeline = load_pipeline(TODAY)
    for case in tests['tests']:
        assert case['result'] == expected(pipeline, case['sample']), case['sample'][:80]


def test_manifest_spec_readme_and_pipeline_agree():
    definition = pipeline_definition()
    with open(os.path.join(CHECK_ROOT, 'manifest.json'), encoding='utf-8') as f:
        manifest = json.load(f)
    with open(os.path.join(CHECK_ROOT, 'README.md'), encoding='utf-8') as f:
        readme = f.read()
    with open(os.path.join(CHECK_ROOT, 'assets', 'configuration', 'spec.yaml'), encoding='utf-8') as f:
        spec = yaml.safe_load(f)
    logs = next(o for o in spec['files'][0]['options'] if o.get('template') == 'logs')['example'][0]
    assert manifest['assets']['logs']['source'] == definition['id'] == logs['source'] == 'litellm'
    assert definition['pipeline']['filter']['query'] == 'source:litellm'
    assert 'Category::Log Collection' in manifest['tile']['classifier_tags']
    for rule in processing_rules():
        assert rule['pattern'] in readme, rule['name']
    example_path = os.path.join(CHECK_ROOT, 'datadog_checks', 'litellm', 'data', 'conf.yaml.example')
    with open(example_path, encoding='utf-8') as f:
        example = f.read()
    assert 'litellm_record_start' in example
    # every facet is a path the pipeline fills on real output
    filled = set()

    def paths(obj, prefix=''):
        for key, value in obj.items():
            if isinstance(value, dict):
                paths(value, prefix + key + '.')
            else:
                filled.add(prefix + key)

    for capture in CAPTURES:
        for rec in records(capture, 'stderr') + records(capture, 'stdout'):
            paths(rec)
        path = os.path.join(LOGS, capture, 'events.jsonl')
        for rec in run_file(path, intake=True, intake_time=INTAKE_MS, pipeline=load_pipeline()):
            paths(rec)
    for facet in definition['facets']:
        assert facet['path'] in filled, facet['path']


def test_trimmed_fixtures_keep_whole_records():
    text = '\n'.join(
        ['12:00:00 - LiteLLM:ERROR: a.py:1 - boom', 'Traceback (most recent call last):', '  File "x", line 1'] * 6
        + ['INFO:     done']
    )
    trimmed, removed = trim_records(text)
    assert removed == 6 - MAX_RECORDS_PER_LOCATION
    assert trimmed.count('Traceback') == MAX_RECORDS_PER_LOCATION and trimmed.endswith('INFO:     done')
    assert trimmed.count('  File "x"') == MAX_RECORDS_PER_LOCATION


# The grok dialect, on cases of its documented behaviour


def test_grok_first_matching_rule_wins_and_helper_rules_expand():
    grok = Grok('a %{_n:x} b\nb %{_n:y}.*', '_n %{integer}')
    # a helper rule's inner matcher converts nothing when the helper itself is captured (as VRL does)
    assert grok.parse('7 b') == {'x': '7'}
    assert grok.parse('7 c') == {'y': '7'}
    assert Grok('a %{_n} b', '_n %{integer:x}').parse('7 b') == {'x': 7}
    assert grok.parse('c') is None


def ms(*args):
    return int(datetime.datetime(*args, tzinfo=datetime.UTC).timestamp() * 1000)


def test_grok_date_without_a_day_takes_today_and_the_timezone():
    grok = Grok('r %{date("HH:mm:ss"):t}', today=datetime.date(2026, 1, 2))
    assert grok.parse('03:04:05') == {'t': ms(2026, 1, 2, 3, 4, 5)}
    paris = Grok('r %{date("yyyy-MM-dd HH:mm:ss", "Europe/Paris"):t}')
    assert paris.parse('2026-07-01 12:00:00') == {'t': ms(2026, 7, 1, 10)}


def test_grok_nests_paths_converts_and_parses_json():
    grok = Grok('r %{ip:network.client.ip}:%{integer:network.client.port} %{data:j:json}')
    assert grok.parse('127.0.0.1:80 {"a": [1]}') == {
        'network': {'client': {'ip': '127.0.0.1', 'port': 80}},
        'j': {'a': [1]},
    }


def test_grok_data_spans_lines_and_unknown_matchers_fail_loudly():
    assert Grok('r %{word:a} %{data:b}').parse('x one\ntwo') == {'a': 'x', 'b': 'one\ntwo'}
    with pytest.raises(GrokError):
        Grok('r %{keyvalue:a}')


def test_status_remapper_rules():
    assert [status_of(v) for v in ('WARNING', 'Error', 'fatal', 'CRITICAL', 'success', 'OK', 3, 'TRACE', 'x')] == [
        'warn',
        'error',
        'emergency',
        'critical',
        'ok',
        'ok',
        'error',
        'debug',
        'info',
    ]
