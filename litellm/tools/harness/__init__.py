"""Capture harness: runs a real LiteLLM proxy on loopback against a fake upstream.

Modules:
  fake_upstream  - stdlib-only fake OpenAI-compatible upstream server
  proxy          - venv management, redis, proxy start/stop, traffic driver, scrapers
  capture        - CLI writing raw captures under tests/fixtures/real/<version>/
  harness_plugins - guardrails and a logging callback of the ``features`` profile, loaded by the
                   proxy itself (copied next to its config), never imported by the tests
"""
