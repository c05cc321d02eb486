"""Stores that fail on demand between a handler's work and its commit, for the ack-after-commit proof."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import OperationalError

from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.store import SqlDatabase
from tests.integration.ack_proof import StoreFault

# -- stores that fail on demand ---------------------------------------------------------------


class EventStoreFault(StoreFault):
    """The event store refuses the commit (`_record` is what the group commit calls to commit)."""

    def __init__(self, app: Application[Any]) -> None:
        commit = app._record

        def record(processing_event: Any) -> Any:
            if self.failing:
                raise OperationalError("disk I/O error: the volume is gone")
            return commit(processing_event)

        app._record = record  # type: ignore[method-assign]


def clone_event_store(settings: RuntimeSettings, service: str, twin_dir: Path) -> RuntimeSettings:
    """A copy of a service's SQLite event store as it is now, for a twin that applies the message once."""
    twin = RuntimeSettings(data_dir=twin_dir)
    source = sqlite3.connect(settings.service_dir(service) / "events.sqlite3")
    target = sqlite3.connect(twin.service_dir(service) / "events.sqlite3")
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    return twin


def notifications(app: Application[Any]) -> list[tuple[Any, int, str]]:
    return [
        (n.originator_id, n.originator_version, n.topic)
        for n in app.recorder.select_notifications(start=1, limit=100_000)
    ]


class FailingSqlite:
    """A SQLite connection (as `SqlDatabase` holds it) whose writes cannot be committed while
    failing: a transaction's COMMIT fails (and is rolled back), a single write fails."""

    WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")

    def __init__(self, conn: sqlite3.Connection, fault: StoreFault) -> None:
        self._conn = conn
        self._fault = fault

    def execute(self, statement: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        if self._fault.failing:
            verb = statement.lstrip()[:7].upper()
            if verb.startswith("COMMIT"):
                self._conn.execute("ROLLBACK")
                raise sqlite3.OperationalError("database or disk is full")
            if verb.startswith(self.WRITES) and not self._conn.in_transaction:
                raise sqlite3.OperationalError("database or disk is full")
        return self._conn.execute(statement, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def failing_sql(db: SqlDatabase) -> StoreFault:
    if db.is_postgres:
        return PostgresCommitFault(db)
    fault = StoreFault()
    db._sqlite = FailingSqlite(db._sqlite, fault)  # type: ignore[assignment]
    return fault


FAULT_TABLE = "test_commit_fault"


class PostgresCommitFault(StoreFault):
    """A real PostgreSQL refusing commits: a deferred constraint trigger on every table of the
    schema fails the COMMIT (of a transaction, or of a single autocommitted write) with the
    server's own `disk_full` error while the flag is set, so whatever was written rolls back."""

    def __init__(self, db: SqlDatabase) -> None:
        self._db = db
        db.execute(f"CREATE TABLE IF NOT EXISTS {FAULT_TABLE} (failing BOOLEAN NOT NULL)")
        db.execute(f"INSERT INTO {FAULT_TABLE} (failing) VALUES (false)")
        db.execute(
            "CREATE OR REPLACE FUNCTION test_fail_commit() RETURNS trigger LANGUAGE plpgsql AS $body$ BEGIN"
            f" IF (SELECT bool_or(failing) FROM {FAULT_TABLE}) THEN"
            " RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full';"
            " END IF; RETURN NULL; END $body$"
        )
        tables = db.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            " AND table_type = 'BASE TABLE'"
        )
        for (table,) in tables:
            if table != FAULT_TABLE:
                db.execute(
                    f'CREATE CONSTRAINT TRIGGER test_fail_commit AFTER INSERT OR UPDATE OR DELETE ON "{table}"'
                    " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_fail_commit()"
                )

    @property
    def failing(self) -> bool:
        row = self._db.one(f"SELECT bool_or(failing) FROM {FAULT_TABLE}")
        return bool(row and row[0])

    @failing.setter
    def failing(self, value: bool) -> None:
        self._db.execute(f"UPDATE {FAULT_TABLE} SET failing = ?", (value,))


@contextlib.contextmanager
def patched(target: Any, name: str, fault: StoreFault) -> Iterator[None]:
    original = getattr(target, name)

    def guarded(*args: Any, **kwargs: Any) -> Any:
        if fault.failing:
            raise fault.error()
        return original(*args, **kwargs)

    setattr(target, name, guarded)
    try:
        yield
    finally:
        setattr(target, name, original)
