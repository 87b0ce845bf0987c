# Two commands set up everything on a fresh machine with Python 3.11:
#   make demo   the whole stack (PostgreSQL+pgvector, Redis, Celery worker, web) until Ctrl-C
#   make test   the whole test suite against real services
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint constraints clean-var browser extension

$(STAMP): pyproject.toml requirements/constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python 3.11 is required)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m shopalook demo $(ARGS)

test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	@if command -v node >/dev/null; then node --test extension/tests/; \
	else echo "warning: node not found: the extension's unit tests did not run"; fi
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Quality, latency, throughput, search and memory against their baselines, in one sitting:
# var/bench/report/report.md and results.json. Quick by default; ARGS="--full" for all.
bench: $(STAMP)
	$(BIN)/python -m bench.run $(ARGS)

# The extension's browser tests drive Debian's chromium (never a downloaded browser);
# without it they skip, saying why.
browser:
	@test -x /usr/bin/chromium || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] \
		&& DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
		|| echo "warning: /usr/bin/chromium missing: the extension's browser tests will skip"

# Zips of the browser extension for the Chrome Web Store and addons.mozilla.org.
extension: $(STAMP)
	$(BIN)/python extension/build.py

lint: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

constraints: $(STAMP)
	{ echo "# Transitive pins for a reproducible install: pip install -c requirements/constraints.txt -e '.[dev]'"; \
	  echo "# Regenerate after changing pyproject.toml: make constraints"; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -v -iE '^(shopalook|nvidia-|cuda-|triton)'; \
	} > requirements/constraints.txt

clean-var:
	rm -rf var/test
