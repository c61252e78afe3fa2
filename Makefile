# The two commands a new machine needs (see README.md):
#   make demo   - set up, then run the console on an embedded devnet
#   make test   - set up, then run the whole test suite
.PHONY: demo test lint bench setup
VENV ?= .venv

setup:
	@bash scripts/bootstrap.sh

demo: setup
	$(VENV)/bin/soma-console demo

test: setup
	$(VENV)/bin/python -m pytest -q

lint: setup
	$(VENV)/bin/ruff check soma_console tests bench
	$(VENV)/bin/ruff format --check soma_console tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
