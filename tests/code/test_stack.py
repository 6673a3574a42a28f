"""``callcenterai down``: it stops the stack its pid file names, and nothing else.

A pid file outlives its stack when the supervisor is killed without clean-up; its pids may then
belong to unrelated processes, which ``down`` must leave alone. The supervisor here is the real
``stack.run`` with a stack of one child (``sleep``), so the test takes a second, not minutes.
"""

import json
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from callcenterai.cli import app
from callcenterai.stack import process_start, read_running

SUPERVISOR = """
import sys
from pathlib import Path

from callcenterai import stack


def up(self):
    self.folder.mkdir(parents=True, exist_ok=True)
    self._start("sleeper", ["sleep", "60"])


stack.Stack.up = up
stack.run(Path(sys.argv[1]), stack.Ports(), None)
"""


def wait_for_child(pidfile, name: str, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pidfile.exists():
            try:
                return json.loads(pidfile.read_text())["children"][name]
            except (ValueError, KeyError):
                pass  # being written, or the child is not started yet
        time.sleep(0.05)
    raise AssertionError(f"no {name} in {pidfile} after {timeout} s")


def test_down_stops_the_running_stack(tmp_path):
    folder = tmp_path / "stack"
    supervisor = subprocess.Popen([sys.executable, "-c", SUPERVISOR, str(folder)])
    try:
        sleeper = wait_for_child(folder / "stack.json", "sleeper")
        result = CliRunner().invoke(app, ["down", "--dir", str(folder)])
        assert result.exit_code == 0, result.output
        assert result.output.strip() == "stopped: sleeper"
        assert supervisor.wait(timeout=5) == 0
        assert process_start(sleeper) is None  # exited and reaped
        assert not (folder / "stack.json").exists()
    finally:
        supervisor.kill()
        supervisor.wait()


@pytest.mark.parametrize("recorded", ["old pid file", "another start time"])
def test_down_leaves_an_unrelated_process_alone(tmp_path, recorded):
    """The pid file of a stack that died uncleanly, its pid now held by another process."""
    unrelated = subprocess.Popen(["sleep", "60"])
    try:
        folder = tmp_path / "stack"
        folder.mkdir()
        state = {"supervisor": unrelated.pid, "children": {"mlflow": unrelated.pid}}
        if recorded == "another start time":
            state["started"] = {"supervisor": "1", "mlflow": "1"}
        pidfile = folder / "stack.json"
        pidfile.write_text(json.dumps(state))
        result = CliRunner().invoke(app, ["down", "--dir", str(folder)])
        assert result.exit_code == 0, result.output
        assert len(result.output.strip().splitlines()) == 1
        assert result.output.startswith("no stack is running")
        assert "stale pid file" in result.output and "nothing was signalled" in result.output
        time.sleep(0.2)
        assert unrelated.poll() is None, "down signalled an unrelated process"
        assert not pidfile.exists()
        pidfile.write_text(json.dumps(state))
        assert read_running(pidfile) == {}  # nor does it stop `up` from starting a stack
    finally:
        unrelated.kill()
        unrelated.wait()


def test_down_with_an_unreadable_pid_file(tmp_path):
    folder = tmp_path / "stack"
    folder.mkdir()
    (folder / "stack.json").write_text("{not json")
    result = CliRunner().invoke(app, ["down", "--dir", str(folder)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("no stack is running") and "stale pid file" in result.output
    assert not (folder / "stack.json").exists()
