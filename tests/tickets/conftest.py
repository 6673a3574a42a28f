"""A real PostgreSQL server for the store tests (Debian's ``postgresql`` package)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import free_port


def postgres_bin() -> Path | None:
    found = shutil.which("initdb") or next(
        iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)), None
    )
    return Path(found).parent if found else None


def _as_postgres_user(command: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: as root, run them as the package's user."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@pytest.fixture(scope="session")
def postgres_url():
    bin_dir = postgres_bin()
    if bin_dir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed: apt-get install postgresql (.ci/run does)")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="callcenterai-pg-"))
    data, socket_dir = folder / "data", folder / "socket"
    socket_dir.mkdir()
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for path in (folder, socket_dir):
            os.chown(path, user.pw_uid, user.pw_gid)
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "callcenterai", "--auth=trust"]
    subprocess.run(
        _as_postgres_user([*initdb, "-E", "UTF8", "--no-locale"]),
        check=True,
        capture_output=True,
    )
    port = free_port()
    log = (folder / "server.log").open("w")
    server = subprocess.Popen(
        _as_postgres_user(
            [
                str(bin_dir / "postgres"),
                "-D", str(data),
                "-k", str(socket_dir),
                "-p", str(port),
                "-c", "listen_addresses=127.0.0.1",
                "-c", "fsync=off",
            ]
        ),
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        import psycopg

        deadline = time.monotonic() + 60
        while True:
            try:
                with psycopg.connect(
                    host="127.0.0.1", port=port, user="callcenterai", dbname="postgres",
                    autocommit=True,
                ) as connection:  # fmt: skip
                    connection.execute("CREATE DATABASE tickets")
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise AssertionError((folder / "server.log").read_text()[-2000:]) from None
                time.sleep(0.2)
        yield f"postgresql+psycopg://callcenterai@127.0.0.1:{port}/tickets"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        shutil.rmtree(folder, ignore_errors=True)
