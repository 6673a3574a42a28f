"""Monitoring as code: the Prometheus config, the alert rules and their unit tests, the Grafana
provisioning and dashboard.

promtool checks the config, the rules and every dashboard query, and runs the rules' unit tests.
Every metric that a dashboard query or an alert names must be exported by a service: the apps are
built in-process and their real ``/metrics`` route is scraped, so a renamed metric or a typo fails
here instead of leaving an empty panel or an alert that can never fire.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
GRAFANA_DIR = ROOT / "deploy" / "grafana"
DATASOURCES = GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS = GRAFANA_DIR / "provisioning" / "dashboards" / "dashboards.yml"
DASHBOARD = GRAFANA_DIR / "dashboards" / "callcenterai.json"

SERVICES = ("agent", "tfidf", "transformer")
JOBS = {"agent": "agent:8000", "tfidf": "tfidf_svc:8001", "transformer": "transformer:8002"}
# Labels every scraped series gets from Prometheus; `le` comes with histogram buckets.
TARGET_LABELS = {"job", "instance"}
METRIC = re.compile(r"\bcallcenterai_[a-z_]+")
SELECTOR = re.compile(r"\b(callcenterai_[a-z_]+)\{([^}]*)\}")
MATCHER = re.compile(r'(\w+)\s*(?:=~|!~|!=|=)\s*"([^"]*)"')
GROUPING = re.compile(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)")
# What Grafana substitutes before sending a query; anything else left with a `$` fails the check.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}

# Locally, promtool may be missing (it comes with `apt-get install prometheus`); in CI (CI=true)
# it must be there, so a missing binary fails instead of skipping, like needs_prometheus.
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None and not os.environ.get("CI"),
    reason="promtool is not installed (apt-get install prometheus)",
)


def promtool(*args: str, cwd: Path) -> str:
    result = subprocess.run(
        [PROMTOOL or "promtool", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"promtool {' '.join(args)} failed:\n{output}"
    return output


def load_yaml(path: Path):
    return yaml.safe_load(path.read_text())


def alert_rules() -> list[dict]:
    groups = load_yaml(PROMETHEUS_DIR / "alerts.yml")["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def panels(board: dict) -> list[dict]:
    """Every panel, including those nested in collapsed rows."""
    found = []
    for panel in board["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def queries(board: dict) -> list[tuple[str, str]]:
    """(where, PromQL) of every target, Grafana variables replaced by durations."""
    found = []
    for panel in panels(board):
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            found.append((f"panel {panel['id']} ({panel['title']}) {target['refId']}", expr))
    return found


def provisioned_datasource() -> dict:
    datasources = load_yaml(DATASOURCES)["datasources"]
    (default,) = [source for source in datasources if source.get("isDefault")]
    return default


# --- Prometheus -------------------------------------------------------------------------------


def test_prometheus_config_scrapes_the_three_services():
    config = load_yaml(PROMETHEUS_DIR / "prometheus.yml")
    assert config["rule_files"] == ["alerts.yml"]
    assert config["global"]["scrape_interval"] == "15s"
    jobs = {}
    for job in config["scrape_configs"]:
        assert job["metrics_path"] == "/metrics"
        ((targets,),) = [static["targets"] for static in job["static_configs"]]
        jobs[job["job_name"]] = targets
    assert jobs == JOBS


@needs_promtool
def test_promtool_accepts_the_config_and_the_rules():
    assert "SUCCESS" in promtool("check", "config", "prometheus.yml", cwd=PROMETHEUS_DIR)
    assert "SUCCESS" in promtool("check", "rules", "alerts.yml", cwd=PROMETHEUS_DIR)


@pytest.mark.slow
@needs_promtool
def test_alert_unit_tests_pass():
    """promtool test rules: each alert fires on its scenario and stays quiet on the others."""
    assert "SUCCESS" in promtool("test", "rules", "alerts_test.yml", cwd=PROMETHEUS_DIR / "tests")


def test_every_alert_is_tested_firing_and_quiet():
    tests = load_yaml(PROMETHEUS_DIR / "tests" / "alerts_test.yml")
    assert tests["rule_files"] == ["../alerts.yml"]
    fired, quiet = set(), set()
    for case in itertools.chain.from_iterable(t["alert_rule_test"] for t in tests["tests"]):
        (fired if case.get("exp_alerts") else quiet).add(case["alertname"])
    names = {rule["alert"] for rule in alert_rules()}
    assert len(names) >= 7
    assert names - fired == set(), "alerts never shown firing"
    assert names - quiet == set(), "alerts never shown quiet"
    assert (fired | quiet) - names == set(), "tests of alerts that do not exist"


def test_alerts_have_duration_severity_and_annotations_without_pii():
    # Bounded label values only (drift: model kind and feature name): never ticket text.
    allowed = {"job", "instance", "service", "downstream", "label", "model", "feature"}
    for rule in alert_rules():
        name = rule["alert"]
        assert re.fullmatch(r"CallCenterAI[A-Z][A-Za-z0-9]+", name), name
        assert re.fullmatch(r"\d+[smh]", rule["for"]), name
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        annotations = rule["annotations"]
        assert set(annotations) >= {"summary", "description"}, name
        used = set(re.findall(r"\$labels\.(\w+)", " ".join(annotations.values())))
        assert used <= allowed, f"{name} quotes labels {used - allowed}"


# --- Grafana ----------------------------------------------------------------------------------


def test_grafana_provisioning():
    source = provisioned_datasource()
    assert source["type"] == "prometheus"
    assert source["uid"] == "callcenterai-prometheus"
    assert source["url"] == "http://prometheus:9090"
    (provider,) = load_yaml(PROVIDERS)["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


def test_dashboard_structure():
    board = dashboard()
    assert board["uid"] == "callcenterai"
    assert board["title"] == "CallCenterAI"
    assert board["schemaVersion"] >= 36
    all_panels = panels(board)
    ids = [panel["id"] for panel in all_panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    assert len([p for p in all_panels if p["type"] != "row"]) >= 12
    cells = set()
    for panel in all_panels:
        grid = panel["gridPos"]
        assert all(isinstance(grid[key], int) for key in ("h", "w", "x", "y")), panel["title"]
        assert grid["h"] > 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        area = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not area & cells, f"panel {panel['title']} overlaps another one"
        cells |= area


def test_every_panel_and_target_uses_the_provisioned_datasource():
    expected = {"type": "prometheus", "uid": provisioned_datasource()["uid"]}
    for panel in panels(dashboard()):
        if panel["type"] in {"row", "text"}:
            continue
        assert panel.get("datasource") == expected, panel["title"]
        targets = panel.get("targets", [])
        assert targets, f"panel {panel['title']} has no query"
        assert len({target["refId"] for target in targets}) == len(targets), panel["title"]
        for target in targets:
            assert target.get("datasource") == expected, (panel["title"], target["refId"])
            assert target["expr"].strip(), (panel["title"], target["refId"])


@needs_promtool
def test_promtool_parses_every_dashboard_query(tmp_path):
    rules = []
    for index, (where, expr) in enumerate(queries(dashboard())):
        assert "$" not in expr, f"{where}: unknown Grafana variable in {expr}"
        rules.append({"record": f"dashboard:query_{index}", "expr": expr})
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    assert f"SUCCESS: {len(rules)} rules found" in promtool(
        "check", "rules", path.name, cwd=tmp_path
    )


# --- Metric names against a real scrape -------------------------------------------------------


def _failing_loader():
    raise RuntimeError("no model in this test: /metrics answers anyway")


@pytest.fixture(scope="module")
def exported() -> dict:
    """What the services export: series names from each app's ``GET /metrics`` (TYPE lines),
    plus the label names and routes of each metric family."""
    from fastapi.testclient import TestClient

    from callcenterai.config import Settings
    from callcenterai.services.agent_service import create_agent_app
    from callcenterai.services.metrics import AgentMetrics, ModelMetrics
    from callcenterai.services.model_service import create_model_app

    apps = {
        kind: create_model_app(kind, Settings(), loader=_failing_loader, model_uri="unused")
        for kind in ("tfidf", "transformer")
    }
    apps["agent"] = create_agent_app(Settings(pii_person_names=False))
    series, routes = set(), set()
    for app in apps.values():
        routes |= {route.path for route in app.routes}
        with TestClient(app) as client:
            response = client.get("/metrics")
        assert response.status_code == 200
        series |= series_names(response.text)

    # Label names, from samples of fresh metrics objects of the same classes: one child of every
    # labelled metric (prometheus_client keeps the label names in `_labelnames`) and the model info.
    labels: dict[str, set[str]] = {}
    for metrics in (ModelMetrics("tfidf"), AgentMetrics()):
        metrics.set_model("tfidf", "name", "1", "models:/name@production")
        for metric in vars(metrics).values():
            if getattr(metric, "_labelnames", None) and metric is not metrics.model_info:
                metric.labels(*["x"] * len(metric._labelnames))
        for family in metrics.registry.collect():
            for sample in family.samples:
                labels.setdefault(sample.name, set()).update(sample.labels)
    return {"series": series, "labels": labels, "routes": routes}


def series_names(exposition: str) -> set[str]:
    """Series names a Prometheus scrape of this exposition can produce, from its TYPE lines
    (prometheus_client writes HELP and TYPE for every metric, even one without samples)."""
    names = set()
    for line in exposition.splitlines():
        if not line.startswith("# TYPE "):
            continue
        _, _, family, kind = line.split()
        if kind == "histogram":
            names |= {f"{family}_bucket", f"{family}_sum", f"{family}_count"}
        elif kind == "summary":
            names |= {family, f"{family}_sum", f"{family}_count"}
        elif kind == "counter":
            names.add(family if family.endswith("_total") else f"{family}_total")
        elif kind == "info":
            names.add(family if family.endswith("_info") else f"{family}_info")
        else:
            names.add(family)
    return names


def test_series_names_maps_suffixes():
    exposition = "\n".join(
        [
            "# TYPE a_seconds histogram",
            "# TYPE b_total counter",
            "# TYPE c counter",
            "# TYPE d_info gauge",
            "# TYPE e info",
            "# HELP f ignored",
        ]
    )
    assert series_names(exposition) == {
        "a_seconds_bucket",
        "a_seconds_sum",
        "a_seconds_count",
        "b_total",
        "c_total",
        "d_info",
        "e_info",
    }


def expressions() -> list[tuple[str, str]]:
    """(where, PromQL) of every dashboard query and every alert."""
    return queries(dashboard()) + [
        (f"alert {rule['alert']}", rule["expr"]) for rule in alert_rules()
    ]


def monitored_texts() -> list[tuple[str, str]]:
    """The expressions, plus the alerts' annotations (which may name metrics to look at)."""
    annotations = [
        (f"alert {rule['alert']} {key}", text)
        for rule in alert_rules()
        for key, text in rule["annotations"].items()
    ]
    return expressions() + annotations


