# The two set-up commands of README.md: `make demo` and `make test`. Each installs what it needs, idempotently.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
STACK ?= acme-prod
# Every stack: the root's Pulumi.<stack>.yaml, links to the tenant folders' stack files.
STACKS := $(patsubst Pulumi.%.yaml,%,$(wildcard Pulumi.*.yaml))
CHECKOV_VENV ?= .venv-checkov
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(abspath ansible.cfg)

.PHONY: deps apt-deps lint unit molecule smoke test preview demo bench evidence clean \
	bastion-12 checkov stack-matrix fleet-preview report baseline policy-config pulumi-preview pulumi-up drift \
	molecule-role docs test-checks test-lab lab-pool

deps: apt-deps $(VENV)/.installed

# Debian packages first: the virtualenv needs python3-venv, which a fresh Debian does not have.
apt-deps:
	@scripts/apt-deps

$(VENV)/.installed: requirements.lock pyproject.toml | apt-deps
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@

lint: deps
	ruff check .
	ruff format --check .
	mypy
	mypy --strict playbooks/inventory_plugins roles/debian_release/filter_plugins roles/os_baseline/filter_plugins roles/pki/filter_plugins \
	  roles/systemd_sandbox/filter_plugins
	yamllint --strict .
	ansible-lint --profile production --offline roles playbooks
	zizmor --offline --quiet .github
	$(MAKE) --no-print-directory checkov

# The checkov tests need checkov's own venv: built here, so they never skip.
unit: deps $(CHECKOV_VENV)/.installed
	pytest -q -m "not lab"

molecule: deps
	python -m lab.molecule_all

# The fresh-machine smoke test: the README's install path on a new lab host (lab/smoke.py).
smoke: deps
	python -m lab.smoke

# Most of the run is lab work (the molecule scenarios, the smoke test, bastion-12), which mostly waits on lab hosts
# (boot, apt, SSH): it runs in one pool, slowest first ([lab] lines), beside the CPU-bound lint and unit tests
# ([checks] lines; the pool debootstraps the lab root file system while lint runs): three jobs at a time, and up to
# five while the CPUs have room (once lint and unit are done). One pool, not fixed queues: a queue that finishes
# early leaves the machine half idle while the other still has work.
# Each phase prints its seconds; the whole run also the CPU time it took, recorded for `make bench` (issue 23).
test: deps
	+@python -m lab.cputime --label "make test: all phases" --record build/make-test.json -- \
	  $(MAKE) --no-print-directory -j2 test-checks test-lab

# $(call TIMED,label[,make arguments]): make the label's target (or the arguments), then say how long it took.
TIMED = (started=$$(date +%s); $(MAKE) --no-print-directory $(or $(2),$(1)); status=$$?; \
	echo "make test: $(1) $$([ $$status = 0 ] && echo passed || echo FAILED) in $$(( $$(date +%s) - started )) s"; \
	exit $$status)

# `+`: the sub-makes share this make's job server (else each warns that it runs alone).
test-checks:
	+@set -o pipefail; { $(call TIMED,lint) && $(call TIMED,unit); } 2>&1 | sed -u 's/^/[checks] /'

test-lab:
	+@set -o pipefail; $(call TIMED,lab,lab-pool) 2>&1 | sed -u 's/^/[lab] /'

lab-pool: deps
	python -m lab.molecule_all --jobs 3 --max-jobs 5 --make smoke --make bastion-12

# Debian 12 stays supported (issue 21): playbooks/bastion.yml converged twice and verified on a Debian 12 lab host,
# as the demo does, without its preview and evidence report. The tenant CA stays under build/, apart from the
# operator's ~/.secure-tenant that `make demo` uses.
bastion-12: deps
	python -m lab.demo --release 12 --bastion-only --controller-home build/bastion-12

preview: deps
	secure-tenant-preview --stack $(STACK)

# Install (timed for the demo's summary), then preview, lab root file system, two converges, verify, evidence.
# The bastion runs the release of the stack's bastion.osRelease (Debian 13 in the example stack).
demo:
	@started=$$(date +%s) && $(MAKE) --no-print-directory deps && \
	  $(BIN)/python -m lab.demo --install-seconds $$(( $$(date +%s) - started ))

bench: deps
	python -m bench

# Every tenant stack evaluated under mocks with the policy pack, one worker per core (build/fleet/preview/).
fleet-preview: deps
	secure-tenant fleet preview --offline

evidence: deps
	python -m evidence.report

# Each role README's variables section, between its markers, from meta/argument_specs.yml (.aar_doc.yml says how);
# tests/test_role_docs.py fails while a README differs from what this writes.
docs: deps
	for role in roles/*/; do aar-doc "$$role" markdown || exit 1; done

# checkov pins dozens of dependencies that clash with ours: its own venv from its own lock file.
$(CHECKOV_VENV)/.installed: requirements-checkov.lock
	python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q --upgrade pip
	$(CHECKOV_VENV)/bin/pip install -q -r requirements-checkov.lock
	touch $@

# Each stack, mocked, exported as a Terraform plan and scanned by checkov; fails on a finding not waived in
# policy/checkov-waivers.yaml. Results: build/checkov/<stack>.{json,md}.
checkov: deps $(CHECKOV_VENV)/.installed
	python -m review.checkov --checkov $(abspath $(CHECKOV_VENV))/bin/checkov $(STACKS)

# CI (.github/workflows): the stack matrix, the offline report, and the real Pulumi CLI runs (credentials and
# PULUMI_BACKEND_URL come from the job).
stack-matrix: $(VENV)/.installed
	python scripts/stack-matrix

# The report compares with the approved preview $(BASELINE)/<stack>.json (CI: a checkout of branch review-baseline,
# which `make baseline` fills after a merge to main); a stack without one is reported as all new.
BASELINE ?= build/baseline
report: deps
	secure-tenant-preview --stack $(STACK) --baseline $(BASELINE) --markdown build/$(STACK)-review.md
	$(MAKE) --no-print-directory checkov STACKS=$(STACK)

baseline: deps
	@mkdir -p $(BASELINE)
	@for stack in $(STACKS); do \
	  secure-tenant-preview --stack $$stack --save $(BASELINE)/$$stack.json > /dev/null || exit 1; \
	  echo "approved preview of $$stack: $(BASELINE)/$$stack.json"; \
	done

# The pack's enforcement for a stack: mandatory, but the policies its justified exceptions waive (advisory).
POLICY_CONFIG = build/policy-config/$(STACK).json
PACK = --policy-pack policy --policy-pack-config $(POLICY_CONFIG)
policy-config: deps
	@mkdir -p build/policy-config
	secure-tenant-preview --stack $(STACK) --policy-config $(POLICY_CONFIG) > /dev/null

pulumi-preview: policy-config
	pulumi preview --non-interactive --diff --stack $(STACK) $(PACK)

pulumi-up: policy-config
	pulumi up --non-interactive --yes --diff --stack $(STACK) $(PACK)

drift: policy-config
	@mkdir -p build/drift
	set -o pipefail; pulumi preview --non-interactive --diff --refresh --expect-no-changes --stack $(STACK) \
	  $(PACK) 2>&1 | tee build/drift/$(STACK).txt

molecule-role: deps
	@test -n "$(ROLE)" || { echo "make molecule-role ROLE=<role>: ROLE is empty" >&2; exit 2; }
	python -m lab.molecule_all $(ROLE)

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .pytest_cache .mypy_cache .ruff_cache
