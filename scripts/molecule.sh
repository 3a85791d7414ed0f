#!/usr/bin/env bash
# Run `molecule test` for every scenario under molecule/ (molecule/<name>/molecule.yml), one after
# the other, stopping at the first failure. Builds the podman image first when it is missing.
# scripts/molecule.sh [scenario...]   - only the named scenarios.
set -euo pipefail
# shellcheck source=scripts/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO"

if [ $# -gt 0 ]; then
  scenarios=("$@")
else
  scenarios=()
  for f in molecule/*/molecule.yml; do
    [ -f "$f" ] && scenarios+=("$(basename "$(dirname "$f")")")
  done
fi
if [ ${#scenarios[@]} -eq 0 ]; then
  echo "molecule: no scenarios under molecule/ yet - SKIPPED"
  exit 0
fi

"$REPO/scripts/build-molecule-image.sh"
echo "molecule: MOLECULE_RUN_ID=$MOLECULE_RUN_ID scenarios: ${scenarios[*]}"
for s in "${scenarios[@]}"; do
  start=$SECONDS
  echo "molecule: === scenario $s ==="
  molecule test --scenario-name "$s"
  echo "molecule: === scenario $s passed ($((SECONDS - start)) s) ==="
done
