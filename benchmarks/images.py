"""Every image built for real, measured, and checked inside.

Run with ``python -m benchmarks.images`` (root, after ``make venv``; Debian's ``docker.io`` and
``debootstrap`` installed): ``docker/offline/build-images.sh`` builds each image from the
project's Dockerfiles on a Python 3.11 base made from Debian's packages, from a wheelhouse of the
pinned versions (no registry and no package index inside a build here). Then, per image: its
size, build time (from a warm base and wheelhouse, and the layer cache emptied first), the user it
runs as, whether PyTorch is importable in it, and the estimate the README gave before any image
was built. Writes ``reports/benchmarks/images.json`` and re-renders ``reports/benchmark.md``.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

from benchmarks.report import REPORT_DIR, render_report
from callcenterai.config import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "docker" / "offline" / "build-images.sh"
STATE = Path(os.environ.get("CALLCENTERAI_DOCKER_DIR", PROJECT_ROOT / "build" / "docker"))
IMAGES = ("mlflow", "trainer", "tfidf", "transformer", "agent")
# What the README estimated from the installed packages before any image was built (GB).
ESTIMATES_GB = {"mlflow": 0.95, "trainer": 2.2, "tfidf": 0.95, "transformer": 1.05, "agent": 1.25}
# Images that must not carry PyTorch (they serve ONNX or scikit-learn models).
NO_TORCH = {"mlflow", "tfidf", "transformer", "agent"}


def docker(*args: str, env: dict) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return done.stdout.strip()


def inside(name: str, code: str, env: dict) -> str:
    """Run Python in the image, as its own user, without a network."""
    return docker("run", "--rm", "--network", "none", name, "python", "-c", code, env=env)


def run_script(*args: str) -> tuple[float, dict]:
    env = {**os.environ, "CALLCENTERAI_DOCKER_DIR": str(STATE)}
    started = time.perf_counter()
    subprocess.run(["bash", str(SCRIPT), *args], check=True, env=env)
    env["DOCKER_HOST"] = env.get("DOCKER_HOST") or f"unix://{STATE / 'docker.sock'}"
    return time.perf_counter() - started, env


def main() -> None:
    prepare_s, env = run_script("--prepare")  # engine, base image, wheelhouse (cached)
    for image in IMAGES:  # time each build from an empty layer cache, not from earlier runs
        subprocess.run(
            ["docker", "image", "rm", "-f", f"ghcr.io/callcenterai/callcenterai-{image}:latest"],
            capture_output=True,
            env=env,
            check=False,
        )
    # The builder stages left untagged by earlier builds: the legacy builder's layer cache.
    subprocess.run(["docker", "image", "prune", "-f"], capture_output=True, env=env, check=False)
    build_s, env = run_script(*IMAGES)
    built = [json.loads(line) for line in (STATE / "images.jsonl").read_text().splitlines()]
    results = {
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python -m benchmarks.images",
        "machine": {"cpus": os.cpu_count()},
        "engine": docker("version", "--format", "{{.Server.Version}}", env=env),
        "base": {
            "name": "callcenterai-python:3.11-bookworm",
            "size_bytes": int(
                docker(
                    "image",
                    "inspect",
                    "-f",
                    "{{.Size}}",
                    "callcenterai-python:3.11-bookworm",
                    env=env,
                )
            ),
            "python": inside(
                "callcenterai-python:3.11-bookworm",
                "import platform; print(platform.python_version())",
                env,
            ),
        },
        "prepare_seconds": round(prepare_s, 1),
        "build_seconds_total": round(build_s, 1),
        "images": {},
    }
    for entry in built:
        name, image = entry["name"], entry["image"]
        user = docker("image", "inspect", "-f", "{{.Config.User}}", name, env=env)
        torch = inside(
            name, "import importlib.util; print(importlib.util.find_spec('torch') is not None)", env
        )
        results["images"][image] = {
            "name": name,
            "size_bytes": entry["size_bytes"],
            "build_seconds": entry["build_s"],
            "user": user,
            "uid_inside": inside(name, "import os; print(os.getuid())", env),
            "has_torch": torch == "True",
            "estimate_gb": ESTIMATES_GB.get(image),
        }
        if image in NO_TORCH and torch == "True":
            raise SystemExit(f"{image} carries PyTorch")
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    (REPORT_DIR / "images.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    print(f"report: {render_report()}")


if __name__ == "__main__":
    main()
