# The README's two commands are `make demo` and `make test`; each sets up what it needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

ROOT        := $(CURDIR)
VENV        := $(ROOT)/.venv
PY          := $(VENV)/bin/python
BUILD       := $(ROOT)/.build
COLLECTIONS := $(BUILD)/collections
LINK        := $(COLLECTIONS)/ansible_collections/mailauth/m365
SANITY_ROOT := $(BUILD)/sanity/ansible_collections/mailauth/m365
STAMP       := $(VENV)/.installed

export ANSIBLE_CONFIG := $(ROOT)/ansible.cfg
export ANSIBLE_HOME := $(BUILD)/ansible-home
export ANSIBLE_LOCAL_TEMP := $(BUILD)/ansible-tmp
export PATH := $(VENV)/bin:$(PATH)

.PHONY: help setup collection demo test unit sandbox-test sanity lint sandbox-up sandbox-down sandbox-status peers clean \
        docs-lint changelog build ee

help:
	@echo "make demo   - run the main job against the offline sandbox tenant (FLEET=1: on real fleet hosts)"
	@echo "make test   - unit and sandbox tests, ansible-test sanity, ansible-lint, changelog lint"
	@echo "make docs-lint / changelog / build / ee - antsibull-docs lint, antsibull-changelog lint,"
	@echo "                 collection tarball in .build/dist, execution-environment build context"
	@echo "make sandbox-up / sandbox-down / sandbox-status"
	@echo "make fleet-up [N=3] / fleet-down / molecule [SCENARIO=name] - test hosts on this machine (root)"
	@echo "make molecule-ci - the Molecule scenarios CI runs after make test (root)"

$(STAMP): requirements/requirements.in requirements/constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/requirements.in -c requirements/constraints.txt
	touch $@

setup: $(STAMP) collection

# Ansible finds the working tree as mailauth.m365 through this link; no ansible-galaxy step.
collection:
	@mkdir -p $(dir $(LINK)) $(ANSIBLE_HOME) $(ANSIBLE_LOCAL_TEMP)
	@ln -sfn $(ROOT) $(LINK)

sandbox-up: setup
	$(PY) -m sandbox up

sandbox-down:
	@if test -x $(PY); then $(PY) -m sandbox down; fi

sandbox-status: setup
	$(PY) -m sandbox status

# The demo's client secrets are kept in .sandbox/demo/mailauth_secrets, encrypted with a vault password
# made once for this sandbox only (never committed: .sandbox/ is ignored). MAILAUTH_SANDBOX_DIR moves both.
# The servers are stand-ins on this machine, or with FLEET=1 four real hosts of the test fleet (root).
DEMO_VAULT_PASSWORD := $(or $(MAILAUTH_SANDBOX_DIR),.sandbox)/demo-vault-password
ifeq ($(FLEET),1)
DEMO_SERVERS := -i .build/fleet/slot0/inventory.yml -i playbooks/inventory/demo_fleet.yml
else
DEMO_SERVERS := -i playbooks/inventory/demo_servers.yml
endif
demo: setup sandbox-up
	@if [ "$(FLEET)" = 1 ]; then $(MAKE) --no-print-directory fleet-up N=4; fi
	@test -s $(DEMO_VAULT_PASSWORD) || (umask 077 && $(PY) -c 'import secrets; print(secrets.token_urlsafe(32))' > $(DEMO_VAULT_PASSWORD))
	ansible-playbook -i playbooks/inventory/demo.yml $(DEMO_SERVERS) --vault-password-file $(DEMO_VAULT_PASSWORD) \
	  playbooks/demo.yml

unit: setup
	@# Four workers, each with its own sandbox: the integration targets mostly wait (Retry-After,
	@# replication delay), so they overlap well even on two cores.
	$(PY) -m pytest -q -n 4 --dist loadscope tests/unit tests/sandbox

# Debian packages of the real peers the mail tests run against (Dovecot); needs root. The Dovecot
# fixture runs the same script itself when Dovecot is missing.
peers:
	bash tests/peers/dovecot.sh

# ansible-test needs the collection at .../ansible_collections/<ns>/<name>: test a copy of the tree.
# ansible-test bootstraps pip in its per-test virtual environments with a script from a host we cannot
# reach; ours does the same from the interpreter's bundled pip.
GET_PIP_CACHE := $(HOME)/.ansible/test/cache
sanity: setup
	@mkdir -p $(GET_PIP_CACHE) && for v in 24_2 25_1 25_3; do \
	  cp tests/sanity/get_pip_offline.py $(GET_PIP_CACHE)/get_pip_$$v.py; done
	@rm -rf $(SANITY_ROOT) && mkdir -p $(SANITY_ROOT)
	@git ls-files -z --cached --others --exclude-standard | \
	  tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -xf - -C $(SANITY_ROOT)
	@# its own git repository, so ansible-test lists the copy's files rather than the outer tree's
	cd $(SANITY_ROOT) && git init -q && git add -A && \
	  ansible-test sanity --venv --python 3.11 --color no $(SANITY_ARGS)

