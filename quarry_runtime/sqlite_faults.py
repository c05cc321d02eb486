"""SQLite's errors that say the file cannot be used right now (not that the statement is wrong),
raised as `Unavailable`: redelivered on the bus, 503 over HTTP."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from quarry_runtime.errors import Unavailable

# How long a statement waits for another connection's write lock before it fails as `Locked`.
BUSY_TIMEOUT_MS = 10_000


class Locked(Unavailable):
    """Another connection (another thread's, another process's) holds the file's write lock: past
    the busy timeout, or at once where the caller asked not to wait (`SqlDatabase.held_without_waiting`)."""


# SQLite's primary result codes that say the file cannot be written or read right now (a full
# volume, an I/O error, a lock held past busy_timeout), not that the statement is wrong.
_OUTAGES = {
    sqlite3.SQLITE_FULL: "the database's volume is full",
    sqlite3.SQLITE_IOERR: "the database's file cannot be read or written",
    sqlite3.SQLITE_BUSY: "the database is locked",
    sqlite3.SQLITE_CANTOPEN: "the database's file cannot be opened",
}


@contextmanager
def sqlite_outage() -> Iterator[None]:
    try:
        yield
    except sqlite3.OperationalError as exc:
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
        what = _OUTAGES.get(code)
        if what is None:
            raise
        raise (Locked if code == sqlite3.SQLITE_BUSY else Unavailable)(f"{what}: {exc}") from exc
