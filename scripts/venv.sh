#!/usr/bin/env bash
# Create/refresh .venv from requirements-dev.txt (+ requirements.txt). Does nothing when the stamp
# (hash of the requirement files and the interpreter version) matches, so re-runs cost ~0.1 s.
# PYTHON=/path/to/python3.11 overrides the interpreter; RECREATE=1 forces a rebuild.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

VENV=$REPO/.venv
STAMP=$VENV/.requirements.stamp

find_python() {
  local c p
  for c in ${PYTHON:-} python3.11 python3; do
    p=$(command -v "$c" 2>/dev/null) || continue
    # not the interpreter of the .venv this rebuilds (first on PATH once scripts/env.sh ran)
    case "$p" in "$VENV"/*) p=$(PATH=$(echo "$PATH" | tr ':' '\n' | grep -vx "$VENV/bin" | paste -sd:) command -v "$c") || continue ;; esac
    if "$p" -c 'import sys; sys.exit(sys.version_info[:2] < (3, 11))' 2>/dev/null; then
      echo "$p"; return 0
    fi
  done
  echo "venv: need Python >= 3.11 (set PYTHON=...)" >&2
  return 1
}
PY=$(find_python)
PYVER=$("$PY" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
WANT=$( { echo "python $PYVER"; cat requirements-dev.txt requirements.txt; } | sha256sum | cut -d' ' -f1)

if [ -z "${RECREATE:-}" ] && [ -x "$VENV/bin/python" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$WANT" ]; then
  echo "venv: .venv is up to date"
  exit 0
fi

echo "venv: building .venv with $PY (Python $PYVER)"
rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -r requirements-dev.txt
"$VENV/bin/python" -m pip check
echo "$WANT" > "$STAMP"
"$VENV/bin/python" -m pip freeze > "$VENV/pip-freeze.txt"
echo "venv: ready ($(grep -iE '^(ansible-core|molecule|ansible-lint)==' "$VENV/pip-freeze.txt" | tr '\n' ' '))"
