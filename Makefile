# The two set-up commands of README.md: `make demo` and `make test`. Each installs what it needs, idempotently.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
STACK ?= acme-prod
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(abspath ansible.cfg)

.PHONY: deps apt-deps lint unit molecule smoke test preview demo bench evidence clean

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
	yamllint --strict .
	ansible-lint --profile production --offline roles playbooks

unit: deps
	pytest -q -m "not lab"

molecule: deps
	python -m lab.molecule_all

# The fresh-machine smoke test: the README's install path on a new lab host (lab/smoke.py).
smoke: deps
	python -m lab.smoke

test: lint unit smoke molecule

preview: deps
	secure-tenant-preview --stack $(STACK)

# Install (timed for the demo's summary), then preview, lab root file system, two converges, verify, evidence.
demo:
	@started=$$(date +%s) && $(MAKE) --no-print-directory deps && \
	  $(BIN)/python -m lab.demo --install-seconds $$(( $$(date +%s) - started ))

bench: deps
	python -m bench

evidence: deps
	python -m evidence.report

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
