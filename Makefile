# Two entry points for a fresh machine: `make demo` and `make test`.
# Both create the virtual environment on first use and install the project
# from its own files (pyproject.toml, with constraints.txt pinning the rest).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint install clean-data

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/na64 demo

test: $(STAMP)
	$(BIN)/python -m pytest

# ruff on everything; mypy --strict on processors/ and workflows/stats/ (pyproject.toml)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

clean-data:
	rm -rf datasets/data results
