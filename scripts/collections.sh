#!/usr/bin/env bash
# Prepare .cache/collections (ANSIBLE_COLLECTIONS_PATH):
#  - ansible_collections/certrelay/exim -> the checkout (symlink), so the collection is used in place;
#  - containers.podman (needed by Molecule's podman driver) taken from the `ansible` wheel on PyPI,
#    because Galaxy is unreachable. Cached: skipped when the wanted version is already unpacked.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

COLL=$REPO/.cache/collections/ansible_collections
# ansible 12.x is the community package built for ansible-core 2.19 (containers.podman 1.18.0).
ANSIBLE_WHEEL_VERSION=${ANSIBLE_WHEEL_VERSION:-12.3.0}
# collections taken from that wheel (molecule-plugins' podman driver needs only containers.podman)
FROM_WHEEL=(containers/podman)

# 1. the collection itself, in place
mkdir -p "$COLL/certrelay"
if [ "$(readlink "$COLL/certrelay/exim" 2>/dev/null)" != "../../../.." ]; then
  rm -rf "$COLL/certrelay/exim"
  ln -s ../../../.. "$COLL/certrelay/exim"
fi
[ -f "$COLL/certrelay/exim/galaxy.yml" ] || { echo "collections: symlink broken" >&2; exit 1; }

# 2. collections from the ansible wheel
STAMP=$REPO/.cache/collections/.from-ansible-wheel
WANT="ansible==$ANSIBLE_WHEEL_VERSION ${FROM_WHEEL[*]}"
unpacked() { local c; for c in "${FROM_WHEEL[@]}"; do [ -f "$COLL/$c/MANIFEST.json" ] || return 1; done; }
if [ "$(cat "$STAMP" 2>/dev/null)" = "$WANT" ] && unpacked; then
  echo "collections: cached ($WANT)"
  exit 0
fi
PY=$REPO/.venv/bin/python
[ -x "$PY" ] || PY=python3
DL=$(mktemp -d "${TMPDIR:-/tmp}/ansible-wheel.XXXXXX")
trap 'rm -rf "$DL"' EXIT
echo "collections: downloading ansible==$ANSIBLE_WHEEL_VERSION (wheel only, no dependencies)"
"$PY" -m pip download --quiet --no-deps --only-binary=:all: -d "$DL" "ansible==$ANSIBLE_WHEEL_VERSION"
"$PY" - "$DL"/ansible-*.whl "$REPO/.cache/collections" "${FROM_WHEEL[@]}" <<'PY'
import json, shutil, sys, zipfile
from pathlib import Path
wheel, dest, names = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
with zipfile.ZipFile(wheel) as z:
    for name in names:
        prefix = f"ansible_collections/{name}/"
        target = dest / prefix
        if target.exists():
            shutil.rmtree(target)
        members = [m for m in z.namelist() if m.startswith(prefix)]
        if not members:
            sys.exit(f"collections: {name} not in {wheel}")
        z.extractall(dest, members)
        info = json.loads((target / "MANIFEST.json").read_text())["collection_info"]
        print(f"collections: {info['namespace']}.{info['name']} {info['version']} -> {target}")
PY
echo "$WANT" > "$STAMP"
