# Toka Performance. `make run`: set up and run the embedded default. `make test`: set up and
# pass the tests. Both work on a fresh clone; nothing is installed by hand.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian peers the tests run for real (started and stopped by the test fixtures).
PEERS := prometheus prometheus-alertmanager prometheus-node-exporter socat kcat
PEER_BINS := prometheus prometheus-alertmanager prometheus-node-exporter socat kcat

.PHONY: run test venv peers bench lint clean

run: $(STAMP)
	$(BIN)/toka up

test: $(STAMP) peers
	$(BIN)/pytest -q -p no:cacheprovider

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "toka needs Python >= 3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

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
	$(BIN)/python bench/alert_latency/run.py
	$(BIN)/python -m bench.regressions.accuracy
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $(BIN)/python -m bench.capacity.accuracy
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $(BIN)/python -m bench.capacity.refit_cost

lint: $(STAMP)
	$(BIN)/python -m pip install -q ruff mypy
	$(BIN)/ruff check schemas agents pipeline tests bench

clean:
	rm -rf $(VENV) .toka build *.egg-info
