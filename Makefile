# The two commands the README promises, each runnable from a clean clone:
#   make demo   creates .venv, installs runner, runs jobs/demo.yml
#   make test   creates .venv, installs runner with its test tools and the
#               dask extra, runs ruff, mypy, checks the schema and the jobs,
#               and runs the whole suite
#   make bench  the benchmarks of issue 5 against their baselines
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# the distribution was once named `runner`: drop that install, which shares the command
	$(BIN)/python -m pip uninstall --quiet --yes runner 2>/dev/null || true
	$(BIN)/python -m pip install --quiet -e '.[test,dask]'
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
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	command -v parallel >/dev/null || apt-get install -y -qq parallel >/dev/null \
		|| echo "no GNU parallel: its row is skipped"
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .runner .pytest_cache .mypy_cache .ruff_cache
