#!/usr/bin/env bash
# Tests the wheel built from this tree at both ends of the Agent range the check supports, and in between:
#   agent-7.68   Python 3.12 + datadog-checks-base at pyproject's floor (what Agent 7.68 to 7.71 embed)
#   day-to-day   Python 3.13 + the base requirements-dev.txt pins (the project's venv)
#   newest       Python 3.13 + the newest base on the index (NEWEST_BASE below)
# In each, the wheel is installed as `datadog-agent integration install -w` installs it (pip --no-index --no-deps,
# not editable), the check's tests run against that install at both ends (`make unit` runs every test on the
# day-to-day pair), and every real capture's submissions are dumped; the dumps must be identical across the
# environments. Venvs live in .cache/agent-range/<env>, rebuilt only when
# their inputs change (a stamp, as scripts/bootstrap.sh does). Usage: test-agent-range.sh [env ...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache="$root/.cache/agent-range"
NEWEST_BASE=38.7.0
# The tests every environment runs: parser, unit, tags, filters, licence, coverage, transport, side requests, memory,
# histogram series, URL secrets (the base's error prefix), cut bodies.
TESTS=(test_parser.py test_parser_properties.py test_unit.py test_tags.py test_line_filters.py test_licence.py
    test_coverage.py test_transport.py test_readiness.py test_model_health.py test_scrape_memory.py
    test_bundled_names.py test_histogram_series.py test_url_secrets.py test_cut_filtered.py)

floor=$(grep -oE '"datadog-checks-base>=[0-9.]+"' "$root/litellm/pyproject.toml" | grep -oE '[0-9][0-9.]*')
daily=$(grep -oE '^datadog-checks-base\[deps\]==[0-9.]+' "$root/requirements-dev.txt" | grep -oE '[0-9][0-9.]*$')
tools=$(grep -E '^(datadog-checks-dev|hypothesis)' "$root/requirements-dev.txt")

quiet() {  # run a pip command, without the warnings pip prints for each configured index folder that does not exist
    "$@" 2>&1 | { grep -v "^WARNING: Location '" || true; } >&2
    return "${PIPESTATUS[0]}"
}

find_python() {  # $1 = 3.12 or 3.13, found as scripts/bootstrap.sh finds 3.13
    local want=$1 c
    for c in "python$want" "$(command -v pyenv >/dev/null 2>&1 && pyenv root 2>/dev/null)/versions/$want"*/bin/"python$want"; do
        if command -v "$c" >/dev/null 2>&1 && "$c" -c "import sys; sys.exit(sys.version_info[:2] != tuple(map(int, '$want'.split('.'))))" 2>/dev/null; then
            command -v "$c"
            return 0
        fi
    done
    echo "test-agent-range: Python $want not found (set it on the PATH or under pyenv)" >&2
    return 1
}

env_spec() {  # name -> "python base how"
    case $1 in
        agent-7.68) echo "3.12 $floor deps" ;;
        day-to-day) echo "3.13 $daily deps" ;;
        newest) echo "3.13 $NEWEST_BASE nodeps" ;;
        *) echo "unknown environment $1" >&2; return 1 ;;
    esac
}

install_base() {  # venv base how
    local venv=$1 base=$2 how=$3
    if [ "$how" = deps ]; then
        quiet "$venv/bin/python" -m pip install --quiet --progress-bar off "datadog-checks-base[deps]==$base"
        return
    fi
    # The base's [deps] extra pins a certifi release the index may lack: install the base alone, then its [deps]
    # pins as published, with certifi (the CA bundle, never imported by the check's code) at the newest release
    # the index has when the pinned one is missing. The substitution is printed.
    quiet "$venv/bin/python" -m pip install --quiet --progress-bar off --no-deps "datadog-checks-base==$base"
    quiet "$venv/bin/python" - "$venv" <<'EOF'
import subprocess, sys
from importlib.metadata import requires
from packaging.requirements import Requirement
pins = []
for text in requires('datadog-checks-base') or []:
    req = Requirement(text)
    if req.marker and req.marker.evaluate({'extra': 'deps'}) and not req.marker.evaluate({'extra': ''}):
        pins.append(req)
args = [str(r).split(';')[0].strip() for r in pins if r.name != 'certifi']
certifi = next((str(r).split(';')[0].strip() for r in pins if r.name == 'certifi'), 'certifi')
pip = [sys.executable, '-m', 'pip', 'install', '--quiet', '--progress-bar', 'off']
if subprocess.run(pip + ['--dry-run', certifi], capture_output=True).returncode != 0:
    print(f'test-agent-range: {certifi} is not on the index; installing the newest certifi instead')
    certifi = 'certifi'
subprocess.run(pip + args + [certifi], check=True)
EOF
}

