"""Find a PostgreSQL for tests and local runs: DATABASE_URL, else a local server, else an
ephemeral cluster started with initdb/pg_ctl from the machine's PostgreSQL binaries."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg

from devtools.natsserver import free_port, wait_for_port

LOCAL_CANDIDATES = (
    "postgresql://postgres@127.0.0.1:5432/postgres",
    f"postgresql://{os.environ.get('USER', 'root')}@127.0.0.1:5432/postgres",
)


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


class EphemeralCluster:
    """A throwaway cluster in a temporary directory (run as an unprivileged user when root)."""

    def __init__(self) -> None:
        initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
        if not initdb or not pg_ctl:
            raise RuntimeError(
                "no PostgreSQL: set DATABASE_URL, run a server on 127.0.0.1:5432, or install PostgreSQL's binaries"
                " (initdb, pg_ctl) so an ephemeral cluster can be started"
            )
        self.pg_ctl = pg_ctl
        self.dir = Path(tempfile.mkdtemp(prefix="quarry-pg-"))
        self.port = free_port()
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        self._as: list[str] = []
        if os.geteuid() == 0:
            runas = "postgres" if _user_exists("postgres") else "nobody"
            shutil.chown(self.dir, user=runas)
            self._as = ["runuser", "-u", runas, "--"]
        subprocess.run(
            [*self._as, initdb, "-D", str(self.dir / "data"), "-U", self.user, "-A", "trust"],
            check=True,
            capture_output=True,
        )
        self._start()
        self.url = f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run([*self._as, self.pg_ctl, "-D", str(self.dir / "data"), *args], check=True, capture_output=True)

    def _start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        self._pg_ctl("-l", str(self.dir / "log"), "-w", "-o", options, "start")
        wait_for_port("127.0.0.1", self.port)

    def restart(self) -> None:
        """Restart the server as a failover or a minor upgrade does: every session is cut."""
        self._pg_ctl("-w", "-m", "fast", "stop")
        self._start()

    def halt(self) -> None:
        """Stop the server, keeping its data, until `resume()`."""
        self._pg_ctl("-w", "-m", "fast", "stop")

    def resume(self) -> None:
        self._start()

    def stop(self) -> None:
        subprocess.run(
            [*self._as, self.pg_ctl, "-D", str(self.dir / "data"), "-m", "fast", "stop"], capture_output=True
        )
        shutil.rmtree(self.dir, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def server_url() -> tuple[str, EphemeralCluster | None]:
    """A URL of a PostgreSQL server to create databases on, and the cluster if we started one."""
    given = os.environ.get("DATABASE_URL")
    if given:
        return given, None
    for url in LOCAL_CANDIDATES:
        if _answers(url):
            return url, None
    cluster = EphemeralCluster()
    return cluster.url, cluster


def create_database(server: str, prefix: str = "quarry_test") -> str:
    """Create a fresh database on `server`; returns its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.rsplit("/", 1)[0] + f"/{name}"


def drop_database(server: str, url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
