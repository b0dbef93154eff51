# The two front-door commands: `make run` serves the stub host with ScaiEcho on the embedded
# default; `make test` runs lint, type checks and the whole test suite. Both install what is missing.
VENV ?= .venv
PORT ?= 8080
BIN := $(VENV)/bin

.PHONY: run test install system-deps lint typecheck bench

$(BIN)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	# Tests run a real Triton server: the wheel ships the tritonserver binary. --no-deps because
	# it pins numpy<2, which only its own (unused) Python API needs.
	$(BIN)/pip install -q --no-deps nvidia-pytriton==0.7.0
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/scaigrid-stub migrate
	$(BIN)/scaigrid-stub dev-setup
	$(BIN)/scaigrid-stub serve --port $(PORT)

system-deps:
	./scripts/install-system-deps.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

test: install system-deps lint typecheck
	$(BIN)/pytest

bench: install
	$(BIN)/python bench/transcribe_sync.py
