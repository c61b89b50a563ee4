# The two commands: `make up` (set up and run the platform) and `make test` (set up and test).
# Both create .venv when it is missing and reinstall when pyproject.toml changes.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
# PyTorch is pinned to the CPU build of 2.13.0 and installed first, so that resolving the
# project's dependencies never pulls a CUDA build. Where no CPU wheel is reachable through your
# pip configuration, pass its index, e.g.
#   make up TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"
TORCH_SPEC     := torch==2.13.0
TORCH_PIP_ARGS ?=
PIP := $(BIN)/python -m pip --disable-pip-version-check

.PHONY: up test install install-test clean-venv help

help:
	@echo "make up    - set up .venv and run the platform on embedded defaults"
	@echo "make test  - set up .venv with test extras and run the test suite"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "perfhud needs Python >= 3.11, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.torch: | $(BIN)/python
	$(PIP) install $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	@touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.torch
	$(PIP) install -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.torch
	$(PIP) install -e ".[test,backends]"
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

up: install
	$(BIN)/perfhud up

test: install-test
	$(BIN)/python -m tests.services
	$(BIN)/python -m pytest

clean-venv:
	rm -rf $(VENV)
