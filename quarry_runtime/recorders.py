"""eventsourcing's recorders, with the inserts of a group commit made cheap.

A group commit hands the recorder thousands of events in one transaction; eventsourcing's
recorders were written for a handful per save:

- PostgreSQL: the events go as one array of a composite type, which psycopg dumps as text,
  escaping every byte of every event's state with a regular expression; for a group commit
  of a few thousand events that took longer than the server's work. The binary dumper
  psycopg registers beside the text one needs no escaping: the only change is the
  placeholder (`%b`, binary, where eventsourcing writes `%s`).
- SQLite: one INSERT statement per event, to read each row's `lastrowid` (the notification
  id). Here a statement inserts up to `SQLITE_ROWS_PER_INSERT` rows and returns their rowids.

Tables, rows and ids are exactly what eventsourcing's own recorders write and read.

On PostgreSQL a call that finds the database away fails at once (after the pool's connect
timeout) instead of eventsourcing's ten attempts in place: the calls run on a service's event
loop, and the bus redelivers the message later (`OUTAGE` errors become `Unavailable`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar
from uuid import UUID

import eventsourcing.persistence
import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
    PostgresProcessRecorder,
)
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteFactory, SQLiteProcessRecorder
from eventsourcing.utils import Environment, EnvType
from psycopg import Connection
from psycopg.rows import DictRow
from psycopg.sql import SQL
from psycopg_pool import PoolTimeout

from quarry_runtime.errors import Unavailable

# 4 parameters a row, well under SQLite's 32766 variables a statement; a few distinct
# statement texts (full chunks, and the remainders) for sqlite3's statement cache.
SQLITE_ROWS_PER_INSERT = 500

_TEXT = "unnest(%s::"
_BINARY = "unnest(%b::"


# What a call raises when the database cannot be reached or the session was cut (a restart, a
# failover): not the message's fault. psycopg_pool's PoolTimeout is a psycopg.OperationalError.
OUTAGE: tuple[type[Exception], ...] = (
    eventsourcing.persistence.OperationalError,
    eventsourcing.persistence.InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
)


def is_outage(exc: BaseException) -> bool:
    return isinstance(exc, OUTAGE)


@contextmanager
def outage_is_unavailable() -> Iterator[None]:
    """Turn a database outage raised inside into `Unavailable` (waited out by the bus)."""
    try:
        yield
    except OUTAGE as exc:
        raise Unavailable(f"the event store is unreachable: {type(exc).__name__}: {exc}") from exc


# eventsourcing wraps these in `retry(..., max_attempts=10, wait=0.2)`: with a connect timeout
# per attempt, one call in an outage held the event loop for tens of seconds.
_RETRIED = (
    "insert_events",
    "select_events",
    "select_notifications",
    "max_notification_id",
    "insert_tracking",
    "max_tracking_id",
    "has_tracking_id",
)

R = TypeVar("R", bound=type)


def _single_attempt(cls: R) -> R:
    for name in _RETRIED:
        method = getattr(cls, name, None)
        inner = getattr(method, "__wrapped__", None)
        if inner is not None:
            setattr(cls, name, inner)
    return cls


class _BinaryInserts(PostgresAggregateRecorder):
    """Put before a PostgreSQL recorder class: its insert statement, once built, sends binary."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        statement = self.insert_events_statement.as_string()
        if _TEXT not in statement:
            raise RuntimeError(f"eventsourcing's insert statement changed; no {_TEXT!r} in {statement!r}")
        self.insert_events_statement = SQL(statement.replace(_TEXT, _BINARY)).format()


@_single_attempt
class BinaryAggregateRecorder(_BinaryInserts, PostgresAggregateRecorder):
    pass


@_single_attempt
class BinaryApplicationRecorder(_BinaryInserts, PostgresApplicationRecorder):
    pass


@_single_attempt
class BinaryProcessRecorder(_BinaryInserts, PostgresProcessRecorder):
    pass


# Once a call has found no connection within the pool's connect timeout, the next ones wait only
# this long (for the connection the pool makes as soon as the server is back), until one gets a
# connection: every call holds its service's event loop while it waits, and during an outage a
# full wait per message held the loop long enough for the bus's own requests to time out.
WAIT_WHILE_DOWN_S = 0.2


