"""How far each read-model projection is known to have caught up with the event stream.

A position is a stream sequence: every message of the projection's subjects at or below it has
been applied to the views. It is kept in the same database as the views and written after the
effects of the messages it covers have committed, so a restart resumes from it; a crash between
the two repeats a few messages, which the projections apply harmlessly a second time.
"""

from __future__ import annotations

from datetime import UTC, datetime

from services.gateway.readmodels.tables import Prefixed, Tables


class Positions(Tables):
    """One row per projection: the stream sequence up to which its messages are in the views."""

    table = Prefixed("projection_positions")

    def schema(self) -> tuple[str, ...]:
        return (
            f"CREATE TABLE IF NOT EXISTS {self.table} (projection TEXT PRIMARY KEY, seq BIGINT NOT NULL,"
            " updated_at TEXT NOT NULL)",
        )

    def all(self) -> dict[str, int]:
        return {str(name): int(seq) for name, seq in self.db.query(f"SELECT projection, seq FROM {self.table}")}

    def get(self, projection: str) -> int:
        row = self.db.one(f"SELECT seq FROM {self.table} WHERE projection = ?", (projection,))
        return int(row[0]) if row else 0

    def advance(self, projection: str, seq: int) -> None:
        """Move the position forward, never back: two replicas' passes may finish out of order,
        and each one's position is true on its own, so the larger is too."""
        self.db.execute(
            f"INSERT INTO {self.table} (projection, seq, updated_at) VALUES (?, ?, ?)"
            f" ON CONFLICT (projection) DO UPDATE SET"
            f" seq = CASE WHEN excluded.seq > {self.table}.seq THEN excluded.seq ELSE {self.table}.seq END,"
            " updated_at = excluded.updated_at",
            (projection, seq, datetime.now(UTC).isoformat()),
        )

    def reset(self, projection: str) -> None:
        """Forget the position (the stream it was taken on is gone): the next pass reads from the start."""
        self.db.execute(f"DELETE FROM {self.table} WHERE projection = ?", (projection,))
