"""What the event-store benchmark measures on each backend, and the stores it measures."""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
from rich.console import Console

from devtools import pgserver
from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.store import eventstore_env
from services.orchestrator.application import Orchestrator

TARGET_RATIO = 10.0
REPLAY_ROUNDS = 3
APPEND_ROUNDS = 3
REBUILD_BATCH = 5000
# What one generated run gives the gateway; only used to size the generation.
GATEWAY_EVENTS_PER_RUN = 90
# (what is committed together, handled bus events per commit; 0: every domain event alone)
APPEND_MODES: tuple[tuple[str, int], ...] = (
    ("1 event/commit (baseline)", 0),
    ("1 bus event/commit (no grouping)", 1),
    ("group commit, 16 bus events", 16),
    ("group commit, 64 bus events", 64),
    ("group commit, 256 bus events", 256),
)
# The orchestrator snapshots a run every this many events, and when it ends.
SNAPSHOT_EVERY = 40


@dataclass(frozen=True)
class Backend:
    name: str
    root: Path
    database_url: str | None

    def settings(self, tag: str) -> RuntimeSettings:
        """A store of its own per tag: a data dir on SQLite, a schema prefix on PostgreSQL."""
        return RuntimeSettings(data_dir=self.root / tag, database_url=self.database_url, db_schema_prefix=f"b_{tag}")


@dataclass(frozen=True)
class Replay:
    backend: str
    runs: int
    events: int
    get_s: float  # repository.get per run, no snapshots: the baseline
    log_s: float  # fold_log: the notification log in pages
    bulk_s: float  # rebuild_runs before any snapshot: every event, two queries
    snap_bulk_s: float  # rebuild_runs with the orchestrator's snapshots: the candidate
    snap_get_s: float  # repository.get per run with the snapshots
    read_s: float
    decode_s: float
    fold_s: float
    equal: bool


@dataclass(frozen=True)
class Append:
    backend: str
    mode: str
    events: int
    commits: int
    seconds: float
    stored: bool


@dataclass(frozen=True)
class ReadModel:
    backend: str
    path: str
    events: int
    runs: int
    seconds: float
    check: str


# -- stores ------------------------------------------------------------------------------------


@contextlib.contextmanager
def open_backends(console: Console) -> Iterator[list[Backend]]:
    """SQLite in a temp dir, and PostgreSQL in a fresh database when one can be had."""
    with tempfile.TemporaryDirectory(prefix="quarry-bench-eventstore-") as tmp:
        found = [Backend("SQLite", Path(tmp) / "sqlite", None)]
        server: str | None = None
        cluster: pgserver.EphemeralCluster | None = None
        database: str | None = None
        try:
            try:
                server, cluster = pgserver.server_url()
                database = pgserver.create_database(server, prefix="quarry_bench")
                found.append(Backend("PostgreSQL", Path(tmp) / "postgres", database))
            except (RuntimeError, psycopg.Error, subprocess.CalledProcessError) as exc:
                console.print(f"[yellow]no PostgreSQL, SQLite only: {exc}[/yellow]")
            yield found
        finally:
            if server is not None and database is not None:
                pgserver.drop_database(server, database)
            if cluster is not None:
                cluster.stop()


def store_orchestrator(backend: Backend, tag: str) -> Orchestrator:
    return Orchestrator(env=eventstore_env(backend.settings(tag), "orchestrator"))


def plain_orchestrator(backend: Backend, tag: str) -> Orchestrator:
    """The orchestrator on plain eventsourcing: its own recorders, JSON transcoder and SQLite file."""
    settings = backend.settings(tag)
    if settings.database_url:
        env = {**eventstore_env(settings, "orchestrator"), "PERSISTENCE_MODULE": "eventsourcing.postgres"}
        env.pop("TRANSCODER_TOPIC")
    else:
        path = settings.service_dir("orchestrator") / "plain.sqlite3"
        path.parent.mkdir(parents=True, exist_ok=True)
        env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path), "CREATE_TABLE": "true"}
    return Orchestrator(env=env)
