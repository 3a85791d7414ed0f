#!/usr/bin/env bash
# Run pytest on one test directory: scripts/pytest.sh tests/unit [pytest args...]
# pytest's exit code 5 ("no tests collected") is a failure whenever the directory holds test files
# (test_*.py / *_test.py); a directory with no test files at all is reported and skipped (exit 0),
# so a suite that does not exist yet does not break `make test`.
set -euo pipefail
# shellcheck source=scripts/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO"

dir=${1:?usage: scripts/pytest.sh DIR [pytest args...]}
shift
if [ -z "$(find "$dir" -type f \( -name 'test_*.py' -o -name '*_test.py' \) -print -quit 2>/dev/null)" ]; then
  echo "pytest: no test files under $dir - SKIPPED (not an error while the suite does not exist)"
  exit 0
fi
rc=0
pytest "$dir" "$@" || rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest: $dir has test files but no test was collected - FAILED" >&2
fi
exit "$rc"
