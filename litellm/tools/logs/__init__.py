"""Runs the LiteLLM log pipeline (assets/logs/litellm.yaml) outside Datadog: ``python -m tools.logs FILE``.

The Agent side (agent.py: the documented ``log_processing_rules``, read from the spec's ``logs`` example), the
grok dialect (grok.py) and the processors (pipeline.py). See README.md, "Logs", for what only Datadog confirms.
"""
