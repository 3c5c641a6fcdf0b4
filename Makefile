# Two commands do all the set-up on a fresh machine: `make chat` runs the bot in this terminal,
# `make test` runs the tests. Both create .venv and install the project into it first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: chat telegram test lint bench clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "quotebot needs Python 3.11 or newer (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	@touch $(STAMP)

chat: $(STAMP)
	$(BIN)/quotebot chat

telegram: $(STAMP)
	$(BIN)/quotebot telegram

# The tests run on SQLite and on a throwaway PostgreSQL cluster that .ci/postgres starts and stops
# (skipped without PostgreSQL installed, except in CI). `.ci/postgres start DIR` keeps one running.
test: $(STAMP)
	bash .ci/postgres run $(BIN)/python -m pytest -q
	$(BIN)/ruff check .
	$(BIN)/ruff format --check --quiet .

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
