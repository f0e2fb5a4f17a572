# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Real peers the tests run (an OpenID provider, axe-core): npm packages in a test folder.
NODE_STAMP := tests/node/node_modules/.installed

.PHONY: run test lint typecheck format bench fuzz clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[embedded,dev]'
	touch $(STAMP)

$(NODE_STAMP): tests/node/package.json tests/node/package-lock.json
	npm ci --prefix tests/node --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

run: $(STAMP)
	$(PY) -m server

test: $(STAMP) $(NODE_STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy server models ai_router realtime scripts tests bench
	$(PY) -m pytest -q

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(STAMP)
	$(PY) -m mypy server models ai_router realtime scripts tests bench

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

bench: $(STAMP)
	$(PY) bench/router_overhead.py
	$(PY) bench/chat_stream.py
	$(PY) bench/socket_fanout.py
	$(PY) bench/xp_award.py

# Schemathesis against /openapi.json of a throwaway server (bench/fuzz_api.py): no 5xx, no
# status or body the document does not list. FUZZ_ARGS="--max-examples 100" for a longer run.
fuzz: $(STAMP)
	$(PY) bench/fuzz_api.py $(FUZZ_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
