# Newcomer commands: `make demo` (the main job) and `make test` (every test). See README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help
CHECK := litellm

.PHONY: help venv lint validate unit test demo fmt

help:
	@echo "make demo   - run the check against a real LiteLLM proxy on this machine"
	@echo "make test   - lint, ddev validations and every test (installs what it needs)"
	@echo "make fmt    - format the code"

venv:
	@scripts/bootstrap.sh >/dev/null

lint: venv
	@echo "== lint"
	cd . && PATH="$(CURDIR)/.cache/venv/bin:$$PATH" ddev --no-interactive --here test --lint $(CHECK)

fmt: venv
	PATH="$(CURDIR)/.cache/venv/bin:$$PATH" ddev --no-interactive --here test --fmt $(CHECK)

# Validations fail when a generated file (conf.yaml.example, config_models) is out of sync with spec.yaml.
validate: venv
	@echo "== ddev validations"
	@export PATH="$(CURDIR)/.cache/venv/bin:$$PATH"; set -e; \
	for v in config models metadata service-checks; do \
		echo "-- validate $$v"; ddev --no-interactive --here validate $$v $(CHECK); \
	done

unit: venv
	@echo "== tests"
	cd $(CHECK) && ../.cache/venv/bin/python -m pytest -p no:cacheprovider -ra tests

test: lint validate unit

demo:
	@echo "make demo: not yet (see the issue 'A real LiteLLM proxy in the loop')"
