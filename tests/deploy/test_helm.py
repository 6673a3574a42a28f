"""The Helm chart (deploy/helm/callcenterai), rendered and checked offline.

helm-python-sdk (Helm's Go SDK behind ctypes, no helm binary) lints and renders the chart with its
default values and with ci/all-enabled-values.yaml (ServiceMonitors, Ingress, request-rate
autoscaling, API key). The rendered objects are read back: every service has its Deployment,
Service, HorizontalPodAutoscaler and PodDisruptionBudget, probes hit /ready and /health on the
port the service listens on, pods run as non-root on a read-only root filesystem, no Secret is
templated, the agent calls the chart's own Services. kubernetes-validate --strict checks every
object but the Prometheus Operator's ServiceMonitor (a CRD it has no schema for: skipped by name),
and Trivy finds no HIGH or CRITICAL misconfiguration. No cluster is involved: the chart is
validated, not installed. A missing tool skips its tests locally and fails them in CI (CI set),
like ``needs_prometheus``.

The module is also the command line the Makefile uses (python -m tests.deploy.test_helm):
``lint [-f VALUES]`` exits 1 on any lint warning or error, ``template [-f VALUES] [--no-crds]``
prints the manifests as ``helm template`` would.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import BaseModel

from callcenterai.config import PROJECT_ROOT, RoutingSettings, Settings
from tests.deploy.tools import findings, needs, needs_trivy, require, trivy_config

try:
    import helm_python as helm
except (ImportError, OSError):  # not installed, or its native library does not load here
    helm = None
try:
    import kubernetes_validate
except ImportError:
    kubernetes_validate = None

CHART = PROJECT_ROOT / "deploy" / "helm" / "callcenterai"
ALL_ENABLED = CHART / "ci" / "all-enabled-values.yaml"
RELEASE, NAMESPACE = "callcenterai", "callcenterai"
# Service -> the port its image listens on (docker/<service>.Dockerfile).
SERVICES = {"agent": 8000, "tfidf": 8001, "transformer": 8002}
# Requests and limits the services were sized for (the transformer loads a ~450 MB ONNX model,
# the agent two spaCy models).
RESOURCES = {
    "agent": ({"cpu": "250m", "memory": "1Gi"}, {"cpu": "1", "memory": "1536Mi"}),
    "tfidf": ({"cpu": "250m", "memory": "512Mi"}, {"cpu": "1", "memory": "1Gi"}),
    "transformer": ({"cpu": "1", "memory": "1536Mi"}, {"cpu": "2", "memory": "2560Mi"}),
}
# Custom resources kubernetes-validate has no schema for; everything else must validate.
CRD_GROUPS = {"monitoring.coreos.com"}
# The newest Kubernetes kubernetes-validate 1.37.0 ships schemas for, and an older one still
# common on managed clusters.
KUBERNETES_VERSIONS = ("1.37.0", "1.33.0")
SCENARIOS = ("default", "all-enabled")


needs_helm = needs(helm, "helm-python-sdk", "pip install helm-python-sdk")
needs_kubernetes_validate = needs(
    kubernetes_validate, "kubernetes-validate", "pip install kubernetes-validate"
)


# --- Rendering -----------------------------------------------------------------------------------


def scenario_values(scenario: str) -> dict | None:
    return yaml.safe_load(ALL_ENABLED.read_text()) if scenario == "all-enabled" else None


def load_values_file(path: str | None) -> dict | None:
    return yaml.safe_load(Path(path).read_text()) if path else None


def render_files(
    values: dict | None = None, chart: Path = CHART, release: str = RELEASE
) -> dict[str, str]:
    """Template path -> rendered text, as `helm template` renders it (no cluster contacted)."""
    with helm.Chart.load(chart) as loaded:
        files = loaded.render(values, name=release, namespace=NAMESPACE, is_install=True)
    return {path: text for path, text in files.items() if not path.endswith("NOTES.txt")}


def render(values: dict | None = None, release: str = RELEASE) -> list[dict]:
    """The chart's objects, parsed."""
    return [
        document
        for _, text in sorted(render_files(values, release=release).items())
        for document in yaml.safe_load_all(text)
        if document
    ]


