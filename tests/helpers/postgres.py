"""A real PostgreSQL 15 for the tests: a cluster of our own (initdb in a temp directory, pg_ctl start on a
loopback port, as an unprivileged user when the tests run as root), a fresh database per test, stopped at the
end. Debian's ``postgresql`` package provides the binaries; scripts/install --test installs it."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

#: Where Debian puts PostgreSQL 15's server programs (not on PATH).
BINDIR = Path("/usr/lib/postgresql/15/bin")
#: Who runs the server when the tests run as root (initdb refuses root): the Debian package's own user.
SERVER_USER = "postgres"


def available() -> str | None:
    """Why PostgreSQL cannot run here, or None."""
    if not (BINDIR / "initdb").exists():
        return f"PostgreSQL 15 is not installed ({BINDIR}/initdb missing; Debian package postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"running as root and there is no {SERVER_USER} user to run PostgreSQL as"
    return None


def _free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Cluster:
    """A running PostgreSQL cluster on 127.0.0.1:``port``, its superuser ``faxgw`` trusted on loopback."""

    directory: Path
    port: int

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://faxgw@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new, empty database; its URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        self.sql(f"CREATE DATABASE {name}")
        return self.url(name)

    def sql(self, statement: str, database: str = "postgres") -> str:
        """``statement`` run by psql; what it printed."""
        done = subprocess.run(
            [
                BINDIR / "psql",
                "-X",
                "-q",
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                self.url(database),
                "-c",
                statement,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout

    def stop(self) -> None:
        self._as_server([BINDIR / "pg_ctl", "-D", self.directory / "data", "-m", "fast", "-w", "stop"])

    def _as_server(self, command: list) -> None:
        if os.geteuid() == 0:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)


def start(directory: Path) -> Cluster:
    """initdb and start a cluster under ``directory`` (made writable for its server user)."""
    if os.geteuid() == 0:
        shutil.chown(directory, SERVER_USER)
    cluster = Cluster(directory, _free_tcp_port())
    data = directory / "data"
    cluster._as_server(
        [BINDIR / "initdb", "-D", data, "-U", "faxgw", "--auth=trust", "-E", "UTF8", "--no-sync"]
    )
    # Durability is not what a test measures: no fsync, and the socket in our directory, not /run.
    options = (
        f"-c listen_addresses=127.0.0.1 -p {cluster.port} -k {directory}"
        " -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
    )
    cluster._as_server(
        [BINDIR / "pg_ctl", "-D", data, "-o", options, "-l", directory / "server.log", "-w", "start"]
    )
    return cluster