# ansible-lint installs a copy of the collection into ANSIBLE_HOME; drop it so the working tree is what is linted.
lint: setup
	rm -rf $(ANSIBLE_HOME)/collections/ansible_collections/mailauth
	ansible-lint --profile production

# A fleet of N real Debian hosts (systemd-nspawn) on this machine, needs root; docs/fleet-tests.md.
# fleet-up/fleet-down use slot 0 (FLEET_SLOT=S for another). `molecule` runs every scenario in
# extensions/molecule/ (or SCENARIO="name ..."), each on a fleet in a free slot of its own.
# `molecule-ci` runs the scenarios CI runs after `make test` (.ci/run): `default`, the whole mission
# (site.yml, idempotence, rotate_secret.yml) on four hosts, covers what fleet_smoke and most of
# app_mail_config check, so those two stay out of CI.
.PHONY: fleet-up fleet-down fleet-status molecule molecule-ci
MOLECULE_CI_SCENARIOS := default
N ?= 3
fleet-up: setup
	bash tests/fleet/fleet.sh up $(N)

fleet-down:
	bash tests/fleet/fleet.sh down

fleet-status:
	bash tests/fleet/fleet.sh status

molecule: setup
	molecule test $(if $(SCENARIO),$(addprefix -s ,$(SCENARIO)),--all)

molecule-ci:
	$(MAKE) --no-print-directory molecule SCENARIO="$(MOLECULE_CI_SCENARIOS)"

# Collection docs as Galaxy and docs.ansible.com render them: DOCUMENTATION/EXAMPLES/RETURN of every
# plugin (through ansible-doc, hence the link), docs/, changelogs, meta/runtime.yml.
docs-lint: setup
	cd $(LINK) && antsibull-docs lint-collection-docs --plugin-docs .

# Changelog fragments (changelogs/fragments/*.yml); `antsibull-changelog release` is the
# maintainer's step at release time (docs/releasing.md).
changelog: setup
	antsibull-changelog lint

# The collection tarball Galaxy / Automation Hub take: $(DIST)/mailauth-m365-<version>.tar.gz
DIST := $(BUILD)/dist
build: setup
	@rm -rf $(DIST) && mkdir -p $(DIST)
	ansible-galaxy collection build --output-path $(DIST) .

# Build context of the execution environment (execution-environment.yml) in $(EE_DIR)/context;
# no container engine needed. Then: ansible-builder build -f execution-environment.yml -t mailauth-m365-ee
EE_DIR := $(BUILD)/ee
ee: setup
	@rm -rf $(EE_DIR) && mkdir -p $(EE_DIR)
	ansible-galaxy collection build --output-path $(EE_DIR) .
	mv $(EE_DIR)/mailauth-m365-*.tar.gz $(EE_DIR)/mailauth-m365.tar.gz
	ansible-builder create -f execution-environment.yml -c $(EE_DIR)/context --output-filename Containerfile
	@test -s $(EE_DIR)/context/Containerfile

test: unit sanity lint changelog docs-lint

clean: sandbox-down
	bash tests/fleet/fleet.sh down --all
	rm -rf $(BUILD) .sandbox

# playbooks/site.yml under faults (20 seeds: 429/503/dropped connections/replication delay), then killed at
# random moments (10 times), each seed on a sandbox of its own, FAULTS_PARALLEL at a time; docs/resilience.md.
.PHONY: faults interrupts
FAULTS_PARALLEL ?= 4
faults: setup
	$(PY) tests/faults/campaign.py faults --parallel $(FAULTS_PARALLEL)
	$(PY) tests/faults/campaign.py interrupts --parallel $(FAULTS_PARALLEL)

interrupts: setup
	$(PY) tests/faults/campaign.py interrupts --parallel $(FAULTS_PARALLEL)

# Benchmarks against the sandbox with 50 ms latency per request (tests/bench/run.py, docs/performance.md):
# numbers only, no asserts. BENCH_QUICK=1 for a short run, BENCH_TENANTS=1,10,50, BENCH_HOSTS=3,6,12 (root),
# BENCH_FORKS, BENCH_SECTIONS=site,entra,tenants,fleet,smoke,azure, BENCH_JSON=results.json.
.PHONY: bench
bench: setup
	$(PY) tests/bench/run.py
