# shellcheck shell=bash
# Environment shared by every harness step (Makefile recipes, scripts/*.sh, demo, benchmarks).
# Source it, do not execute it:   . scripts/env.sh
# Safe to source more than once.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export REPO

# The project's virtualenv first (ansible-*, molecule, pytest, ruff ...).
case ":$PATH:" in
  *":$REPO/.venv/bin:"*) ;;
  *) export PATH="$REPO/.venv/bin:$PATH" ;;
esac
export VIRTUAL_ENV="$REPO/.venv"

# Ansible: everything inside the checkout, no Galaxy (offline).
# .cache/collections/ansible_collections/certrelay/exim -> the checkout, and containers.podman next to
# it (both made by scripts/collections.sh, part of `make venv`).
export ANSIBLE_COLLECTIONS_PATH="$REPO/.cache/collections"
export ANSIBLE_HOME="$REPO/.cache/ansible"
# Plain Python (tests' subprocesses, benchmarks, demo) imports ansible_collections.certrelay.exim too;
# pytest gets the same from pyproject.toml (pythonpath).
case ":${PYTHONPATH:-}:" in
  *":$REPO/.cache/collections:"*) ;;
  *) export PYTHONPATH="$REPO/.cache/collections${PYTHONPATH:+:$PYTHONPATH}" ;;
esac

# Python interpreter. Interpreter discovery on localhost finds the pyenv `python3.13` shim first and
# that shim fails. Hosts reached with the `local` connection (localhost, `connection: local` plays,
# inventory hosts with ansible_connection=local) use the controller's Python (the .venv, which has
# `cryptography`); every other host (containers, ...) keeps normal discovery. A host or play that sets
# ansible_python_interpreter itself still wins.
export ANSIBLE_PYTHON_INTERPRETER="{{ ansible_playbook_python if (ansible_connection | default('')) == 'local' else 'auto_silent' }}"

# Podman: runc + cgroupfs + explicit ulimits (crun and the default ulimits fail on these machines).
export CONTAINERS_CONF="$REPO/scripts/podman-containers.conf"
export MOLECULE_IMAGE=${MOLECULE_IMAGE:-localhost/debian-systemd:bookworm}

# Molecule: container/network names are global to the machine, so scenarios put this in their names
# (`name: server-${MOLECULE_RUN_ID}`). Fixed for the life of the shell that sourced this file; export
# it yourself before running `molecule create` / `converge` / `destroy` as separate commands.
if [ -z "${MOLECULE_RUN_ID:-}" ]; then
  MOLECULE_RUN_ID=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
fi
export MOLECULE_RUN_ID
export MOLECULE_NO_LOG=${MOLECULE_NO_LOG:-false}

# CI logs are read as plain text: no ANSI colours there.
if [ -n "${CI:-}" ]; then
  export NO_COLOR=1 PY_COLORS=0 ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0
fi
