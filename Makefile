# The two set-up commands of README.md: `make demo` and `make test`. Each installs what it needs, idempotently.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
STACK ?= acme-prod
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(abspath ansible.cfg)

.PHONY: deps lint unit molecule test preview demo bench evidence clean

deps: $(VENV)/.installed
	@scripts/apt-deps

$(VENV)/.installed: requirements.lock pyproject.toml
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

test: lint unit molecule

preview: deps
	secure-tenant-preview --stack $(STACK)

demo: deps
	secure-tenant-preview --stack acme-prod --markdown build/acme-prod-review.md
	python -m lab.demo
	python -m evidence.report

bench: deps
	python -m bench

evidence: deps
	python -m evidence.report

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
