# Two commands for a newcomer: `make serve` (set up, index the US corpus shipped in corpus/ on a first start, serve)
# and `make test` (set up, then lint and run the test suite). Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: setup serve test lint us-corpus eval clean

$(BIN)/tariff: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0        # CPU wheel; a bare `torch` would pull a multi-GB CUDA build
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

setup: $(BIN)/tariff

serve: setup
	$(BIN)/tariff serve --host $(HOST) --port $(PORT)

lint: setup
	$(BIN)/ruff check assistant tests eval

test: lint
	$(BIN)/pytest

# The whole US corpus shipped in corpus/ (what `make serve` builds on a first start), on demand.
us-corpus: setup
	$(BIN)/tariff ingest default

DATA ?= ../shared/data

eval: setup
	$(BIN)/tariff eval $(DATA)/atlas_cross_eval/atlas_dev.jsonl --baselines

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
