"""Qdrant clients shared by several indexes: opened once, serialised in local mode, closed by their owner."""

from __future__ import annotations

import threading
import weakref
from pathlib import Path

from qdrant_client import QdrantClient

# One lock per client, not per index: local mode allows one client per path, so every index on
# that path shares the client, and the client's state is what needs guarding.
_client_locks: weakref.WeakKeyDictionary[QdrantClient, threading.RLock] = weakref.WeakKeyDictionary()
_client_locks_guard = threading.Lock()


def open_client(*, path: Path | None = None, url: str | None = None, api_key: str | None = None) -> QdrantClient:
    """A client on a local-mode directory or a Qdrant server; exactly one of `path` and `url`."""
    if (path is None) == (url is None):
        raise ValueError("give exactly one of path (local mode) or url (server)")
    return QdrantClient(path=str(path)) if path is not None else QdrantClient(url=url, api_key=api_key)


def is_local(client: QdrantClient) -> bool:
    """Whether the client runs Qdrant in-process (`:memory:` or a path) rather than talking to a server."""
    options = client.init_options
    return options.get("path") is not None or options.get("location") == ":memory:"


def client_lock(client: QdrantClient) -> threading.RLock:
    """The lock that serialises calls on a local-mode client, the same for every index using it."""
    with _client_locks_guard:
        lock = _client_locks.get(client)
        if lock is None:
            lock = _client_locks[client] = threading.RLock()
        return lock


def close_client(client: QdrantClient) -> None:
    """Close a client shared by several indexes, waiting for any call in flight on a local one."""
    with client_lock(client):
        client.close()
