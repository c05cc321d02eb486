"""The operators' console's replays: one row each, from the request to the report.

One replay at a time in a deployment: a start is refused while another is running and alive (it
wrote progress within `STALE_S`). A replica that died mid-replay leaves its row `running`; once
stale it reads as `abandoned` and no longer blocks a new one.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from quarry_runtime.store import SqlDatabase
from services.gateway.readmodels.tables import Tables

STALE_S: Final = 120.0
_COLUMNS = "replay_id, requested_by, started_at, updated_at, finished_at, state, messages, first_seq, last_seq, report"


def _now() -> datetime:
    return datetime.now(UTC)


class ReplayRecords(Tables):
    def schema(self) -> tuple[str, ...]:
        return (
            "CREATE TABLE IF NOT EXISTS ops_replays (replay_id TEXT PRIMARY KEY, requested_by TEXT NOT NULL,"
            " started_at TEXT NOT NULL, updated_at TEXT NOT NULL, finished_at TEXT, state TEXT NOT NULL,"
            " messages BIGINT NOT NULL DEFAULT 0, first_seq BIGINT NOT NULL, last_seq BIGINT NOT NULL, report TEXT)",
        )

    def start(self, replay_id: str, requested_by: str, first_seq: int, last_seq: int) -> dict[str, Any] | None:
        """Record a new running replay; None when recorded, else the live replay that is running."""
        now = _now()
        with self.db.transaction() as tx:
            if tx.is_postgres:
                tx.execute("LOCK TABLE ops_replays IN EXCLUSIVE MODE")  # two replicas asked at once
            for row in _running(tx):
                if not _stale(row, now):
                    return row
            tx.execute(
                f"INSERT INTO ops_replays ({_COLUMNS}) VALUES (?, ?, ?, ?, NULL, ?, 0, ?, ?, NULL)",
                (replay_id, requested_by, now.isoformat(), now.isoformat(), "running", first_seq, last_seq),
            )
        return None

    def abandon_stale(self) -> list[str]:
        """Mark the running replays whose process stopped writing progress as abandoned; their ids,
        so that what they left (their prefixed tables) can be dropped."""
        now = _now()
        stale = [row["replay_id"] for row in _running(self.db) if _stale(row, now)]
        for replay_id in stale:
            self.db.execute(
                "UPDATE ops_replays SET state = ?, finished_at = ?, updated_at = ? WHERE replay_id = ? AND state = ?",
                ("abandoned", now.isoformat(), now.isoformat(), replay_id, "running"),
            )
        return stale

    def progress(self, replay_id: str, messages: int) -> None:
        self.db.execute(
            "UPDATE ops_replays SET messages = ?, updated_at = ? WHERE replay_id = ? AND state = ?",
            (messages, _now().isoformat(), replay_id, "running"),
        )

    def finish(self, replay_id: str, state: str, messages: int, report: dict[str, Any]) -> None:
        now = _now().isoformat()
        self.db.execute(
            "UPDATE ops_replays SET state = ?, messages = ?, report = ?, finished_at = ?, updated_at = ?"
            " WHERE replay_id = ?",
            (state, messages, json.dumps(report, default=str), now, now, replay_id),
        )

    def get(self, replay_id: str) -> dict[str, Any] | None:
        row = self.db.one(f"SELECT {_COLUMNS} FROM ops_replays WHERE replay_id = ?", (replay_id,))
        return None if row is None else _shown(_row(row))

    def newest(self, limit: int) -> list[dict[str, Any]]:
        rows = self.db.query(f"SELECT {_COLUMNS} FROM ops_replays ORDER BY started_at DESC LIMIT ?", (limit,))
        return [_shown(_row(r)) for r in rows]


def _row(row: tuple[Any, ...]) -> dict[str, Any]:
    replay_id, by, started, updated, finished, state, messages, first, last, report = row
    return {
        "replay_id": replay_id,
        "requested_by": by,
        "started_at": started,
        "updated_at": updated,
        "finished_at": finished,
        "state": state,
        "messages": int(messages),
        "first_seq": int(first),
        "last_seq": int(last),
        "report": json.loads(report) if report else None,
    }


def _running(db: SqlDatabase) -> list[dict[str, Any]]:
    return [_row(row) for row in db.query(f"SELECT {_COLUMNS} FROM ops_replays WHERE state = ?", ("running",))]


def _stale(row: dict[str, Any], now: datetime) -> bool:
    return now - datetime.fromisoformat(row["updated_at"]) > timedelta(seconds=STALE_S)


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    if row["state"] == "running" and _stale(row, _now()):
        return {**row, "state": "abandoned"}
    return row
