# The two commands the README promises, each runnable from a clean clone:
#   make demo   creates .venv, installs runner, runs jobs/demo.yml
#   make test   creates .venv, installs runner with its test tools, runs
#               the whole suite, ruff, mypy, and checks the schema and jobs
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/runner run jobs/demo.yml

test: $(BIN)/.installed lint
	$(BIN)/runner schema --check
	$(BIN)/runner validate jobs/*.yml
	$(BIN)/python -m pytest -n 2 tests

lint: $(BIN)/.installed
	$(BIN)/ruff check runner tests benchmarks
	$(BIN)/mypy

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .runner .pytest_cache .mypy_cache .ruff_cache