def lint_problems(values: dict | None = None, chart: Path = CHART) -> list[str]:
    """`helm lint --strict`: every warning or error (severity 2 or 3) and every lint error."""
    report = helm.lint(chart, values, strict=True)
    problems = [
        f"{message['path']}: {message['error']}"
        for message in report["messages"]
        if message["severity"] >= 2
    ]
    return problems + list(report.get("errors") or [])


def is_custom_resource(document: dict) -> bool:
    return document["apiVersion"].split("/")[0] in CRD_GROUPS


def objects(documents: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in documents if d["kind"] == kind}


def component(document: dict) -> str:
    return document["metadata"]["labels"]["app.kubernetes.io/component"]


def by_service(documents: list[dict], kind: str) -> dict[str, dict]:
    return {component(d): d for d in objects(documents, kind).values()}


def container(deployment: dict) -> dict:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def container_env(documents: list[dict], deployment: dict) -> dict[str, Any]:
    """The container's environment: its ConfigMaps (envFrom), then its own env entries."""
    config_maps = objects(documents, "ConfigMap")
    env: dict[str, Any] = {}
    for source in container(deployment).get("envFrom", []):
        if "configMapRef" in source:
            env.update(config_maps[source["configMapRef"]["name"]]["data"])
    for entry in container(deployment).get("env", []):
        env[entry["name"]] = entry.get("value", entry.get("valueFrom"))
    return env


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


