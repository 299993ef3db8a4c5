"""The request paths LiteLLM serves, to tell them from probed paths in the `route` label.

LiteLLM records the path of every request it authenticates, served or not: scanners and random paths under its
pass-through prefixes each become a `route` value (and a series per caller). The paths below are the ones its
proxy declares (its route lists of 1.74 to 1.110: LLM API, pass-through, management, spend and health routes).
A served route keeps its path, or its template when the path holds an id or a model name (`{name}` is one path
segment, `{name:path}` several; both are tagged `{id}`). Under a pass-through prefix, a path is kept when the rest
is a fixed served route (`/anthropic/v1/messages`) and becomes `<prefix>/*` otherwise; any other path is `other`.
`probed_routes: keep` keeps every path as LiteLLM recorded it.
"""

import functools
import re

# Pass-through prefixes: `/anthropic/v1/messages` is a route LiteLLM serves, `/anthropic/<anything>` is recorded.
PASS_THROUGH_PREFIXES = (
    '/bedrock', '/comprehendmedical', '/vertex-ai', '/vertex_ai', '/cohere', '/cursor', '/gemini', '/anthropic',
    '/langfuse', '/azure', '/azure_ai', '/openai', '/openai_passthrough', '/assemblyai', '/eu.assemblyai', '/vllm',
    '/mistral', '/milvus', '/watsonx',
)  # fmt: skip

_V1 = ('', '/v1')  # most LLM API routes are served with and without `/v1`
_LLM_API = [
    '/chat/completions', '/completions', '/embeddings', '/images/generations', '/images/edits',
    '/images/variations', '/videos', '/videos/{id}', '/videos/{id}/content', '/videos/{id}/remix',
    '/audio/transcriptions', '/audio/translations', '/audio/speech', '/moderations', '/batches', '/batches/{id}',
    '/batches/{id}/cancel', '/files', '/files/{id}', '/files/{id}/content', '/fine_tuning/jobs',
    '/fine_tuning/jobs/{id}', '/fine_tuning/jobs/{id}/cancel', '/assistants', '/assistants/{id}', '/threads',
    '/threads/{id}', '/threads/{id}/messages', '/threads/{id}/runs', '/models', '/models/{id:path}',
    '/model/info', '/rerank', '/realtime', '/realtime/client_secrets', '/realtime/calls',
    '/realtime/transcription_sessions', '/responses', '/responses/{id}', '/responses/{id}/input_items',
    '/responses/{id}/cancel', '/vector_stores', '/vector_stores/{id}', '/vector_stores/{id}/search',
    '/vector_stores/{id}/files', '/vector_stores/{id}/files/{id}', '/vector_stores/{id}/files/{id}/content',
    '/vector_store/list', '/search', '/search/{id}', '/ocr', '/containers', '/containers/{id:path}', '/messages',
    '/messages/count_tokens', '/skills', '/skills/{id}', '/rag/ingest', '/rag/query', '/mcp/tools',
    '/mcp/server', '/mcp/server/{id:path}', '/agents', '/agents/{id}', '/agents/make_public',
    '/agents/{id}/make_public', '/chat/completions/{id}',
]  # fmt: skip
_OTHER = [
    '/engines/{id}/chat/completions', '/engines/{id}/completions', '/engines/{id}/embeddings',
    '/openai/deployments/{id}/chat/completions', '/openai/deployments/{id}/completions',
    '/openai/deployments/{id}/embeddings', '/openai/v1/realtime', '/openai/v1/responses',
    '/openai/v1/responses/{id:path}', '/openai/v1/realtime/{id}', '/cursor/chat/completions', '/v2/rerank',
    '/v1beta/models/{id:path}', '/models/{id:path}', '/interactions', '/interactions/{id:path}',
    '/v1beta/interactions', '/v1beta/interactions/{id:path}', '/v1beta/agents', '/v1beta/agents/{id:path}',
    '/utils/token_counter', '/utils/transform_request', '/guardrails/apply_guardrail', '/mcp', '/mcp/',
    '/mcp/{id:path}', '/mcp-rest/tools/list', '/mcp-rest/tools/call', '/a2a/{id:path}', '/queue/chat/completions',
    # Health, information and the UI's own calls.
    '/', '/routes', '/test', '/health', '/metrics', '/metrics/', '/config/yaml', '/get/ui_settings',
    '/get/user_banner', '/sso/key/generate', '/sso/callback', '/sso/get/ui_settings', '/login', '/logout',
    '/.well-known/litellm-ui-config', '/litellm/.well-known/litellm-ui-config', '/public/model_hub',
    '/public/model_hub/info', '/public/agent_hub', '/public/mcp_hub', '/public/litellm_model_cost_map',
    '/model_group/info', '/v2/model/info', '/v2/key/info', '/v2/user/info', '/v2/team/list', '/v2/guardrails/list',
    '/memory-usage-in-mem-cache', '/memory-usage-in-mem-cache-items', '/debug/asyncio-tasks', '/cache/{id:path}',
    '/jwt/key/mapping/{id}', '/compliance/{id}', '/cost/estimate', '/audit', '/audit/{id}', '/credentials',
    '/credentials/{id}', '/management/v1/spend_logs/{id}', '/gateway/daily/activity', '/cache/ping', '/cache/flushall',
    '/cache/delete', '/cache/redis/info',
]  # fmt: skip