build_env() {  # name -> path of a ready venv
    local name=$1 spec py base how venv want
    spec=$(env_spec "$name")
    read -r py base how <<<"$spec"
    venv="$cache/$name"
    want=$(printf '%s\n%s\n' "$spec" "$tools" | sha256sum | cut -c1-16)
    if [ -f "$venv/.stamp" ] && [ "$(cat "$venv/.stamp")" = "$want" ] && [ -x "$venv/bin/python" ]; then
        echo "$venv"
        return
    fi
    local python
    python=$(find_python "$py")
    echo "test-agent-range: building $venv (Python $py, datadog-checks-base $base; a minute or two the first time)" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv"
    quiet "$venv/bin/python" -m pip install --quiet --progress-bar off --upgrade pip packaging
    install_base "$venv" "$base" "$how"
    # shellcheck disable=SC2086
    quiet "$venv/bin/python" -m pip install --quiet --progress-bar off $tools "datadog-checks-base==$base"
    echo "$want" > "$venv/.stamp"
    echo "$venv"
}

# The check's tree without its code: the tests, fixtures and assets, so that `datadog_checks.litellm` can only be
# imported from the installed wheel.
checkroot() {
    local dir=$1 entry
    rm -rf "$dir" && mkdir -p "$dir"
    for entry in "$root/litellm"/*; do
        case $(basename "$entry") in datadog_checks | dist | build) continue ;; esac
        ln -s "$entry" "$dir/$(basename "$entry")"
    done
}

envs=("$@")
[ ${#envs[@]} -gt 0 ] || envs=(agent-7.68 day-to-day newest)

# One wheel for every environment, built from the tree as a release is.
dist="$cache/dist"
rm -rf "$dist" && mkdir -p "$dist"
"$root/.cache/venv/bin/python" -m build --wheel --outdir "$dist" "$root/litellm" >/dev/null 2>&1 \
    || "$root/.cache/venv/bin/python" -m build --wheel --outdir "$dist" "$root/litellm"
wheel=$(ls "$dist"/datadog_litellm-*-py3-none-any.whl)
echo "== wheel $(basename "$wheel")"

dumps=()
status=0
for name in "${envs[@]}"; do
    venv=$(build_env "$name")
    # Exactly what the Agent runs for a local wheel (less its constraints file, which pins no datadog-* package).
    "$venv/bin/python" -m pip uninstall --quiet --yes datadog-litellm >/dev/null 2>&1 || true
    quiet "$venv/bin/python" -m pip install --no-cache-dir --no-index --no-deps --disable-pip-version-check "$wheel"
    root_dir="$venv/checkroot"
    checkroot "$root_dir"
    versions=$("$venv/bin/python" -c 'import sys; from importlib.metadata import version as v
print("Python", sys.version.split()[0] + ", datadog-checks-base", v("datadog-checks-base") + ", datadog-litellm", v("datadog-litellm"))')
    echo "== $name: $versions"
    start=$SECONDS
    if [ "$name" != day-to-day ]; then
        (cd "$root_dir" && LITELLM_TEST_INSTALLED_WHEEL=1 "$venv/bin/python" -m pytest -p no:cacheprovider -q \
            "${TESTS[@]/#/tests/}") || status=1
    fi
    dump="$cache/$name.submissions.jsonl"
    (cd "$root_dir" && LITELLM_TEST_INSTALLED_WHEEL=1 "$venv/bin/python" -m tools.dump_submissions > "$dump") || status=1
    echo "-- $name: tests and dump in $((SECONDS - start))s; $(wc -l < "$dump") submissions dumped"
    dumps+=("$dump")
done

# Same captures, same submissions: any difference between two environments fails.
for dump in "${dumps[@]:1}"; do
    if ! diff -u "${dumps[0]}" "$dump" > "$dump.diff"; then
        echo "test-agent-range: $(basename "${dumps[0]}") and $(basename "$dump") differ (first lines below; all in $dump.diff)"
        head -40 "$dump.diff"
        status=1
    else
        echo "== $(basename "${dumps[0]}" .submissions.jsonl) and $(basename "$dump" .submissions.jsonl): identical submissions"
        rm -f "$dump.diff"
    fi
done
exit $status
