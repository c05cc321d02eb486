"""Where a service keeps its state: SQLite files under the data directory, or PostgreSQL.

Each service gets its own SQLite file, or its own PostgreSQL schema
(`<prefix>_<service>`), so no service can read another's tables by accident.
"""

from __future__ import annotations

import logging
import select
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlparse

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from quarry_runtime import eventcodec, recorders
from quarry_runtime.errors import Unavailable
from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.sqlite_faults import BUSY_TIMEOUT_MS, sqlite_outage

log = logging.getLogger(__name__)


def schema_name(settings: RuntimeSettings, service: str) -> str:
    return f"{settings.db_schema_prefix}_{service}"


# Every event store call runs on its service's event loop: during an outage one waits this long.
EVENTSTORE_CONNECT_TIMEOUT_S = 2


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
            # A pooled session cut by a restart is found by a check on checkout and replaced,
            # instead of failing the first statement after every restart.
            "POSTGRES_PRE_PING": "y",
            # How long a call waits for a connection (the pool reconnecting through an outage)
            # before it fails as Unavailable and its message is redelivered later.
            "POSTGRES_CONNECT_TIMEOUT": str(EVENTSTORE_CONNECT_TIMEOUT_S),
            # A transaction left open by a stalled process releases its locks.
            "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "10",
            # Sessions are renewed now and then, so a failover's stale addresses do not linger.
            "POSTGRES_CONN_MAX_AGE": "1800",
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


# While PostgreSQL is away a call waits this long for a connection, then fails as Unavailable:
# the calls are synchronous, so a longer wait would hold the caller's event loop as long. Once a
# call has failed so, the next ones wait only briefly (for the connection the pool makes in the
# background as soon as the server is back), until one succeeds.
CONNECTION_WAIT_S = 2.0
WAIT_WHILE_DOWN_S = 0.2
# The pool retries a lost connection with backoff and gives up after this long; the next call
# then starts a fresh attempt at once, so a server that is back is found within a second or two
# instead of after a backoff grown through a long outage.
RECONNECT_GIVE_UP_S = 2.0
RECONNECT_LOG_INTERVAL_S = 30.0
POOL_MAX_SIZE = 4

T = TypeVar("T")


