"""The whole system on one machine without Docker: ``callcenterai up`` (``make run``).

Starts an MLflow tracking server (sqlite store and artifacts under the stack folder), then
together the TF-IDF bootstrap (on first start, trains and registers TF-IDF on the shipped Kaggle
tickets + natural corpus, under a minute), the two model services (following
``models:/...@production`` on that server: they load a version as soon as it exists) and the
agent, waits for them, and when it is installed starts Prometheus with the project's
configuration and alert rules. Prints the URLs. On first start the transformer (params.yaml's
quick profile, minutes) is then trained in the background, with its progress in the terminal;
the agent answers with TF-IDF and says so until the transformer service picks up the new
production version, without a restart. Then it waits.

Ctrl-C, SIGTERM or ``callcenterai down`` stops everything in reverse order; each child runs
in its own process group, which is terminated as a whole, so no stray process is left. If a
child dies, the stack stops and says which one, with the end of its log.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess  # nosec B404 - starts this project's own commands, no shell
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from callcenterai.config import PROJECT_ROOT
from callcenterai.errors import CallCenterAIError

PROMETHEUS_CONFIG = PROJECT_ROOT / "deploy" / "prometheus" / "prometheus.yml"
PROMETHEUS_RULES = PROJECT_ROOT / "deploy" / "prometheus" / "alerts.yml"


class StackError(CallCenterAIError):
    pass


class Interrupted(Exception):
    """Ctrl-C or SIGTERM: stop the stack (at any point, also while it is starting)."""


def _interrupt(signum, _frame):
    raise Interrupted(signal.Signals(signum).name)


@dataclass
class Ports:
    mlflow: int = 5000
    agent: int = 8000
    tfidf: int = 8001
    transformer: int = 8002
    prometheus: int = 9090


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    log_path: Path

    def tail(self, lines: int = 15) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Stack:
    folder: Path
    ports: Ports = field(default_factory=Ports)
    input_csv: Path | None = None
    children: list[Child] = field(default_factory=list)
    echo: callable = print
    sample: bool = False  # the built-in synthetic sample instead of the shipped real tickets
    training: Child | None = None  # the background transformer training of a first start
    params: Path | None = None  # pipeline parameters for the bootstraps (default: params.yaml)

    @property
    def pidfile(self) -> Path:
        return self.folder / "stack.json"

    @property
    def mlflow_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.mlflow}"

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{getattr(self.ports, name)}"

    def env(self) -> dict:
        env = {
            **os.environ,
            "MLFLOW_TRACKING_URI": self.mlflow_url,
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "CALLCENTERAI_TFIDF_URL": self.url("tfidf"),
            "CALLCENTERAI_TRANSFORMER_URL": self.url("transformer"),
            # The agent's ticket store lives with the rest of the stack (unless set elsewhere).
            "CALLCENTERAI_STORE_URL": os.environ.get(
                "CALLCENTERAI_STORE_URL", f"sqlite:///{self.folder / 'tickets.db'}"
            ),
        }
        env.pop("CALLCENTERAI_MODEL_URI", None)  # each service loads its own production model
        return env

    # -- processes ------------------------------------------------------------------------------

    def _start(self, name: str, command: list[str]) -> Child:
        log_path = self.folder / "logs" / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("w") as log:
            process = subprocess.Popen(  # nosec B603 - fixed argv, no shell
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env(),
                cwd=self.folder,
                start_new_session=True,  # Ctrl-C reaches the stack, which stops children in order
            )
        child = Child(name, process, log_path)
        self.children.append(child)
        self._write_pidfile()
        return child

    def _wait(self, child: Child, url: str, timeout: float) -> None:
        try:
            wait_until_ready(url, timeout, child.process, child.name)
        except StackError as exc:
            if child.process.poll() is None:
                raise
            raise StackError(
                f"{exc}; its log ({child.log_path}) ends with:\n{child.tail()}"
            ) from None

    def _launch(self, kind: str) -> Child:
        command = [sys.executable, "-m", "callcenterai", "serve", kind]
        return self._start(kind, command + ["--port", str(getattr(self.ports, kind))])

    def _await(self, child: Child, wait_ready: bool = True) -> None:
        kind = child.name
        if wait_ready:
            self._wait(child, self.url(kind) + "/ready", timeout=300)
            self.echo(f"  {kind} ready on {self.url(kind)}")
        else:  # up, following its alias, with no version to load yet
            self._wait(child, self.url(kind) + "/health", timeout=120)
            self.echo(f"  {kind} up on {self.url(kind)}, waiting for a production version")

    def _write_pidfile(self) -> None:
        """Each pid with its start time: ``down`` signals a pid only while it is still ours."""
        children = {child.name: child.process.pid for child in self.children}
        pids = {"supervisor": os.getpid(), **children}
        state = {
            "supervisor": os.getpid(),
            "children": children,
            "started": {name: process_start(pid) for name, pid in pids.items()},
        }
        self.pidfile.write_text(json.dumps(state, indent=2))

    # -- the stack ------------------------------------------------------------------------------

    def up(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        running = read_running(self.pidfile)
        if running:
            raise StackError(
                f"a stack is already running (pids {sorted(running.values())}); "
                "stop it with `callcenterai down` or `make stop`"
            )
        self.echo(f"starting CallCenterAI in {self.folder} (logs in {self.folder / 'logs'})")
        mlflow_dir = self.folder / "mlflow"
        mlflow_dir.mkdir(exist_ok=True)
        self.echo("  waiting for MLflow")
        mlflow = self._start(
            "mlflow",
            [
                sys.executable, "-m", "mlflow", "server",
                "--backend-store-uri", f"sqlite:///{mlflow_dir / 'mlflow.db'}",
                "--artifacts-destination", str(mlflow_dir / "artifacts"),
                "--host", "127.0.0.1", "--port", str(self.ports.mlflow), "--workers", "1",
            ],
        )  # fmt: skip
        self._wait(mlflow, self.mlflow_url + "/health", timeout=120)
        self.echo(f"  mlflow ready on {self.mlflow_url}")
        # The services start while TF-IDF is bootstrapped: they follow their registry alias and
        # load the version as soon as it exists (the agent needs them only to answer).
        services = [self._launch(kind) for kind in ("tfidf", "transformer", "agent")]
        production = self._bootstrap("tfidf")
        transformer_missing = production.get("transformer") is None
        self.echo("  waiting for the TF-IDF, transformer and agent services")
        for child in services:
            self._await(child, wait_ready=not (child.name == "transformer" and transformer_missing))
        prometheus = self._prometheus()
        self.echo("")
        self.echo("CallCenterAI is running:")
        self.echo(f"  chat page      {self.url('agent')}/")
        self.echo(f"  agent API      {self.url('agent')}/docs")
        self.echo(f"  TF-IDF API     {self.url('tfidf')}/docs")
        self.echo(f"  transformer    {self.url('transformer')}/docs")
        self.echo(f"  MLflow         {self.mlflow_url}")
        self.echo(
            f"  Prometheus     {self.url('prometheus')}"
            if prometheus
            else "  Prometheus     not installed (apt-get install prometheus), skipped"
        )
        self.echo("Ctrl-C (or `callcenterai down` from another shell) stops everything.")
        if transformer_missing:
            self._train_transformer()

    def _bootstrap_command(self, kind: str, quick: bool = False) -> list[str]:
        command = [
            sys.executable, "-m", "callcenterai", "bootstrap", "--only", kind,
            "--workdir", str(self.folder / "bootstrap" / kind),
        ]  # fmt: skip
        command += ["--params", str(self.params)] if self.params else []
        if self.sample:
            return command + ["--sample"]
        command += ["--input", str(self.input_csv)] if self.input_csv else []
        return command + (["--quick"] if quick else [])

    def _bootstrap(self, kind: str) -> dict:
        """Register ``kind`` (training it on first start); the production versions of both."""
        self.echo(f"  waiting for the {kind} bootstrap (first start: trains it)")
        child = self._start(f"bootstrap-{kind}", self._bootstrap_command(kind))
        code = child.process.wait()
        self.children.remove(child)
        self._write_pidfile()
        if code != 0:
            raise StackError(f"bootstrap failed (code {code}); its log ends with:\n{child.tail()}")
        result = _last_json(child.tail(60))
        production = result.get("production", {})
        self.echo(f"  {kind}: production version {production.get(kind)}")
        return production

    def _train_transformer(self) -> None:
        """First start: the quick transformer in the background; the services follow it."""
        self.training = self._start("transformer-training", self._bootstrap_command(
            "transformer", quick=True))  # fmt: skip
        self.echo("")
        self.echo(
            "The transformer is being trained in the background (quick profile, about 10 min; "
            "`make repro` trains the full one). Until it is ready, TF-IDF answers every ticket and "
            "the agent says so; it joins without a restart."
        )

    def _prometheus(self) -> bool:
        binary = shutil.which("prometheus")
        if binary is None:
            return False
        config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
        jobs = [job for job in config["scrape_configs"] if hasattr(self.ports, job["job_name"])]
        for job in jobs:
            port = getattr(self.ports, job["job_name"])
            job["static_configs"] = [{"targets": [f"127.0.0.1:{port}"]}]
        config["scrape_configs"] = jobs
        config["rule_files"] = [str(PROMETHEUS_RULES)]
        local = self.folder / "prometheus.yml"
        local.write_text(yaml.safe_dump(config, sort_keys=False))
        child = self._start(
            "prometheus",
            [
                binary, f"--config.file={local}",
                f"--storage.tsdb.path={self.folder / 'prometheus-data'}",
                f"--web.listen-address=127.0.0.1:{self.ports.prometheus}",
            ],
        )  # fmt: skip
        self._wait(child, self.url("prometheus") + "/-/ready", timeout=60)
        self.echo(f"  prometheus ready on {self.url('prometheus')}")
        return True

    def watch(self) -> str:
        """Block until a child dies (a signal interrupts this with :class:`Interrupted`)."""
        shown = ""
        while True:
            if self.training is not None:
                shown = self._training_progress(shown)
            for child in self.children:
                if child is not self.training and child.process.poll() is not None:
                    return (
                        f"{child.name} exited with code {child.process.returncode}; its log "
                        f"ends with:\n{child.tail()}"
                    )
            time.sleep(0.5)

    def _training_progress(self, shown: str) -> str:
        """Relay the background training's progress; report its end (the stack keeps running)."""
        child = self.training
        code = child.process.poll()
        if code is None:
            progress = _last_progress(child.tail(20))
            if progress and progress != shown:
                self.echo(f"  transformer training: {progress}")
            return progress or shown
        self.children.remove(child)
        self.training = None
        self._write_pidfile()
        if code == 0:
            version = _last_json(child.tail(60)).get("production", {}).get("transformer")
            self.echo(
                f"  transformer: production version {version}; the transformer service loads "
                "it now and the agent uses it as soon as it is ready."
            )
        else:
            self.echo(
                f"  transformer training failed (code {code}); TF-IDF keeps answering alone. "
                f"Its log ({child.log_path}) ends with:\n{child.tail()}"
            )
        return shown

    def down(self) -> None:
        for child in reversed(self.children):
            stop_group(child.process.pid)
            try:
                child.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                stop_group(child.process.pid, signal.SIGKILL)
                child.process.wait(timeout=5)
        self.children.clear()
        self.pidfile.unlink(missing_ok=True)


