"""Bulk writes to a local-mode collection that trade durability against a power cut for speed."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Iterator

from qdrant_client import QdrantClient

from services.retriever.index.client import client_lock

log = logging.getLogger(__name__)
_JOURNAL_MODES = frozenset({"delete", "truncate", "persist", "memory", "wal", "off"})


@contextlib.contextmanager
def bulk_writes(client: QdrantClient, collection: str) -> Iterator[None]:
    """Writes that may be lost to a power cut, since they can be made again (a shipped corpus).

    Local mode commits every point to SQLite on its own, and each commit waits for the disk
    (fsync): seconds for the sample corpus on an idle disk, a minute on a busy one. For the
    duration the collection's file is in WAL mode with synchronous=NORMAL, which never
    corrupts it (a crash of the machine may undo the last commits, no more), then back as it
    was. With a server, or a client this cannot see into, nothing changes.
    """
    connection = local_sqlite(client, collection)
    if connection is None:
        yield
        return
    with client_lock(client):
        try:
            journal = str(connection.execute("PRAGMA journal_mode").fetchone()[0]).lower()
            synchronous = int(connection.execute("PRAGMA synchronous").fetchone()[0])
            # NORMAL is safe in WAL mode only; a file system that cannot do WAL keeps FULL.
            if str(connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]).lower() == "wal":
                connection.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as exc:
            log.warning("bulk writes go at the usual pace: %s", exc)
            connection = None
    try:
        yield
    finally:
        if connection is not None:
            with client_lock(client):
                connection.execute(f"PRAGMA synchronous={synchronous}")
                if journal in _JOURNAL_MODES:
                    connection.execute(f"PRAGMA journal_mode={journal}")


def local_sqlite(client: QdrantClient, collection: str) -> sqlite3.Connection | None:
    """The SQLite connection under a collection in local mode; None with a server.

    qdrant-client keeps it in private attributes, so each step is checked: a release that
    moves them makes `bulk_writes` slow again, never wrong (a unit test notices).
    """
    local = getattr(client, "_client", None)
    collections = getattr(local, "collections", None)
    found = collections.get(collection) if isinstance(collections, dict) else None
    connection = getattr(getattr(found, "storage", None), "storage", None)
    return connection if isinstance(connection, sqlite3.Connection) else None
