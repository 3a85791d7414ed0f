#!/usr/bin/env bash
# Install the Debian packages the harness needs. Idempotent: when everything is installed it only
# checks (well under a second), otherwise it runs `apt-get update` once and installs what is missing.
#   scripts/install-deps.sh          what `make test` needs
#   scripts/install-deps.sh --demo   what `make demo` needs (Exim, swaks, openssl and no container tools)
# It starts, stops and disables no service: where Debian's postinst starts the packaged exim4 it keeps
# running on port 25, which no test or demo uses (they listen on free loopback ports of their own).
set -euo pipefail

# The demo: exim4-daemon-heavy, swaks, openssl, iproute2 (ss), git (normally part of the base image,
# like make) and python3-venv (Debian's python3 cannot make the .venv without it).
PKGS=(exim4-daemon-heavy swaks openssl iproute2 git python3-venv)
TOOLS=(git python3 ss openssl swaks)
if [ "${1:-}" != --demo ]; then
  # Molecule: podman and what it runs on here (runc, uidmap, slirp4netns; debootstrap builds the
  # image); shellcheck lets ansible-test sanity check scripts/*.sh instead of skipping them.
  PKGS+=(podman runc debootstrap uidmap slirp4netns shellcheck)
  TOOLS+=(podman)
fi

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=(sudo -n); else
    echo "install-deps: must run as root (or with passwordless sudo)" >&2; exit 1
  fi
else
  SUDO=()
fi

missing=()
for p in "${PKGS[@]}"; do
  if [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" != installed ]; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages already installed"
else
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}" </dev/null
fi

# Tools the harness itself relies on (normally part of the base image).
for tool in "${TOOLS[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || { echo "install-deps: '$tool' not found after install" >&2; exit 1; }
done