@pytest.fixture(scope="module", params=SCENARIOS)
def scenario(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def rendered(scenario) -> list[dict]:
    require(helm, "helm-python-sdk")
    return render(scenario_values(scenario))


# --- Lint and render -----------------------------------------------------------------------------


@needs_helm
@pytest.mark.parametrize("scenario_name", SCENARIOS)
def test_helm_lint_passes(scenario_name):
    require(helm, "helm-python-sdk")
    assert lint_problems(scenario_values(scenario_name)) == []


@needs_helm
def test_helm_lint_reports_a_broken_chart(tmp_path):
    require(helm, "helm-python-sdk")
    broken = tmp_path / "callcenterai"
    shutil.copytree(CHART, broken)
    service = broken / "templates" / "service.yaml"
    service.write_text(service.read_text().replace("port: {{ $values.port }}", "port: {{ $values"))
    assert lint_problems(chart=broken)


@needs_helm
@pytest.mark.parametrize(
    "values, message",
    [
        ({"mlflow": {"trackingUri": ""}}, "mlflow.trackingUri is required"),
        ({"tfidf": {"autoscaling": {"minReplicas": 5}}}, "minReplicas is above maxReplicas"),
    ],
)
def test_bad_values_fail_to_render(values, message):
    require(helm, "helm-python-sdk")
    with pytest.raises(helm.HelmError, match=message):
        render(values)


@needs_helm
def test_chart_version_follows_the_project():
    require(helm, "helm-python-sdk")
    with helm.Chart.load(CHART) as chart:
        metadata = chart.metadata
    project = (PROJECT_ROOT / "pyproject.toml").read_text()
    version = re.search(r'^version = "([^"]+)"', project, re.MULTILINE).group(1)
    assert metadata["apiVersion"] == "v2"
    assert metadata["appVersion"] == version


# --- What the chart creates ----------------------------------------------------------------------


@needs_helm
def test_every_service_has_deployment_service_hpa_and_pdb(rendered):
    for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
        assert set(by_service(rendered, kind)) == set(SERVICES), kind
    deployments = by_service(rendered, "Deployment")
    for service, deployment in deployments.items():
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert matches(deployment["spec"]["selector"]["matchLabels"], pod_labels)
        for other, other_deployment in deployments.items():  # selects its own pods only
            other_labels = other_deployment["spec"]["template"]["metadata"]["labels"]
            selector = by_service(rendered, "Service")[service]["spec"]["selector"]
            assert matches(selector, other_labels) == (other == service), (service, other)
        pdb = by_service(rendered, "PodDisruptionBudget")[service]
        assert pdb["apiVersion"] == "policy/v1"
        assert matches(pdb["spec"]["selector"]["matchLabels"], pod_labels)
        # maxUnavailable, never minAvailable: one replica must not block a node drain.
        assert pdb["spec"]["maxUnavailable"] == 1 and "minAvailable" not in pdb["spec"]


@needs_helm
def test_services_run_the_dockerfile_command_on_their_port(rendered):
    services = by_service(rendered, "Service")
    for service, deployment in by_service(rendered, "Deployment").items():
        dockerfile = (PROJECT_ROOT / "docker" / f"{service}.Dockerfile").read_text()
        cmd = json.loads(re.findall(r"^CMD (\[.*\])$", dockerfile, re.MULTILINE)[-1])
        main = container(deployment)
        assert main["command"] + main["args"] == cmd
        assert main["ports"] == [
            {"name": "http", "containerPort": SERVICES[service], "protocol": "TCP"}
        ]
        spec = services[service]["spec"]
        assert spec["type"] == "ClusterIP"
        assert spec["ports"] == [
            {"name": "http", "port": SERVICES[service], "targetPort": "http", "protocol": "TCP"}
        ]


@needs_helm
def test_probes_hit_ready_and_health_on_the_service_port(rendered):
    for service, deployment in by_service(rendered, "Deployment").items():
        main = container(deployment)
        ports = {port["name"]: port["containerPort"] for port in main["ports"]}
        paths = {}
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            get = main[probe]["httpGet"]
            assert ports[get["port"]] == SERVICES[service], (service, probe)
            paths[probe] = get["path"]
        assert paths["readinessProbe"] == "/ready" and paths["livenessProbe"] == "/health"
        # The agent's /health calls both model services with a 1 s timeout.
        assert main["livenessProbe"]["timeoutSeconds"] >= 2
        startup = main["startupProbe"]
        budget = startup["periodSeconds"] * startup["failureThreshold"]
        if service == "agent":  # spaCy models; a restart would not make the models ready
            assert paths["startupProbe"] == "/health" and budget >= 120
        else:  # waits for the model from MLflow (the transformer's is about 450 MB)
            assert paths["startupProbe"] == "/ready"
            assert budget >= (600 if service == "transformer" else 300), service


@needs_helm
def test_pods_run_as_non_root_on_a_read_only_root_filesystem(rendered):
    accounts = objects(rendered, "ServiceAccount")
    for service, deployment in by_service(rendered, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        assert pod["enableServiceLinks"] is False  # no CALLCENTERAI_*_PORT=tcp://... variables
        assert accounts[pod["serviceAccountName"]]["automountServiceAccountToken"] is False
        main = container(deployment)
        context = main["securityContext"]
        assert context["runAsNonRoot"] is True and context["runAsUser"] == 10001
        assert context["allowPrivilegeEscalation"] is False
        assert context["privileged"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["capabilities"] == {"drop": ["ALL"]}
        # Writable scratch space where the app writes: emptyDir volumes only.
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        mounts = {mount["mountPath"]: mount["name"] for mount in main["volumeMounts"]}
        assert set(mounts) == {"/tmp", "/app/.cache"}, service
        assert all("emptyDir" in volumes[name] for name in mounts.values())
        env = container_env(rendered, deployment)
        assert env["TMPDIR"] == "/tmp" and env["CALLCENTERAI_CACHE_DIR"] == "/app/.cache"


@needs_helm
def test_resources_are_requested_and_limited(rendered):
    for service, deployment in by_service(rendered, "Deployment").items():
        resources = container(deployment)["resources"]
        assert (resources["requests"], resources["limits"]) == RESOURCES[service], service
    transformer = by_service(rendered, "Deployment")["transformer"]
    # ONNX Runtime would start a thread per core of the node, not of the limit.
    threads = container_env(rendered, transformer)["CALLCENTERAI_INFERENCE_THREADS"]
    assert threads == RESOURCES["transformer"][1]["cpu"]


@needs_helm
def test_no_secret_is_templated(rendered, scenario):
    assert [d for d in rendered if d["kind"] == "Secret"] == []
    for config_map in objects(rendered, "ConfigMap").values():
        assert not any(re.search("API_KEY|PASSWORD|TOKEN", key) for key in config_map["data"])
    agent = container_env(rendered, by_service(rendered, "Deployment")["agent"])
    # Fail closed (finding 5): the key is required; without a Secret the agent will not start.
    assert agent["CALLCENTERAI_REQUIRE_API_KEY"] == "true"
    if scenario == "default":  # no Secret named: no reference (and the agent refuses to start)
        assert "CALLCENTERAI_API_KEY" not in agent
    else:  # not optional: a missing Secret or key keeps the pod from starting
        expected = {"name": "callcenterai-agent", "key": "api-key"}
        assert agent["CALLCENTERAI_API_KEY"] == {"secretKeyRef": expected}


@needs_helm
def test_anonymous_access_is_an_explicit_choice():
    require(helm, "helm-python-sdk")
    documents = render({"agent": {"apiKey": {"allowAnonymous": True}}})
    agent = container_env(documents, by_service(documents, "Deployment")["agent"])
    assert agent["CALLCENTERAI_REQUIRE_API_KEY"] == "false"
    for service in ("tfidf", "transformer"):
        env = container_env(documents, by_service(documents, "Deployment")[service])
        assert "CALLCENTERAI_REQUIRE_API_KEY" not in env


@needs_helm
def test_no_service_may_unpickle_a_model(rendered):
    for service, deployment in by_service(rendered, "Deployment").items():
        env = container_env(rendered, deployment)
        assert env["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] == "false", service


@needs_helm
def test_only_the_agent_reaches_the_model_services(rendered, scenario):
    """Finding 6: the model services have no authentication, so the network decides."""
    policies = by_service(rendered, "NetworkPolicy")
    deployments = by_service(rendered, "Deployment")
    assert set(policies) == set(SERVICES)
    agent_labels = deployments["agent"]["spec"]["template"]["metadata"]["labels"]
    for service, policy in policies.items():
        pod_labels = deployments[service]["spec"]["template"]["metadata"]["labels"]
        assert matches(policy["spec"]["podSelector"]["matchLabels"], pod_labels)
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        (rule,) = policy["spec"]["ingress"]
        assert rule["ports"] == [{"port": SERVICES[service], "protocol": "TCP"}]
        if service == "agent":
            assert ("from" in rule) == (scenario == "all-enabled")
            continue
        peers = rule["from"]
        assert matches(peers[0]["podSelector"]["matchLabels"], agent_labels)
        assert not matches(peers[0]["podSelector"]["matchLabels"], pod_labels)
        others = peers[1:]
        assert all("namespaceSelector" in peer for peer in others)
        assert len(others) == (1 if scenario == "all-enabled" else 0)


@needs_helm
@pytest.mark.parametrize("release", [RELEASE, "prod"])
def test_agent_calls_the_charts_own_services(release):
    require(helm, "helm-python-sdk")
    documents = render(release=release)
    services = by_service(documents, "Service")
    env = container_env(documents, by_service(documents, "Deployment")["agent"])
    for downstream in ("tfidf", "transformer"):
        url = urlsplit(env[f"CALLCENTERAI_{downstream.upper()}_URL"])
        service = services[downstream]
        assert (url.scheme, url.hostname) == ("http", service["metadata"]["name"])
        assert url.port == service["spec"]["ports"][0]["port"] == SERVICES[downstream]
        assert service["metadata"]["name"].startswith(release)


def settings_variables() -> set[str]:
    """Every environment variable the settings read, nested models' fields included."""
    names = set()
    for name, field in Settings.model_fields.items():
        nested = field.annotation
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            names |= {f"CALLCENTERAI_{name}_{sub}".upper() for sub in nested.model_fields}
        else:
            names.add(f"CALLCENTERAI_{name.upper()}")
    return names


def test_settings_variables_include_the_routing_policy():
    names = settings_variables()
    assert {"CALLCENTERAI_ROUTE_TFIDF_MIN_CONFIDENCE", "CALLCENTERAI_PORT"} <= names
    assert "CALLCENTERAI_ROUTE" not in names


@needs_helm
def test_configuration_is_what_the_services_read(rendered, scenario, monkeypatch):
    values = scenario_values(scenario) or {}
    tracking_uri = values.get("mlflow", {}).get("trackingUri", "http://mlflow:5000")
    known = settings_variables()
    known |= {"MLFLOW_TRACKING_URI", "MLFLOW_ALLOW_PICKLE_DESERIALIZATION"}
    known |= {"TMPDIR", "XDG_CACHE_HOME"}
    for service, deployment in by_service(rendered, "Deployment").items():
        env = container_env(rendered, deployment)
        assert set(env) <= known, f"{service}: unknown settings {set(env) - known}"
        for name in known:
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            if isinstance(value, str):
                monkeypatch.setenv(name, value)
        settings = Settings(_env_file=None)  # the service would start with these settings
        for field in RoutingSettings.model_fields:  # nested: CALLCENTERAI_ROUTE_<FIELD>
            variable = f"CALLCENTERAI_ROUTE_{field.upper()}"
            if variable not in env:
                continue
            try:
                value = json.loads(env[variable])
            except ValueError:  # a plain string, e.g. most_confident
                value = env[variable]
            expected = getattr(RoutingSettings(**{field: value}), field)
            assert getattr(settings.route, field) == expected, variable
        assert env["MLFLOW_TRACKING_URI"] == tracking_uri  # the agent: drift references
        if service == "agent":
            # The ticket store comes from a Secret, or is off: never a file per replica.
            if values.get("agent", {}).get("store", {}).get("existingSecret"):
                assert "CALLCENTERAI_STORE_URL" in env and "CALLCENTERAI_STORE_ENABLED" not in env
            else:
                assert (
                    env["CALLCENTERAI_STORE_ENABLED"] == "false" and settings.store_enabled is False
                )
            continue
        model_uri = values.get(service, {}).get("modelUri")
        assert env["CALLCENTERAI_MODEL_URI"] == (
            model_uri or f"models:/callcenterai-{service}@production"
        )


@needs_helm
def test_images_are_the_dockerfiles_images(rendered, scenario):
    values = scenario_values(scenario) or {}
    registry = values.get("image", {}).get("registry", "ghcr.io/callcenterai")
    default_tag = values.get("image", {}).get("tag") or "0.1.0"
    for service, deployment in by_service(rendered, "Deployment").items():
        tag = values.get(service, {}).get("image", {}).get("tag") or default_tag
        assert container(deployment)["image"] == f"{registry}/callcenterai-{service}:{tag}"
        assert (PROJECT_ROOT / "docker" / f"{service}.Dockerfile").exists()


@needs_helm
def test_autoscaling_on_cpu_and_optionally_on_request_rate(rendered, scenario):
    deployments = by_service(rendered, "Deployment")
    for service, hpa in by_service(rendered, "HorizontalPodAutoscaler").items():
        assert hpa["apiVersion"] == "autoscaling/v2"
        target = hpa["spec"]["scaleTargetRef"]
        assert (target["kind"], target["name"]) == (
            "Deployment",
            deployments[service]["metadata"]["name"],
        )
        assert "replicas" not in deployments[service]["spec"]  # the HPA owns the count
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        metrics = {metric["type"]: metric for metric in hpa["spec"]["metrics"]}
        cpu = metrics["Resource"]["resource"]
        assert cpu["name"] == "cpu" and cpu["target"]["type"] == "Utilization"
        assert 0 < cpu["target"]["averageUtilization"] <= 100
        with_rate = service == "agent" and scenario == "all-enabled"
        assert ("Pods" in metrics) == with_rate, service
        if with_rate:
            pods = metrics["Pods"]["pods"]
            assert pods["metric"]["name"] == "callcenterai_requests_per_second"
            assert pods["target"] == {"type": "AverageValue", "averageValue": "50"}


@needs_helm
def test_without_autoscaling_the_deployment_sets_its_replicas():
    require(helm, "helm-python-sdk")
    documents = render({"transformer": {"autoscaling": {"enabled": False}, "replicas": 2}})
    assert set(by_service(documents, "HorizontalPodAutoscaler")) == {"agent", "tfidf"}
    assert by_service(documents, "Deployment")["transformer"]["spec"]["replicas"] == 2


@needs_helm
def test_prometheus_scrapes_every_service(rendered, scenario):
    monitors = by_service(rendered, "ServiceMonitor")
    services = by_service(rendered, "Service")
    for service, deployment in by_service(rendered, "Deployment").items():
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        scrape = {k: v for k, v in annotations.items() if k.startswith("prometheus.io/")}
        if scenario == "default":  # annotations, no ServiceMonitor
            assert monitors == {}
            assert scrape == {
                "prometheus.io/scrape": "true",
                "prometheus.io/port": str(SERVICES[service]),
                "prometheus.io/path": "/metrics",
            }
            continue
        assert scrape == {}  # scraped once, by the ServiceMonitor
        monitor = monitors[service]
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        assert matches(
            monitor["spec"]["selector"]["matchLabels"], services[service]["metadata"]["labels"]
        )
        (endpoint,) = monitor["spec"]["endpoints"]
        assert endpoint["port"] == services[service]["spec"]["ports"][0]["name"]
        assert endpoint["path"] == "/metrics"
        # The metrics carry their own `service` label (agent, tfidf, transformer), which the
        # alerts and the dashboard select on: the target's must not replace it.
        assert endpoint["honorLabels"] is True


@needs_helm
def test_ingress_reaches_the_agent_only_when_enabled(rendered, scenario):
    ingresses = list(objects(rendered, "Ingress").values())
    if scenario == "default":
        assert ingresses == []
        return
    (ingress,) = ingresses
    agent = by_service(rendered, "Service")["agent"]
    backends = [
        path["backend"]["service"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    ]
    assert backends and all(b["name"] == agent["metadata"]["name"] for b in backends)
    assert all(b["port"]["name"] == agent["spec"]["ports"][0]["name"] for b in backends)
    # Only the public paths (finding 6): /metrics, /ready, /docs, /openapi.json stay inside.
    routed = {
        (path["path"], path["pathType"])
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert routed == {
        ("/", "Exact"),
        ("/classify", "Exact"),
        ("/tickets", "Prefix"),
        ("/health", "Exact"),
    }


# --- Schemas and security scanners ---------------------------------------------------------------


def strict_errors(documents: list[dict], version: str) -> list[str]:
    errors = []
    for document in documents:
        name = f"{document['kind']}/{document['metadata']['name']}"
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except Exception as exc:  # noqa: BLE001 - a missing schema is a failure too
            errors.append(f"{name}: {getattr(exc, 'message', exc)}")
    return errors


@needs_helm
@needs_kubernetes_validate
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_manifests_pass_kubernetes_validate_strict(rendered, scenario, version):
    require(kubernetes_validate, "kubernetes-validate")
    custom = [d for d in rendered if is_custom_resource(d)]
    # Only the ServiceMonitors are skipped (no schema for a CRD); every other object validates.
    assert {d["kind"] for d in custom} == (
        {"ServiceMonitor"} if scenario == "all-enabled" else set()
    )
    assert strict_errors([d for d in rendered if not is_custom_resource(d)], version) == []
    # Strict mode rejects a misspelt field, so a typo in a template cannot pass.
    deployment = json.loads(json.dumps(by_service(rendered, "Deployment")["tfidf"]))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    assert strict_errors([deployment], version)


@needs_trivy
def test_trivy_finds_no_high_or_critical_misconfiguration(tmp_path):
    cache = tmp_path / "cache"
    # The offline checks must be loaded: a root-capable pod in a chart is a HIGH finding.
    canary = tmp_path / "canary"
    shutil.copytree(CHART, canary)
    values = canary / "values.yaml"
    values.write_text(values.read_text().replace("privileged: false", "privileged: true"))
    assert any(" HIGH " in line for line in findings(trivy_config(canary, cache)))

    for options in ((), ("--helm-values", str(ALL_ENABLED))):
        report = trivy_config(CHART, cache, *options)
        scanned = {result["Target"] for result in report.get("Results", [])}
        assert "templates/deployment.yaml" in scanned, scanned
        assert findings(report) == [], options


# --- Command line (Makefile) ---------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.deploy.test_helm", description=__doc__)
    parser.add_argument("command", choices=["lint", "template"])
    parser.add_argument("-f", "--values", help="a values file, as helm -f")
    parser.add_argument("--release", default=RELEASE)
    parser.add_argument(
        "--no-crds",
        action="store_true",
        help=f"template: leave out custom resources ({', '.join(sorted(CRD_GROUPS))})",
    )
    args = parser.parse_args(argv)
    if helm is None:
        print("error: helm-python-sdk is not installed", file=sys.stderr)
        return 2
    values = load_values_file(args.values)
    if args.command == "lint":
        problems = lint_problems(values)
        for problem in problems:
            print(problem, file=sys.stderr)
        print(f"{CHART.relative_to(PROJECT_ROOT)}: {len(problems)} lint problem(s)")
        return 1 if problems else 0
    for path, text in sorted(render_files(values, release=args.release).items()):
        documents = [d for d in yaml.safe_load_all(text) if d]
        if args.no_crds:
            documents = [d for d in documents if not is_custom_resource(d)]
        for document in documents:
            print(f"---\n# Source: {path}")
            print(yaml.safe_dump(document, sort_keys=False), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