# A path parameter: one segment of the characters LiteLLM's ids and model names hold (no `..`, no dot-file).
_SEGMENT = r'[A-Za-z0-9_\-@:]+(?:\.[A-Za-z0-9_\-@:]+)*'
_PATH = rf'{_SEGMENT}(?:/{_SEGMENT})*'


def _compile(template):
    text = re.escape(template)
    text = re.sub(r'\\\{[a-z_]+:path\\\}', _PATH, text)
    return re.compile(re.sub(r'\\\{[a-z_]+\\\}', _SEGMENT, text))


# Management, spend and health routes: a word after a prefix (`/key/generate`, `/spend/logs`).
_WORDS = {
    '/key': 'generate update delete info regenerate list block unblock health bulk_update aliases reset_spend '
    'service-account/generate {id}/regenerate {id}/reset_spend',
    '/user': 'new update delete info list bulk_update available_roles daily/activity daily/activity/aggregated',
    '/team': 'new update delete info list block unblock available member_add member_delete member_update model/add '
    'model/delete daily/activity daily/activity/aggregated permissions_list permissions_update metadata_schema '
    'key/bulk_update {id}',
    '/organization': 'new update delete info list member_add member_delete member_update spend/report',
    '/customer': 'new update delete info list block unblock',
    '/end_user': 'new update delete info list block unblock',
    '/budget': 'new update delete info list settings',
    '/model': 'new update delete info',
    '/model_group': 'info',
    '/tag': 'new update delete info list daily/activity',
    '/guardrails': 'list apply_guardrail',
    '/spend': 'logs logs/v2 logs/ui logs/session/ui keys users tags calculate',
    '/global': 'spend spend/logs spend/keys spend/teams spend/end_users spend/models spend/report spend/provider '
    'spend/tags spend/all_tag_names spend/reset predict/spend/logs activity activity/model activity/cache_hits',
    '/health': 'readiness liveliness liveness services latest test_connection shared-status history',
    '/config': 'update list field/update field/info field/delete pass_through_endpoint',
    '/utils': 'token_counter transform_request supported_openai_params',
}
_OTHER += [f'{prefix}/{word}' for prefix, words in _WORDS.items() for word in words.split()]
_OTHER += [f'/{what}/spend/report' for what in ('key', 'user', 'team')]

_TEMPLATES = sorted({prefix + route for route in _LLM_API for prefix in _V1} | set(_OTHER))
_FIXED = frozenset(template for template in _TEMPLATES if '{' not in template)
# A route with an id or a model name in its path (`/v1/files/{id}`) is tagged by its template: a scanner could
# otherwise send a value per request.
_MATCHERS = [(_compile(template), template.replace(':path}', '}')) for template in _TEMPLATES if '{' in template]


@functools.lru_cache(maxsize=4096)
def route_value(path):
    """The `route` tag of a path: the path (or its template) when LiteLLM serves it, else `<pass-through prefix>/*`
    or `other`."""
    served = _served(path)
    if served is not None:
        return served
    for prefix in PASS_THROUGH_PREFIXES:
        if path.startswith(prefix + '/'):
            # Forwarded as is: a route of the provider's API keeps its path, anything else is the prefix's.
            rest = path[len(prefix) :]
            return path if rest in _FIXED else prefix + '/*'
    return 'other'


def _served(path):
    if path in _FIXED:
        return path
    for matcher, template in _MATCHERS:
        if matcher.fullmatch(path):
            return template
    return None
