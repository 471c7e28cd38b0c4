# The two commands a newcomer runs: `make demo` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# axe-core for the accessibility tests (tests/test_a11y.py), pinned in tests/axe/package-lock.json.
AXE := tests/axe/node_modules/axe-core/axe.min.js

.PHONY: demo test bench lint format clean messages

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# Without npm the accessibility tests skip (and fail under CI=true, where .ci/run installs it).
$(AXE): tests/axe/package.json tests/axe/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  echo "npm ci --prefix tests/axe --no-audit --no-fund"; \
	  npm ci --prefix tests/axe --no-audit --no-fund && touch $(AXE); \
	elif [ "$$CI" = true ]; then \
	  echo "CI=true but npm is missing: the accessibility tests need axe-core (apt-get install nodejs npm)" >&2; exit 1; \
	else \
	  echo "npm is missing: the accessibility tests will skip (apt-get install nodejs npm)"; \
	fi

demo: $(STAMP)
	$(BIN)/python -m pipeline.demo

test: $(STAMP) $(AXE)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/pytest tests/benchmarks -p no:cacheprovider -s --override-ini addopts=

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache demo-output tests/axe/node_modules

# Refresh the message template and the Russian catalog after changing interface strings.
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg --no-location --omit-header --sort-output -o publishing/locale/messages.pot .
	$(BIN)/pybabel update -i publishing/locale/messages.pot -d publishing/locale --ignore-obsolete --ignore-pot-creation-date -w 100 --no-fuzzy-matching
