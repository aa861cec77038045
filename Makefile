# The venv lives in .venv/; every target installs what it needs first (re-installs when pyproject.toml changes).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.radpath-installed
DEMO ?= demo

.PHONY: setup demo test check lint bench clean browser

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: setup
	BIN=$(BIN) scripts/demo.sh $(DEMO)

test: setup browser
	RADPATH_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -n 2 -q

# headless Chromium for the viewer's browser tests (Debian's package; installed when missing and running as root)
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  else echo "the viewer's browser tests need chromium: sudo apt-get install chromium" >&2; exit 1; fi; }

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

check: lint test

bench: setup
	for script in benchmarks/*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(DEMO) .pytest_cache .mypy_cache .ruff_cache
