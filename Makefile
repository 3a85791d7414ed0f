# certrelay.exim test harness. `make test` is what CI runs (.ci/run).
# Every recipe sources scripts/env.sh (.venv on PATH, ANSIBLE_COLLECTIONS_PATH/ANSIBLE_HOME under
# .cache/, CONTAINERS_CONF, MOLECULE_RUN_ID).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.ONESHELL:
.NOTPARALLEL:
.DEFAULT_GOAL := help

ENV := . scripts/env.sh
# prints "<== target ok (N s)" after each stage
STAGE = @start=$$SECONDS; trap 'echo "<== $@ $$([ $$? -eq 0 ] && echo ok || echo FAILED) ($$((SECONDS - start)) s)"' EXIT; echo "==> $@";

.PHONY: help test deps venv lint ruff yamllint ansible-lint sanity unit integration \
        exim-openssl molecule molecule-image build galaxy-import changelog-lint demo bench clean distclean host-snapshot host-check

help:
	@echo "make test         deps, venv, lint, sanity, unit, integration, molecule, build, galaxy-import, host-check (CI)"
	@echo "make deps         apt packages (scripts/install-deps.sh)"
	@echo "make host-check   the host's Exim paths as host-snapshot found them (tests/lib/hoststate.py)"
	@echo "make venv         .venv from requirements-dev.txt (+ .cache/collections)"
	@echo "make lint         ruff check, yamllint, ansible-lint"
	@echo "make sanity       ansible-test sanity on a copy under .build/sanity/ansible_collections/certrelay/exim"
	@echo "make unit         ansible-test units on a copy under .build/units/ansible_collections/certrelay/exim"
	@echo "make exim-openssl Exim 4.96 built with OpenSSL into .cache/exim-openssl (once; the integration tests use it)"
	@echo "make integration  pytest tests/integration"
	@echo "make molecule     molecule test for every scenario under molecule/ (SCENARIO=name for one)"
	@echo "make build        ansible-galaxy collection build into .build/"
	@echo "make galaxy-import  the tarball's content, galaxy-importer, antsibull-docs and antsibull-changelog lint"
	@echo "make demo         scripts/demo.sh"
	@echo "make bench        benchmarks/run.sh"

test: deps host-snapshot venv lint sanity unit exim-openssl integration molecule build galaxy-import host-check
	@echo "make test: all stages passed"

deps:
	$(STAGE) scripts/install-deps.sh

# /etc/exim4, /etc/exim, the spools' queues and Exim units as `make test` found them (after deps,
# which may install exim4), and at its end: the run leaves them so, whatever earlier runs left.
HOST_STATE := .build/host-state.json
host-snapshot:
	$(STAGE) python3 tests/lib/hoststate.py snapshot $(HOST_STATE)

host-check:
	$(STAGE) python3 tests/lib/hoststate.py check $(HOST_STATE)

# .venv (rebuilt only when requirements*.txt change) + .cache/collections (self link, containers.podman)
venv:
	$(STAGE) scripts/venv.sh
	scripts/collections.sh

lint: ruff yamllint ansible-lint

ruff: venv
	$(STAGE) $(ENV)
	ruff check .

yamllint: venv
	$(STAGE) $(ENV)
	yamllint --strict .

# ansible-lint installs this collection into $$ANSIBLE_HOME once and skips it while the version is
# unchanged: drop that copy so it lints the working tree's modules, not last week's.
ansible-lint: venv
	$(STAGE) $(ENV)
	rm -rf .cache/ansible/collections/ansible_collections/certrelay
	ansible-lint

sanity: venv
	$(STAGE) scripts/ansible-test.sh sanity

# ansible-test units on the collection copy (the same tests run in place with scripts/pytest.sh tests/unit)
unit: venv
	$(STAGE) scripts/ansible-test.sh units

# Debian's Exim source built with OpenSSL (RHEL's TLS library): cached, rebuilt only when the script
# changes; the script prints the build time (or "cached") before this stage's own line
exim-openssl:
	$(STAGE) scripts/build-exim-openssl.sh

integration: venv
	$(STAGE) scripts/pytest.sh tests/integration

molecule: venv
	$(STAGE) scripts/molecule.sh $(SCENARIO)

molecule-image:
	$(STAGE) scripts/build-molecule-image.sh

build: venv
	$(STAGE) $(ENV)
	rm -rf .build/collection && mkdir -p .build/collection
	ansible-galaxy collection build --force --output-path .build/collection .
	ls -l .build/collection/*.tar.gz

galaxy-import: venv
	$(STAGE) scripts/galaxy-import.sh

changelog-lint: venv
	$(STAGE) $(ENV)
	antsibull-changelog lint

# scripts/demo.sh installs what it needs itself (install-deps.sh --demo, .venv)
demo:
	$(STAGE) scripts/demo.sh

bench: deps venv
	$(STAGE) benchmarks/run.sh

clean:
	rm -rf .build tests/output .pytest_cache .ruff_cache

distclean: clean
	rm -rf .venv .cache
