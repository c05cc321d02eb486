"""Where a service keeps its state: SQLite files under the data directory, or PostgreSQL.

Each service gets its own SQLite file, or its own PostgreSQL schema
(`<prefix>_<service>`), so no service can read another's tables by accident.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import psycopg

from quarry_runtime import eventcodec, recorders
from quarry_runtime.settings import RuntimeSettings


def schema_name(settings: RuntimeSettings, service: str) -> str:
    return f"{settings.db_schema_prefix}_{service}"


def eventstore_env(settings: RuntimeSettings, service: str) -> dict[str, str]:
    """The `env=` an eventsourcing Application needs for this service's event store."""
    if settings.database_url:
        url = urlparse(settings.database_url)
        schema = schema_name(settings, service)
        create_schema(settings.database_url, schema)
        return {
            "PERSISTENCE_MODULE": recorders.POSTGRES,
            "TRANSCODER_TOPIC": eventcodec.TOPIC,
            "POSTGRES_DBNAME": url.path.lstrip("/") or "postgres",
            "POSTGRES_HOST": url.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(url.port or 5432),
            "POSTGRES_USER": unquote(url.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(url.password or ""),
            "POSTGRES_SCHEMA": schema,
            "POSTGRES_POOL_SIZE": "4",
            "CREATE_TABLE": "true",
        }
    path = settings.service_dir(service) / "events.sqlite3"
    create_event_file(path)
    return {
        "PERSISTENCE_MODULE": recorders.SQLITE,
        "TRANSCODER_TOPIC": eventcodec.TOPIC,
        "SQLITE_DBNAME": str(path),
        "SQLITE_LOCK_TIMEOUT": "10",
        "CREATE_TABLE": "true",
    }


# An event is ~1 KB and a search result's ~4 KB: with SQLite's default 4 KB pages many rows
# spill into overflow pages, and a group commit of a few thousand events wrote a fifth slower.
EVENT_PAGE_SIZE = 16384


def create_event_file(path: Path) -> None:
    """Create a new event store file with large pages (a page size holds only if it is set before
    the first table); an existing file is left as it is."""
    if path.exists() and path.stat().st_size > 0:
        return  # an empty file is what a crash right after `connect` leaves: still new
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    try:
        conn.execute(f"PRAGMA page_size = {EVENT_PAGE_SIZE}")
        conn.execute("PRAGMA journal_mode = WAL")  # writes the header: the page size is fixed from here
    finally:
        conn.close()


def create_schema(database_url: str, schema: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')


class SqlDatabase:
    """A small SQL store for read models and non-event-sourced tables.

    Statements use `?` placeholders and portable SQL; they are translated for psycopg.
    Calls are synchronous and serialised by a lock: read models here are small and local.
    """

    def __init__(self, settings: RuntimeSettings, service: str, name: str = "state") -> None:
        self._lock = threading.RLock()
        self.is_postgres = bool(settings.database_url)
        if settings.database_url:
            schema = schema_name(settings, service)
            create_schema(settings.database_url, schema)
            self._pg = psycopg.connect(settings.database_url, autocommit=True)
            self._pg.execute(f'SET search_path TO "{schema}"')
        else:
            path: Path = settings.service_dir(service) / f"{name}.sqlite3"
            self._sqlite = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._sqlite.execute("PRAGMA journal_mode=WAL")
            self._sqlite.execute("PRAGMA busy_timeout=10000")
            # WAL + NORMAL survives a process crash; a power loss may drop the newest commits,
            # which these tables (read models, rebuilt from the event log) can afford.
            self._sqlite.execute("PRAGMA synchronous=NORMAL")

    def _sql(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.is_postgres else statement

    def execute(self, statement: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        with self._lock:
            if self.is_postgres:
                cur = self._pg.execute(self._sql(statement), tuple(params))
                return cur.rowcount
            return self._sqlite.execute(statement, tuple(params)).rowcount

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            if self.is_postgres:
                return list(self._pg.execute(self._sql(statement), tuple(params)).fetchall())
            return list(self._sqlite.execute(statement, tuple(params)).fetchall())

    def one(self, statement: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        rows = self.query(statement, params)
        return rows[0] if rows else None

    @contextmanager
    def transaction(self) -> Iterator[SqlDatabase]:
        """Group statements atomically (used where two writes must not diverge)."""
        with self._lock:
            if self.is_postgres:
                with self._pg.transaction():
                    yield self
            else:
                self._sqlite.execute("BEGIN IMMEDIATE")
                try:
                    yield self
                except BaseException:
                    self._sqlite.execute("ROLLBACK")
                    raise
                self._sqlite.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            if self.is_postgres:
                self._pg.close()
            else:
                self._sqlite.close()
