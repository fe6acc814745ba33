# Two commands for a newcomer: `make serve` (set up, then serve the assistant on the embedded HS 2022 corpus)
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

# The full US corpus from ../shared/data (see README "Full US corpus").
DATA ?= ../shared/data
us-corpus: setup
	$(BIN)/tariff ingest hs2022
	$(BIN)/tariff ingest hts $(DATA)/usitc_hts_2025/htsdata_raw.csv
	$(BIN)/tariff ingest notes $(DATA)/usitc_hts_2025/chapters_pdf
	$(BIN)/tariff ingest gri $(DATA)/htsus_legal_notes/general_rules_of_interpretation.json
	$(BIN)/tariff ingest rulings $(DATA)/cbp_rulings_sample/ny_rulings_fulltext.jsonl
	$(BIN)/tariff ingest prior $(DATA)/atlas_cross_eval/cross_code_frequency_stat_suffix_index.json

eval: setup
	$(BIN)/tariff eval $(DATA)/atlas_cross_eval/atlas_dev.jsonl --baselines

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