class SqlDatabase:
    """A small SQL store for read models and non-event-sourced tables.

    Statements use `?` placeholders and portable SQL; they are translated for psycopg.
    Calls are synchronous. On PostgreSQL they go through a pool that checks a connection before
    handing it out and reconnects after a restart; a call that cannot reach the server raises
    `Unavailable` (redelivered by the bus, 503 over HTTP). A read whose connection was lost under
    it is retried once on a fresh one; a write is not, because it may have been applied: the
    caller's unit of work (a redelivered, idempotent handler, a client's retry) repeats it whole.
    SQLite calls are serialised by a lock: read models here are small and local.
    """

    def __init__(self, settings: RuntimeSettings, service: str, name: str = "state") -> None:
        self._lock = threading.RLock()
        # The connection of the transaction this thread is in: statements inside it (on `tx` or
        # on this object) go to it, as they did when the store had a single connection.
        self._local = threading.local()
        self.is_postgres = bool(settings.database_url)
        self._down = False
        self._last_ok = time.monotonic()
        if settings.database_url:
            schema = schema_name(settings, service)
            create_schema(settings.database_url, schema)

            def configure(conn: psycopg.Connection[Any]) -> None:
                conn.execute(f'SET search_path TO "{schema}"')

            self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
                settings.database_url,
                min_size=1,
                max_size=POOL_MAX_SIZE,
                kwargs={"autocommit": True, "connect_timeout": max(2, int(CONNECTION_WAIT_S))},
                configure=configure,
                check=_check_idle,
                timeout=CONNECTION_WAIT_S,
                reconnect_timeout=RECONNECT_GIVE_UP_S,
                reconnect_failed=_log_reconnect_failed,
                name=f"quarry-{service}-{name}",
                open=True,
            )
        else:
            path: Path = settings.service_dir(service) / f"{name}.sqlite3"
            self._sqlite = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._sqlite.execute("PRAGMA journal_mode=WAL")
            self._sqlite.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            # WAL + NORMAL survives a process crash; a power loss may drop the newest commits,
            # which these tables (read models, rebuilt from the event log) can afford.
            self._sqlite.execute("PRAGMA synchronous=NORMAL")

    def _sql(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.is_postgres else statement

    def _on_pg(self, work: Callable[[psycopg.Connection[Any]], T], *, retry: bool) -> T:
        bound: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if bound is not None:
            try:
                return work(bound)
            except psycopg.OperationalError as exc:
                raise unavailable(exc) from exc
        for attempt in (1, 2):
            try:
                with self._pool.connection(timeout=self._wait_s()) as conn:
                    result = work(conn)
            except PoolTimeout as exc:
                self._timed_out()
                raise unavailable(exc) from exc
            except psycopg.OperationalError as exc:
                if not retry or attempt == 2:
                    raise unavailable(exc) from exc
            else:
                self._succeeded()
                return result
        raise AssertionError("unreachable")

    def _wait_s(self) -> float:
        return WAIT_WHILE_DOWN_S if self._down else CONNECTION_WAIT_S

    def _succeeded(self) -> None:
        self._down = False
        self._last_ok = time.monotonic()

    def _timed_out(self) -> None:
        # No connection within the wait is an outage only if no call got one for as long: while
        # other threads keep getting connections, it is contention for a busy pool, and cutting
        # the wait short would turn a queue into a storm of failures.
        self._down = time.monotonic() - self._last_ok > CONNECTION_WAIT_S

    def execute(self, statement: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        if self.is_postgres:
            sql = self._sql(statement)
            return self._on_pg(lambda conn: conn.execute(sql, tuple(params)).rowcount, retry=False)
        with self._lock, sqlite_outage():
            return self._sqlite.execute(statement, tuple(params)).rowcount

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self.is_postgres:
            sql = self._sql(statement)
            # Only a plain SELECT is read-only for sure (an INSERT ... RETURNING is a query too).
            read_only = statement.lstrip()[:6].upper() == "SELECT"
            return self._on_pg(lambda conn: list(conn.execute(sql, tuple(params)).fetchall()), retry=read_only)
        with self._lock, sqlite_outage():
            return list(self._sqlite.execute(statement, tuple(params)).fetchall())

    def one(self, statement: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        rows = self.query(statement, params)
        return rows[0] if rows else None

    @contextmanager
    def held_if_free(self) -> Iterator[bool]:
        """On SQLite, hold the store's lock if no other thread holds it now (never waits for it):
        True when held, so calls made inside run at once. False on PostgreSQL or while another
        thread's call or transaction holds it."""
        if self.is_postgres or not self._lock.acquire(blocking=False):
            yield False
            return
        try:
            yield True
        finally:
            self._lock.release()

    @contextmanager
    def held_without_waiting(self) -> Iterator[bool]:
        """`held_if_free`, and while held, a statement (a transaction's BEGIN IMMEDIATE) that finds
        the file's write lock taken by another connection (another process: devtools, a replay)
        raises `Locked` at once instead of waiting for it: for work on an event loop, which must
        not wait. The busy timeout is back when it is released."""
        with self.held_if_free() as held:
            if not held:
                yield False
                return
            self._sqlite.execute("PRAGMA busy_timeout=0")
            try:
                yield True
            finally:
                self._sqlite.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")

    @contextmanager
    def transaction(self) -> Iterator[SqlDatabase]:
        """Group statements atomically (used where two writes must not diverge)."""
        if self.is_postgres:
            bound: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
            if bound is not None:  # nested: a savepoint in the outer transaction
                with bound.transaction():
                    yield self
                return
            with self._pg_transaction():
                yield self
            return
        with self._lock, sqlite_outage():
            self._sqlite.execute("BEGIN IMMEDIATE")
            try:
                yield self
                self._sqlite.execute("COMMIT")
            except BaseException:
                if self._sqlite.in_transaction:  # a failed COMMIT may have rolled back already
                    self._sqlite.execute("ROLLBACK")
                raise

    @contextmanager
    def _pg_transaction(self) -> Iterator[None]:
        try:
            with self._pool.connection(timeout=self._wait_s()) as conn, conn.transaction():
                self._succeeded()
                self._local.conn = conn
                try:
                    yield
                finally:
                    self._local.conn = None
        except PoolTimeout as exc:
            self._timed_out()
            raise unavailable(exc) from exc
        except psycopg.OperationalError as exc:
            # Lost before or during COMMIT: nothing is retried here (the body cannot be run
            # again from here, and a lost COMMIT may have been applied); the caller's redelivery
            # or retry repeats the whole unit of work.
            raise unavailable(exc) from exc

    def close(self) -> None:
        if self.is_postgres:
            self._pool.close()
            _reconnect_logged.pop(id(self._pool), None)
            return
        with self._lock:
            self._sqlite.close()


def _check_idle(conn: psycopg.Connection[Any]) -> None:
    """The pool's check before handing a connection out, without a round trip per call: an idle
    session receives nothing unless the server is ending it (a restart sends a notice and hangs
    up), so only a connection with something to read pays for a real check."""
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the connection is closed")
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN | select.POLLHUP | select.POLLERR)
    if poller.poll(0):
        ConnectionPool.check_connection(conn)


def unavailable(exc: BaseException) -> Unavailable:
    detail = str(exc).strip().replace("\n", " ")[:300] or type(exc).__name__
    if (getattr(exc, "sqlstate", None) or "").startswith("53"):  # disk full, out of memory, too many connections
        return Unavailable(f"the database is out of resources: {detail}")
    return Unavailable(f"the database cannot be reached: {detail}")


_reconnect_logged: dict[int, float] = {}  # by pool


def _log_reconnect_failed(pool: ConnectionPool[Any]) -> None:
    """Once per interval per pool: the pool gives up an attempt every couple of seconds."""
    now = time.monotonic()
    if now - _reconnect_logged.get(id(pool), -RECONNECT_LOG_INTERVAL_S) >= RECONNECT_LOG_INTERVAL_S:
        _reconnect_logged[id(pool)] = now
        log.warning("%s: PostgreSQL unreachable, reconnecting", pool.name)
