#!/usr/bin/env bash
# Install the Debian packages the tests need. Idempotent: when everything is installed it only
# checks (well under a second), otherwise it runs `apt-get update` once and installs what is missing.
# Afterwards no Exim daemon may listen on port 25 (Debian's postinst starts one where systemd runs).
set -euo pipefail

# Also: shellcheck (lets the "shellcheck" test of ansible-test sanity check scripts/*.sh instead of skipping
# it), git (scripts/sanity.sh; normally part of the base image, like make) and python3-venv (Debian's
# python3 cannot make the .venv without it).
# Building Exim with OpenSSL (scripts/build-exim-openssl.sh): a compiler, dpkg-source for
# `apt-get source`, and the headers of what that build links: OpenSSL, PCRE2, Berkeley DB.
PKGS=(exim4-daemon-heavy swaks openssl podman runc debootstrap iproute2 uidmap slirp4netns shellcheck git python3-venv
      build-essential dpkg-dev pkg-config libssl-dev libpcre2-dev libdb-dev libcrypt-dev)

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

# --- no Exim left listening on port 25 -------------------------------------------------------------
port25_busy() { ss -ltnH 'sport = :25' 2>/dev/null | grep -q .; }
port25_pids() { ss -ltnpH 'sport = :25' 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u; }
wait_port25_free() { local _; for _ in $(seq 50); do port25_busy || return 0; sleep 0.1; done; return 1; }
if port25_busy; then
  pidfile_pids=$(cat /run/exim4/exim.pid 2>/dev/null || true)   # read before the init script removes it
  # the packaged daemon: stop it the way the package does, and keep it from coming back at boot
  if [ -d /run/systemd/system ]; then
    "${SUDO[@]}" systemctl disable --now exim4.service >/dev/null 2>&1 || true
  elif [ -x /etc/init.d/exim4 ]; then
    "${SUDO[@]}" /etc/init.d/exim4 stop >/dev/null 2>&1 || true
  fi
  if ! wait_port25_free; then
    # still there: kill Exim processes only - the :25 listener(s) and the packaged daemon's pid file,
    # never anything else (tests run their own daemons on other ports)
    for pid in $(port25_pids) $pidfile_pids; do
      if [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == exim* ]]; then
        echo "install-deps: stopping exim daemon $pid (port 25)"
        "${SUDO[@]}" kill "$pid" 2>/dev/null || true
      fi
    done
    wait_port25_free || { echo "install-deps: WARNING: port 25 is still in use:" >&2; ss -ltnpH 'sport = :25' >&2 || true; }
  fi
fi

# Tools the harness itself relies on (normally part of the base image).
for tool in git python3 ss openssl swaks podman; do
  command -v "$tool" >/dev/null 2>&1 || { echo "install-deps: '$tool' not found after install" >&2; exit 1; }
done
