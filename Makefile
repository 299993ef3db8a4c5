# Newcomer commands: `make demo` (the main job) and `make test` (every test). See README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help
CHECK := litellm

.PHONY: help venv lint validate live-env unit agent-range oldest-base test demo fmt

help:
	@echo "make demo   - run the check against a real LiteLLM proxy on this machine"
	@echo "make test   - lint, ddev validations and every test (installs what it needs)"
	@echo "make bench  - scrape benchmark (CPU, memory, series per scrape for 10, 50, 300 callers; a 3,000-key scrape with and without a budget)"
	@echo "make fmt    - format the code"
	@echo "make live-env - install the LiteLLM proxy and redis-server the live tests use (make test does it)"

venv:
	@scripts/bootstrap.sh >/dev/null

lint: venv
	@echo "== lint"
	cd . && PATH="$(CURDIR)/.cache/venv/bin:$$PATH" ddev --no-interactive --here test --lint $(CHECK)

fmt: venv
	PATH="$(CURDIR)/.cache/venv/bin:$$PATH" ddev --no-interactive --here test --fmt $(CHECK)

# Validations fail when a generated file (conf.yaml.example, config_models) is out of sync with spec.yaml, and on
# metadata, service checks, dashboards, the tile README, package metadata, HTTP use and dependencies that Datadog
# would refuse; then ddev's manifest validators, offline (`ddev validate manifest` is gone), as a test.
validate: venv
	@echo "== ddev validations"
	@export PATH="$(CURDIR)/.cache/venv/bin:$$PATH"; set -e; \
	for v in config models metadata service-checks dashboards readmes package imports http dep eula saved-views \
		legacy-signature; do \
		echo "-- validate $$v"; ddev --no-interactive --here validate $$v $(CHECK); \
	done
	@echo "-- manifest validators"
	cd $(CHECK) && ../.cache/venv/bin/python -m pytest -p no:cacheprovider -q tests/test_manifest.py

# The pinned LiteLLM proxy (tests/common.py: LITELLM_VERSION) and redis-server for the live tests, installed once
# under .cache/litellm/<version> and reused. In CI (CI=true) a failed install fails; elsewhere the live tests skip.
live-env: venv
	@echo "== live environment (LiteLLM proxy venv, redis-server)"
	@cd $(CHECK) && ../.cache/venv/bin/python -m tools.live_env install

# Every test, with the standard toolchain: `ddev --here test` runs them in its hatch environment (Python 3.13 and the
# base hatch.toml pins), the live tests against what `make live-env` installed.
unit: venv live-env
	@echo "== tests (ddev --here test)"
	PATH="$(CURDIR)/.cache/venv/bin:$$PATH" ddev --no-interactive --here test $(CHECK) -- -p no:cacheprovider -ra

# Both ends of the supported Agent range: the wheel built from the tree, installed as the Agent installs it, tested
# on Python 3.12 + the base of Agent 7.68 and on Python 3.13 + the newest base, and its submissions on every real
# capture diffed across those and the day-to-day pair (venvs cached in .cache/agent-range; see the script).
agent-range: venv
	@scripts/test-agent-range.sh

# The oldest end alone.
oldest-base: venv
	@scripts/test-agent-range.sh agent-7.68 day-to-day

test: lint validate unit agent-range

demo: venv
	@.cache/venv/bin/python scripts/demo.py

# Scrape benchmark: CPU, wall, peak RSS and contexts per scrape of a payload grown for N = 10, 50, 300 callers,
# then a 100-scrape memory run, a profile, and a 3,000-key scrape with and without a tag budget (about 20 minutes on
# 2 cores). Options: make bench BENCH_ARGS=--quick, BENCH_ARGS=--full-only
.PHONY: bench
bench: venv
	@.cache/venv/bin/python scripts/bench.py $(BENCH_ARGS)
