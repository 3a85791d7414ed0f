#!/usr/bin/env bash
# The Galaxy import gate on the collection as users get it:
# - the built tarball holds only what a user needs (the top-level entries below, no caches);
# - galaxy-importer (what Galaxy runs on upload, ansible-lint included) passes with no warning or error;
# - antsibull-docs lint-collection-docs (every plugin's and role's documentation) and
#   antsibull-changelog lint pass.
# galaxy-importer and antsibull-docs live in .cache/venv-galaxy (requirements-galaxy.txt), rebuilt
# only when that file changes.
set -euo pipefail
# shellcheck source=scripts/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO"

GVENV=$REPO/.cache/venv-galaxy
WANT=$(sha256sum requirements-galaxy.txt | cut -d' ' -f1)
if [ "$(cat "$GVENV/.stamp" 2>/dev/null)" != "$WANT" ]; then
  echo "galaxy-import: building $GVENV"
  rm -rf "$GVENV"
  PY=$(PATH=$(echo "$PATH" | tr ':' '\n' | grep -vx "$REPO/.venv/bin" | paste -sd:) command -v python3)
  "$PY" -m venv "$GVENV"
  "$GVENV/bin/python" -m pip install --quiet --upgrade pip
  "$GVENV/bin/python" -m pip install --quiet -r requirements-galaxy.txt
  echo "$WANT" > "$GVENV/.stamp"
fi

OUT=$REPO/.build/galaxy-import
rm -rf "$OUT" && mkdir -p "$OUT"
ansible-galaxy collection build --force --output-path "$OUT" . >/dev/null
TARBALL=$(ls "$OUT"/*.tar.gz)

# --- what the tarball carries
allowed='^(MANIFEST\.json|FILES\.json|README\.md|requirements\.txt|bindep\.txt|meta|plugins|roles|playbooks|docs|changelogs)$'
unexpected=$(tar tzf "$TARBALL" | cut -d/ -f1 | sort -u | grep -Ev "$allowed" || true)
junk=$(tar tzf "$TARBALL" | grep -E '(__pycache__|\.pyc$|\.tar\.gz$|^changelogs/fragments/|/\.)' || true)
if [ -n "$unexpected$junk" ]; then
  echo "galaxy-import: FAILED: $(basename "$TARBALL") carries what users do not need (fix build_ignore in galaxy.yml):" >&2
  printf '%s\n' "$unexpected" "$junk" | sed '/^$/d; s/^/  /' >&2
  exit 1
fi
echo "galaxy-import: $(basename "$TARBALL"): $(tar tzf "$TARBALL" | wc -l) entries, only $(tar tzf "$TARBALL" | cut -d/ -f1 | sort -u | tr '\n' ' ')"

# --- galaxy-importer: exit 0 is not enough, Galaxy shows its warnings on the collection's page
log=$OUT/galaxy-importer.log
(cd "$OUT" && "$GVENV/bin/python" -m galaxy_importer.main "$(basename "$TARBALL")") >"$log" 2>&1 || {
  cat "$log" >&2; echo "galaxy-import: FAILED: galaxy-importer exited non-zero" >&2; exit 1; }
if grep -E '^(WARNING|ERROR)' "$log" >&2; then
  echo "galaxy-import: FAILED: galaxy-importer reported the lines above (full log: $log)" >&2
  exit 1
fi
grep -q 'Importer processing completed successfully' "$log"
echo "galaxy-import: galaxy-importer: no warning, no error"

# --- documentation and changelog linters
(cd "$ANSIBLE_COLLECTIONS_PATH/ansible_collections/certrelay/exim" &&
  PATH="$GVENV/bin:$PATH" antsibull-docs lint-collection-docs --plugin-docs .)
echo "galaxy-import: antsibull-docs lint-collection-docs: passed"
antsibull-changelog lint
echo "galaxy-import: antsibull-changelog lint: passed"
