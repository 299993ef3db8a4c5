#!/usr/bin/env bash
# Runs the parser and unit tests against the oldest datadog-checks-base the check supports: the floor of
# litellm/pyproject.toml (`datadog-checks-base>=X`). The fast parser overrides private parts of the base's
# scraper, so both ends of the supported range are tested (`make unit` runs the newest, pinned in
# requirements-dev.txt). Its venv, .cache/venv-oldest, is built once and reused while the floor and the test
# tools' pins are unchanged.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.cache/venv-oldest"
stamp="$venv/.stamp"

floor=$(grep -oE '"datadog-checks-base>=[0-9.]+"' "$root/litellm/pyproject.toml" | grep -oE '[0-9][0-9.]*')
tools=$(grep -E '^(datadog-checks-dev|hypothesis)' "$root/requirements-dev.txt")
want=$(printf '%s\n%s\n' "$floor" "$tools" | sha256sum | cut -c1-16)

if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ ! -x "$venv/bin/python" ]; then
    # The same Python 3.13 as the project's venv (scripts/bootstrap.sh found it).
    python=$("$root/.cache/venv/bin/python" -c 'import sys; print(sys._base_executable)')
    echo "test-oldest-base: building $venv with datadog-checks-base $floor (a minute or two the first time)" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv"
    # shellcheck disable=SC2086
    "$venv/bin/python" -m pip install --quiet --progress-bar off "datadog-checks-base[deps]==$floor" $tools >&2
    "$venv/bin/python" -m pip install --quiet --progress-bar off --no-deps -e "$root/litellm" >&2
    echo "$want" > "$stamp"
fi

echo "== tests against datadog-checks-base $floor"
cd "$root/litellm"
exec "$venv/bin/python" -m pytest -p no:cacheprovider -q tests/test_parser.py tests/test_parser_properties.py \
    tests/test_unit.py tests/test_tags.py tests/test_line_filters.py tests/test_licence.py tests/test_scrape_memory.py
