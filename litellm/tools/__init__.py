"""Tools that are not tests: the live proxy environment and capture harness, payload growth, generators, reports.

Run from `litellm/` as `python -m tools.<name>`."""
