# Toka Performance. `make run`: set up and run the embedded default. `make test`: set up and
# pass the tests. Both work on a fresh clone; nothing is installed by hand.
#
# Installs are reproducible: every target installs the exact versions in uv.lock (one lock for
# every supported Python, transitive dependencies included). `make lock` refreshes it after a
# change to pyproject.toml; until then the install refuses to run.

PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# uv uses this machine's Python and never downloads one.
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
# Debian peers the tests run for real (started and stopped by the test fixtures).
PEERS := prometheus prometheus-alertmanager prometheus-node-exporter socat chromium
PEER_BINS := prometheus prometheus-alertmanager prometheus-node-exporter socat chromium

.PHONY: run test venv peers bench lint typecheck lock clean

run: $(STAMP)
	$(BIN)/toka up

test: $(STAMP) peers typecheck
	$(BIN)/pytest -q -p no:cacheprovider

venv: $(STAMP)

$(UV):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "toka needs Python >= 3.11")'
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install -q uv==$(UV_VERSION)

# The lock must match pyproject.toml; `uv sync --frozen` then installs exactly what it pins.
$(STAMP): pyproject.toml uv.lock | $(UV)
	@$(UV) lock --check --python $(PYTHON) >/dev/null 2>&1 || \
		{ echo "uv.lock is older than pyproject.toml: run make lock" >&2; exit 1; }
	$(UV) sync --frozen --all-extras --python $(PYTHON) --quiet
	touch $(STAMP)

lock: | $(UV)
	$(UV) lock --python $(PYTHON)

# Installs the Debian peers that are missing (needs root, as in CI).
peers:
	@missing=""; for b in $(PEER_BINS); do command -v $$b >/dev/null || missing="$$missing $$b"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian peers:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(PEERS) >/dev/null; \
	fi

# Every benchmark prints a table and writes JSON to bench/results/ (about 25 minutes).
bench: $(STAMP) peers
	$(BIN)/python bench/agent/run.py
	$(BIN)/python bench/pipeline/run.py
	$(BIN)/python bench/scale/run.py
	$(BIN)/python bench/alert_latency/run.py
	$(BIN)/python bench/dashboard/run.py
	$(BIN)/python -m bench.regressions.accuracy
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $(BIN)/python -m bench.capacity.accuracy
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $(BIN)/python -m bench.capacity.refit_cost

typecheck: $(STAMP)
	$(BIN)/mypy schemas agents pipeline

lint: $(STAMP) typecheck
	$(BIN)/ruff check schemas agents pipeline tests bench

clean:
	rm -rf $(VENV) $(TOOLS) .toka build *.egg-info