def test_scrape_exports_the_expected_families(exported):
    assert {
        "callcenterai_requests_total",
        "callcenterai_request_duration_seconds_bucket",
        "callcenterai_model_info",
        "callcenterai_circuit_open",
        "callcenterai_fallbacks_total",
    } <= exported["series"]
    assert "callcenterai_requests" not in exported["series"]


def test_every_metric_of_the_dashboard_and_alerts_is_exported(exported):
    used = set()
    for where, text in monitored_texts():
        names = set(METRIC.findall(text))
        missing = names - exported["series"]
        assert not missing, f"{where} uses metrics no service exports: {sorted(missing)}"
        used |= names
    # The monitoring covers every metric family the services export.
    # A counter is one family: _total, and _created (its creation time, once it has a child).
    families = {
        re.sub(r"_(bucket|sum|count|created|total)$", "", name) for name in exported["series"]
    }
    covered = {re.sub(r"_(bucket|sum|count|created|total)$", "", name) for name in used}
    assert families - covered == set(), "exported metrics without a panel or an alert"


def test_labels_endpoints_services_and_jobs_match_what_is_exported(exported):
    labels = exported["labels"]
    for where, expr in expressions():
        known = set(TARGET_LABELS) | {"le"}
        for metric, matchers in SELECTOR.findall(expr):
            names = labels.get(metric, set()) | TARGET_LABELS
            known |= names
            for label, value in MATCHER.findall(matchers):
                assert label in names, f"{where}: {metric} has no label {label}"
                values = set(value.split("|"))
                if label == "endpoint":
                    assert values <= exported["routes"], f"{where}: unknown endpoint {value}"
                if label in {"service", "downstream", "failed", "answered"}:
                    assert values <= set(SERVICES), f"{where}: unknown {label} {value}"
        for metric in set(METRIC.findall(expr)):
            known |= labels.get(metric, set())
        for grouping in GROUPING.findall(expr):
            for label in filter(None, (part.strip() for part in grouping.split(","))):
                assert label in known, f"{where}: groups by {label}, which no metric has"
        for job in re.findall(r'job=~?"([^"]+)"', expr):
            assert set(job.split("|")) <= set(JOBS), f"{where}: unknown job {job}"