def _wait_briefly_while_down(datastore: PostgresDatastore) -> None:
    """Make the datastore's connection wait short while its server is known to be away."""
    pool = datastore.pool
    patient = pool.timeout
    acquire = datastore.get_connection

    @contextmanager
    def get_connection() -> Iterator[Connection[DictRow]]:
        acquired = False
        try:
            with acquire() as conn:
                acquired = True
                pool.timeout = patient
                yield conn
        except eventsourcing.persistence.OperationalError as exc:
            if not acquired and isinstance(exc.__cause__, PoolTimeout):
                pool.timeout = min(patient, WAIT_WHILE_DOWN_S)
            raise

    # An attribute of the instance: `cursor()` and `transaction()` get their connections here too.
    datastore.get_connection = get_connection  # type: ignore[method-assign]


class BinaryPostgresFactory(PostgresFactory):
    aggregate_recorder_class = BinaryAggregateRecorder
    application_recorder_class = BinaryApplicationRecorder
    process_recorder_class = BinaryProcessRecorder

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        _wait_briefly_while_down(self.datastore)


def _insert_rows(table: str, cursor: SQLiteCursor, stored_events: Sequence[StoredEvent]) -> list[int]:
    """Insert the events many rows a statement; their rowids, in the order of `stored_events`."""
    rows = [
        (
            s.originator_id.hex if isinstance(s.originator_id, UUID) else s.originator_id,
            s.originator_version,
            s.topic,
            s.state,
        )
        for s in stored_events
    ]
    rowids: dict[tuple[str, int], int] = {}
    for start in range(0, len(rows), SQLITE_ROWS_PER_INSERT):
        chunk = rows[start : start + SQLITE_ROWS_PER_INSERT]
        values = ",".join(["(?,?,?,?)"] * len(chunk))
        # RETURNING gives the rows in no promised order: key them by their primary key.
        cursor.execute(
            f"INSERT INTO {table} VALUES {values} RETURNING originator_id, originator_version, rowid",
            [value for row in chunk for value in row],
        )
        for originator_id, version, rowid in cursor.fetchall():
            rowids[(originator_id, version)] = rowid
    return [rowids[(row[0], row[1])] for row in rows]


# INSERT ... RETURNING needs SQLite 3.35 (2021); an older library gets eventsourcing's per-row insert.
SQLITE_HAS_RETURNING = sqlite3.sqlite_version_info >= (3, 35)


class ManyRowsApplicationRecorder(SQLiteApplicationRecorder):
    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if not SQLITE_HAS_RETURNING:
            return super()._insert_events(c, stored_events, **kwargs)
        return _insert_rows(self.events_table_name, c, stored_events)

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """eventsourcing's query, as one statement: a lone SELECT reads one snapshot of the
        database by itself, without the BEGIN and ROLLBACK eventsourcing wraps it in (a cached
        aggregate is fast-forwarded with this query each time a use case loads it)."""
        statement = self.select_events_statement
        params: list[Any] = [originator_id.hex if isinstance(originator_id, UUID) else originator_id]
        if gt is not None:
            statement += "AND originator_version>? "
            params.append(gt)
        if lte is not None:
            statement += "AND originator_version<=? "
            params.append(lte)
        statement += "ORDER BY originator_version DESC " if desc else "ORDER BY originator_version ASC "
        if limit is not None:
            statement += "LIMIT ? "
            params.append(limit)
        with self.datastore.get_connection(commit=False) as conn, conn.cursor() as cursor:
            cursor.execute(statement, params)
            rows = cursor.fetchall()
        return [
            StoredEvent(
                originator_id=self.convert_originator_id(row["originator_id"]),
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=row["state"],
            )
            for row in rows
        ]


class ManyRowsProcessRecorder(SQLiteProcessRecorder, ManyRowsApplicationRecorder):
    """eventsourcing's process recorder (events, then the tracking row), its events inserted by
    `ManyRowsApplicationRecorder`, which comes next in the method order."""


class ManyRowsSQLiteFactory(SQLiteFactory):
    application_recorder_class = ManyRowsApplicationRecorder
    process_recorder_class = ManyRowsProcessRecorder


POSTGRES = f"{__name__}:{BinaryPostgresFactory.__qualname__}"
SQLITE = f"{__name__}:{ManyRowsSQLiteFactory.__qualname__}"
