"""The package's layering (README, "File map"): import contracts and no import cycle.

import-linter checks the contracts in pyproject.toml (function-level imports included); the cycle
check covers what layers alone would not (modules of one package importing each other).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp

from callcenterai.config import PROJECT_ROOT

RUN_LINT_IMPORTS = (
    "import sys; from importlinter.cli import lint_imports_command as c; sys.exit(c())"
)


def find_cycle(graph: grimp.ImportGraph) -> list[str] | None:
    """One import cycle of ``graph`` (modules in import order, first = last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if state.get(imported) == 1:
                return path[path.index(imported) :] + [imported]
            if imported not in state and (found := visit(imported)):
                return found
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph.modules):
        if module not in state and (found := visit(module)):
            return found
    return None


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """Run import-linter on the package found under ``root`` with ``root``'s pyproject.toml."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(  # nosec B603 - this interpreter, fixed arguments
        [sys.executable, "-c", RUN_LINT_IMPORTS, "--config", "pyproject.toml", "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_import_contracts_are_kept():
    result = lint_imports(PROJECT_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_package_has_no_import_cycle():
    graph = grimp.build_graph("callcenterai", cache_dir=None)
    assert len(graph.modules) > 30
    assert find_cycle(graph) is None


def test_cycle_finder_finds_a_cycle():
    graph = grimp.ImportGraph()
    for module in ("pkg.a", "pkg.b", "pkg.c", "pkg.d"):
        graph.add_module(module)
    graph.add_import(importer="pkg.a", imported="pkg.b")
    graph.add_import(importer="pkg.b", imported="pkg.c")
    graph.add_import(importer="pkg.d", imported="pkg.c")
    assert find_cycle(graph) is None
    graph.add_import(importer="pkg.c", imported="pkg.a")
    assert find_cycle(graph) == ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]


def test_an_upward_import_breaks_the_contract(tmp_path):
    """The defect the layering removed: settings importing the agent's routing module."""
    shutil.copytree(PROJECT_ROOT / "callcenterai", tmp_path / "callcenterai")
    shutil.copy(PROJECT_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    config = tmp_path / "callcenterai" / "config.py"
    config.write_text(config.read_text() + "\nfrom callcenterai.agent import routing  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "Layers of the package BROKEN" in result.stdout
    assert "callcenterai.config -> callcenterai.agent.routing" in result.stdout


def test_serving_never_loads_training_code(tiny_transformer_dir, tfidf_dir):
    """Beyond the static contract: loading and running both models in a service process.

    PyTorch itself is not checked here: where it is installed (this environment), loading a
    skops file imports it through scikit-learn's array-API support. The serving images do not
    install it (tests/deploy/test_containers.py).
    """
    code = (
        "import sys\n"
        "from callcenterai.services.model_service import create_model_app\n"
        "from callcenterai.services.agent_service import create_agent_app\n"
        "from callcenterai.models.store import load_classifier\n"
        f"for uri in ({str(tfidf_dir)!r}, {str(tiny_transformer_dir)!r}):\n"
        "    load_classifier(uri).predict(['my screen is black'])\n"
        "heavy = ('transformers', 'callcenterai.train', 'callcenterai.pipeline',\n"
        "         'callcenterai.models.finetune', 'callcenterai.models.offline_e5')\n"
        "print(sorted(name for name in heavy if name in sys.modules))\n"
    )
    result = subprocess.run(  # nosec B603 - this interpreter, fixed code
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
