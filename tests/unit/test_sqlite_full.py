"""The embedded SQLite store out of space (or its file unwritable) is an outage, `Unavailable`,
which the bus waits out and the gateway answers 503; the refused transaction leaves nothing
half-written, and writes work again once there is room."""

from __future__ import annotations

from pathlib import Path

import pytest

from quarry_runtime.errors import Unavailable
from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.store import SqlDatabase


def test_a_full_database_refuses_writes_as_an_outage_and_recovers(tmp_path: Path) -> None:
    db = SqlDatabase(RuntimeSettings(data_dir=tmp_path), "gateway")
    try:
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        db.execute("INSERT INTO notes (body) VALUES (?)", ("before",))
        pages = int((db.one("PRAGMA page_count") or (0,))[0])
        # SQLite's own limit on the file's size: a full volume, as SQLite reports it (SQLITE_FULL).
        db.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(Unavailable, match="volume is full"), db.transaction() as tx:
            tx.execute("INSERT INTO notes (body) VALUES (?)", ("small",))
            tx.execute("INSERT INTO notes (body) VALUES (?)", ("x" * 200_000,))
        assert db.query("SELECT body FROM notes") == [("before",)], "nothing of the refused transaction"
        with pytest.raises(Unavailable, match="volume is full"):
            db.execute("INSERT INTO notes (body) VALUES (?)", ("y" * 200_000,))

        db.execute("PRAGMA max_page_count = 1073741823")  # room again
        db.execute("INSERT INTO notes (body) VALUES (?)", ("y" * 200_000,))
        assert [len(r[0]) for r in db.query("SELECT body FROM notes ORDER BY id")] == [6, 200_000]
    finally:
        db.close()


def test_a_wrong_statement_is_still_an_error_of_its_own(tmp_path: Path) -> None:
    db = SqlDatabase(RuntimeSettings(data_dir=tmp_path), "gateway")
    try:
        with pytest.raises(Exception, match="no such table") as caught:
            db.query("SELECT * FROM nowhere")
        assert not isinstance(caught.value, Unavailable)
    finally:
        db.close()
