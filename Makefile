# LLM Local Framework — every command a newcomer needs. `make help` lists them.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: help venv test lint lock pictures bench

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements/dev.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.8
	$(BIN)/uv pip install --quiet --compile-bytecode -p $(BIN)/python -r requirements/dev.lock
	$(BIN)/uv pip install --quiet --compile-bytecode -p $(BIN)/python --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)  ## create .venv with llf and everything the tests need (pinned by requirements/dev.lock)

test: $(STAMP)  ## run the whole test suite (starts its own PostgreSQL and Airflow)
	$(BIN)/python -m pytest

lint: $(STAMP)  ## ruff
	$(BIN)/ruff check llf tests dags bench scripts

lock:  ## re-pin requirements/dev.lock after changing pyproject.toml
	$(BIN)/uv pip compile pyproject.toml --extra dev -p 3.11 -o requirements/dev.lock --quiet

pictures: $(STAMP)  ## regenerate resource/*.png and resource/data_dictionary.md from the code
	$(BIN)/python scripts/draw_pictures.py

bench: $(STAMP)  ## run the benchmarks in bench/
	$(BIN)/python bench/parse_dags.py --processes 1000
	$(BIN)/python bench/llm.py
