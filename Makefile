# reccontrol developer tasks. On a fresh Debian machine use ./dev <target>, which
# installs the system packages first.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck unit integration bench sandbox-up sandbox-down clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# `make demo DEMO_ARGS=--keep` (or ./dev demo --keep): the console stays up afterwards.
DEMO_ARGS ?=
demo: $(STAMP)
	$(VENV)/bin/reccontrol demo $(DEMO_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check controller tests bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(PYTHON) -m pytest tests/unit tests/component -q

integration: $(STAMP)
	$(PYTHON) -m pytest tests/integration -q

# The whole suite: lint, types, then unit, component and real-Asterisk tests, spread over
# parallel workers (pytest-xdist). Most of the time is calls played in real time, not
# CPU (two workers left the two cores two-thirds idle): four workers, each with its own
# sandbox Asterisk, keep them busy without leaving a call short of CPU. What is slow to
# build (the Asterisk chroot, the container images) is built first, by tests.prepare,
# so that no build runs beside a call being timed.
# A file's tests run in one worker, in order (--dist loadfile): a module's fixture (the
# SIP phones' Asterisk, the podman stack) starts once and its tests find it as the
# earlier ones left it. `make test WORKERS=0` runs everything in one process.
WORKERS ?= 4
test: lint typecheck
	$(PYTHON) -m tests.prepare
	$(PYTHON) -m pytest -q -n $(WORKERS) --dist loadfile

bench: $(STAMP)
	$(PYTHON) -m bench

sandbox-up: $(STAMP)
	$(VENV)/bin/reccontrol sandbox up

sandbox-down: $(STAMP)
	$(VENV)/bin/reccontrol sandbox down

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