def _last_json(text: str) -> dict:
    """The JSON object a ``callcenterai`` command printed last (its result)."""
    start = text.rfind("\n{")
    try:
        return json.loads(text[start:] if start >= 0 else text)
    except ValueError:
        return {}


_PROGRESS = re.compile(r"progress: (.+)$", re.MULTILINE)


def _last_progress(text: str) -> str | None:
    matches = _PROGRESS.findall(text)
    return matches[-1].strip() if matches else None


def wait_until_ready(
    url: str, timeout: float, process: subprocess.Popen | None = None, name: str = "server"
) -> None:
    """Poll ``url`` until it answers 200; fail early if ``process`` exits meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise StackError(f"{name} exited with code {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # nosec B310 - loopback
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise StackError(f"{name} was not ready at {url} after {timeout:.0f} s")


def stop_group(pid: int, signum: int = signal.SIGTERM) -> None:
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


PROC = Path("/proc")


def process_start(pid: int) -> str | None:
    """When process ``pid`` started, or None once it has exited.

    A pid alone names no process for long: once it exits, the kernel hands its number to another.
    A pid and its start time together do. Linux: ``/proc/<pid>/stat`` (clock ticks since boot;
    an exited child not yet reaped counts as gone); elsewhere ``ps``.
    """
    if (PROC / "self" / "stat").exists():
        try:
            stat = (PROC / str(pid) / "stat").read_text()
        except OSError:
            return None
        state, *fields = stat[stat.rindex(")") + 2 :].split()  # the name may hold spaces
        return None if state == "Z" else fields[18]  # field 22, starttime
    try:
        listed = subprocess.run(  # nosec B603 B607 - fixed argv, no shell
            ["ps", "-o", "lstart=", "-p", str(pid)], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return listed.stdout.strip() or None


@dataclass
class PidFile:
    """What a stack's pid file says: its processes still running, and if it names none of them
    although it exists, why (it is stale and can go)."""

    running: dict[str, int] = field(default_factory=dict)
    stale: str | None = None


def read_pidfile(pidfile: Path) -> PidFile:
    """The stack's processes alive according to ``pidfile``: a pid counts only while its process
    started when the one recorded beside it did; one without a start time (a pid file of an older
    version, or damaged) is never signalled."""
    try:
        state = json.loads(pidfile.read_text())
        pids = {"supervisor": state["supervisor"], **state["children"]}
        started = dict(state.get("started") or {})
        pids = {name: int(pid) for name, pid in pids.items()}
    except FileNotFoundError:
        return PidFile()
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return PidFile(stale="it cannot be read")
    running, foreign = {}, []
    for name, pid in pids.items():
        now = process_start(pid)
        if now is not None and now == started.get(name):
            running[name] = pid
        elif now is not None:
            foreign.append(pid)
    if running:
        return PidFile(running)
    if foreign:
        held = sorted(set(foreign))
        return PidFile(
            stale=f"pid{'s' * (len(held) > 1)} {', '.join(map(str, held))} "
            "now held by another process"
        )
    return PidFile(stale="its processes have exited")


def read_running(pidfile: Path) -> dict[str, int]:
    """Processes of a stack still alive according to its pidfile."""
    return read_pidfile(pidfile).running


def stop_running(folder: Path, timeout: float = 30) -> str:
    """``callcenterai down``: ask the supervisor to stop; stop orphans directly if it is gone.

    Only the stack's own processes are signalled (see :func:`read_pidfile`); a stale pid file is
    removed. Returns the one line to show.
    """
    pidfile = folder / "stack.json"
    found = read_pidfile(pidfile)
    if not found.running:
        pidfile.unlink(missing_ok=True)
        if found.stale is None:
            return "no stack is running"
        return (
            f"no stack is running (removed the stale pid file {pidfile}: {found.stale}; "
            "nothing was signalled)"
        )
    running = dict(found.running)
    supervisor = running.pop("supervisor", None)
    if supervisor is not None:
        started = process_start(supervisor)
        try:
            os.kill(supervisor, signal.SIGTERM)
        except ProcessLookupError:  # it exited meanwhile
            pass
        deadline = time.monotonic() + timeout
        while process_start(supervisor) == started and time.monotonic() < deadline:
            time.sleep(0.3)
    for pid in read_running(pidfile).values():  # orphans of a supervisor that was killed
        stop_group(pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)
    return f"stopped: {', '.join(sorted(running))}" if running else "stopped: supervisor"


def run(
    folder: Path,
    ports: Ports,
    input_csv: Path | None,
    echo=print,
    sample: bool = False,
    params: Path | None = None,
) -> None:
    """Start the stack, wait, and always stop what was started."""
    stack = Stack(folder, ports, input_csv, echo=echo, sample=sample, params=params)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)
    try:
        stack.up()
        reason = stack.watch()
        echo(f"stopping: {reason}")
    except Interrupted as interrupted:
        echo(f"stopping ({interrupted})")
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)  # let the clean-up finish
        stack.down()
    echo("stopped")
