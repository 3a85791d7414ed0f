#!/usr/bin/env bash
# ansible-test sanity|units on a clean copy of the collection: scripts/ansible-test.sh sanity|units [args]
# ansible-test needs the tree at .../ansible_collections/<namespace>/<name>: copy what git tracks plus
# untracked files that are not ignored into .build/<command>/ansible_collections/certrelay/exim, make
# it a git repo (ansible-test then sees exactly these files) and run the tests there.
# Extra arguments go to ansible-test (e.g. scripts/ansible-test.sh sanity --test pylint).
set -euo pipefail
# shellcheck source=scripts/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO"

COMMAND=${1:?usage: scripts/ansible-test.sh sanity|units [ansible-test args...]}
shift
case $COMMAND in sanity|units) ;; *) echo "ansible-test.sh: sanity or units, not $COMMAND" >&2; exit 2 ;; esac

read -r NS NAME < <(python3 -c 'import yaml; g = yaml.safe_load(open("galaxy.yml")); print(g["namespace"], g["name"])')
ROOT=$REPO/.build/$COMMAND
DEST=$ROOT/ansible_collections/$NS/$NAME

rm -rf "$ROOT"
mkdir -p "$DEST"
git ls-files -co --exclude-standard -z |
  while IFS= read -r -d '' f; do
    if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi   # skip deleted-but-tracked files
  done |
  tar -C "$REPO" --null --no-recursion -T - -cf - | tar -C "$DEST" -xf -
git -C "$DEST" init -q
git -C "$DEST" add -A
git -C "$DEST" -c user.name=sanity -c user.email=sanity@invalid -c commit.gpgsign=false \
  commit -q --no-verify -m "$COMMAND snapshot"
echo "$COMMAND: $(git -C "$DEST" ls-files | wc -l) files copied to $DEST"

# ansible-test bootstraps pip in each sanity virtualenv with a get-pip script downloaded from
# ci-files.testing.ansible.com, which is unreachable here (only PyPI is). Put a stand-in into its
# cache (~/.ansible/test/cache/get_pip_<version>.py): like get-pip.py it runs a bundled pip (the
# wheel ensurepip ships) to install the requested pip version from PyPI.
PIP_VERSION=$(python3 -c 'import types
from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(types.SimpleNamespace(version="3.11"))["pip"])')
GET_PIP=$HOME/.ansible/test/cache/get_pip_${PIP_VERSION//./_}.py
if [ ! -s "$GET_PIP" ]; then
  mkdir -p "$(dirname "$GET_PIP")"
  cat > "$GET_PIP" <<'PY'
# Offline stand-in for ansible-test's get-pip bootstrap script (written by certrelay.exim
# scripts/ansible-test.sh: ci-files.testing.ansible.com is unreachable, PyPI is reachable).
# Like get-pip.py it runs a bundled pip - the wheel ensurepip ships - to install the requested pip.
import glob
import os
import subprocess
import sys

import ensurepip

wheels = sorted(glob.glob(os.path.join(os.path.dirname(ensurepip.__file__), "_bundled", "pip-*.whl")))
if not wheels:
    sys.exit("get-pip stand-in: ensurepip has no bundled pip wheel")
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, os.path.join(wheels[-1], "pip"), "install", "--upgrade"] + args))
PY
  echo "$COMMAND: wrote pip bootstrap stand-in $GET_PIP"
fi

# Hermetic: ansible-test sets up its own collection path for the copy.
unset ANSIBLE_COLLECTIONS_PATH ANSIBLE_PYTHON_INTERPRETER PYTHONPATH

cd "$DEST"
# Test requirements come from PyPI into virtualenvs under ~/.ansible/test/venv (cached).
# No --requirements: that would also pip-install ansible-test's own requirements into .venv.
if [ "$COMMAND" = sanity ]; then
  # pslint needs PowerShell (pwsh), which Debian does not package; the collection has no PowerShell.
  exec ansible-test sanity --python 3.11 --color no --skip-test pslint "$@"
fi
# units: ansible-test's own layout (modules, module_utils, controller), each in its own interpreter.
exec ansible-test units --python 3.11 --color no --venv "$@"
