#!/usr/bin/env bash
# Builds (or reuses) the project's Python 3.13 venv under .cache/venv and prints its path.
# Reused while requirements-dev.txt and litellm/pyproject.toml are unchanged.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.cache/venv"
stamp="$venv/.stamp"

find_python() {
    local c
    for c in "${PYTHON:-}" python3.13 "$(command -v pyenv >/dev/null 2>&1 && pyenv root 2>/dev/null)/versions/3.13"*/bin/python3.13; do
        [ -n "$c" ] || continue
        if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; then
            command -v "$c"
            return 0
        fi
    done
    return 1
}

want=$(cat "$root/requirements-dev.txt" "$root/litellm/pyproject.toml" | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python" ]; then
    echo "$venv"
    exit 0
fi

py=$(find_python) || {
    echo "bootstrap: Python 3.13 not found (the Agent embeds 3.13). Install it, or set PYTHON=/path/to/python3.13." >&2
    exit 1
}
echo "bootstrap: building $venv with $py (a few minutes the first time)" >&2
rm -rf "$venv"
"$py" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip >&2
"$venv/bin/python" -m pip install --progress-bar off -r "$root/requirements-dev.txt" -e "$root/litellm" >&2
echo "$want" > "$stamp"
echo "bootstrap: ready" >&2
echo "$venv"
