# Two commands for a newcomer: `make run` and `make test`. Each creates or updates .venv itself.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint typecheck clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# setup.py and the C sources: pip install -e compiles rempart/index/_kernels.c,
# rempart/signals/_pdq.c and rempart/signals/_tiles.c.
$(VENV)/.installed-run: pyproject.toml setup.py rempart/index/_kernels.c rempart/signals/_pdq.c rempart/signals/_tiles.c | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml setup.py rempart/index/_kernels.c rempart/signals/_pdq.c rempart/signals/_tiles.c | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed-run

# Front-end files the pages serve themselves (OpenCV.js, rempart/web/vendor.py), pinned by the lock.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

run: $(VENV)/.installed-run node_modules/.installed
	$(BIN)/rempart serve --host $(HOST) --port $(PORT)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check rempart tests benchmarks
	$(BIN)/ruff format --check rempart tests benchmarks

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

test: lint typecheck node_modules/.installed
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache node_modules
