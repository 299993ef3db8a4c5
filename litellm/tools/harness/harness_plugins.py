"""LiteLLM plugins of the harness's ``features`` profile: guardrails and a logging callback.

This module is loaded by the PROXY (inside its LiteLLM venv), never by the tests: ``proxy.py`` copies
it next to the generated config.yaml, and LiteLLM resolves ``harness_plugins.<name>`` relative to the
config file. Everything here is opt-in per request, so traffic that does not ask for it is unchanged:

  guardrails      requests list them in the body: ``"guardrails": ["harness-pass-pre", ...]``
  failing logger  fails only for requests tagged ``FAIL_LOGGING_TAG`` (``"metadata": {"tags": [...]}``)
"""

from fastapi import HTTPException
from litellm.integrations.custom_guardrail import CustomGuardrail
from litellm.integrations.custom_logger import CustomLogger

FAIL_LOGGING_TAG = "harness-fail-logging"
BLOCKED_MESSAGE = "blocked by the harness guardrail"


class PassingGuardrail(CustomGuardrail):
    """Lets everything through, at whichever hook it is configured for."""

    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        return data

    async def async_moderation_hook(self, data, user_api_key_dict, call_type):
        return None

    async def async_post_call_success_hook(self, data, user_api_key_dict, response):
        return response


class BlockingGuardrail(CustomGuardrail):
    """Rejects every request it runs on with a 400, like a content filter that found something."""

    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        raise HTTPException(status_code=400, detail={"error": BLOCKED_MESSAGE})


class FailingLogger(CustomLogger):
    """A logging callback whose success handler raises for tagged requests (a broken log sink)."""

    @staticmethod
    def _tagged(kwargs) -> bool:
        payload = kwargs.get("standard_logging_object") or {}
        tags = payload.get("request_tags") or []
        metadata = (kwargs.get("litellm_params") or {}).get("metadata") or {}
        return FAIL_LOGGING_TAG in tags or FAIL_LOGGING_TAG in (metadata.get("tags") or [])

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        if self._tagged(kwargs):
            raise RuntimeError("the harness log sink is down (on purpose)")


failing_logger = FailingLogger()
