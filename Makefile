# LLM Local Framework — every command a newcomer needs. `make help` lists them.
# A Python every user may run: notebook kernels run as their streams' own users (scripts/shared_python.sh).
PYTHON ?= $(shell scripts/shared_python.sh)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: help venv chromium redis demo stop test lint docs lock pictures bench

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# llama-cpp-python has no binary wheels on PyPI, so a fresh venv compiles llama.cpp: most of its minutes (issue 14).
# llf loads only libllama (completion, grammar, embeddings, tokenize, logits), so skip what llama-cpp-python builds
# beyond it: the multimodal mtmd library (LLAVA_BUILD) and llama.cpp's `common` + cpp-httplib, which it forces ON
# in the cache; a file included after llama.cpp's project() shadows that. Build alone, 2 busy cores: 10m46 -> 3m24,
# same answers and speed. Set CMAKE_ARGS yourself (e.g. for CUDA) to build the full package instead.
LLAMA_NO_COMMON := $(CURDIR)/requirements/llama-no-common.cmake
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DCMAKE_PROJECT_llama.cpp_INCLUDE=$(LLAMA_NO_COMMON)
# No prebuilt wheel of it is reachable from PyPI (issue 14 note: none API-compatible); ninja already runs nproc+2
# jobs, so the build is bound by its CPU work (~260 CPU-s): ~140 s on two idle cores, 6-8 min on busy ones.

$(STAMP): pyproject.toml requirements/dev.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.8
	@echo "Installing the pinned packages into $(VENV) (requirements/dev.lock). The first time takes about 3 min:"
	@echo "llama-cpp-python compiles llama.cpp from source. Later venvs reuse uv's cache (~/.cache/uv)."
	scripts/with-heartbeat "installing into $(VENV)" \
	  $(BIN)/uv pip install --quiet --compile-bytecode -p $(BIN)/python -r requirements/dev.lock
	$(BIN)/uv pip install --quiet --compile-bytecode -p $(BIN)/python --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)  ## create .venv with llf and everything the tests need (pinned by requirements/dev.lock)

chromium:  ## install Debian's chromium for the UI screenshot test (needs root and apt; skipped when present)
	@command -v chromium >/dev/null || { test "$$(id -u)" = 0 && command -v apt-get >/dev/null \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null; } \
	  || { echo "Install Debian's chromium (apt-get install chromium) for tests/e2e/test_ui.py"; exit 1; }

redis:  ## install Debian's redis-server, the Celery broker of local mode and the tests (needs root and apt; skipped when present)
	@command -v redis-server >/dev/null || { test "$$(id -u)" = 0 && command -v apt-get >/dev/null \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null; } \
	  || { echo "Install Debian's redis-server (apt-get install redis-server) for the Celery executor"; exit 1; }

demo: $(STAMP)  ## local mode, no Docker: PostgreSQL + Airflow on localhost:8080, run the example streams
	$(BIN)/llf local demo

stop:  ## stop what `make demo` started (its data stays in .llf-local/)
	@if test -x $(BIN)/llf; then $(BIN)/llf local stop; else echo "Nothing to stop: no $(VENV)."; fi

test: $(STAMP) chromium redis  ## run the whole test suite (starts its own PostgreSQL and Airflow)
	$(BIN)/python -m pytest

lint: $(STAMP)  ## ruff, the import contracts (lint-imports), mypy on llf/, and the docs site built with --strict
	$(BIN)/ruff check llf tests dags bench scripts
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(MAKE) --no-print-directory docs

# --strict (also set in mkdocs.yml): a broken link or anchor, or a page missing from the navigation, fails the build.
# NO_MKDOCS_2_WARNING silences Material's banner about its successor; the build fetches nothing from the network.
docs: $(STAMP)  ## build the documentation site into site/ (mkdocs.yml, docs/); `.venv/bin/mkdocs serve` to read it
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

lock:  ## re-pin requirements/dev.lock after changing pyproject.toml
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra local -p 3.11 -o requirements/dev.lock --quiet

pictures: $(STAMP)  ## regenerate resource/*.png and resource/data_dictionary.md from the code
	$(BIN)/python scripts/draw_pictures.py

bench: $(STAMP) redis  ## run the benchmarks in bench/
	$(BIN)/python bench/parse_dags.py --processes 1000 2000 4000 10000
	$(BIN)/python bench/llm.py
	$(BIN)/python bench/overhead.py
	$(BIN)/python bench/overhead.py --stream-size 5x10 --max-parallel 4
	$(BIN)/python bench/overhead.py --executor celery
	$(BIN)/python bench/throughput.py --repeat 3
