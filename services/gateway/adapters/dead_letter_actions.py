"""What operators did with each dead letter: redriven (how often) or discarded, by whom and when.

The dead-letter stream itself is never changed (no service, nor the operators' NATS user, may
delete from it: it is the evidence, and ages out by its limits); a discarded letter is one the
console no longer lists as open.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from services.gateway.readmodels.tables import Tables

REDRIVEN: Final = "redriven"
DISCARDED: Final = "discarded"


@dataclass(frozen=True)
class Handled:
    state: str  # REDRIVEN or DISCARDED
    by: str
    at: str
    redrives: int


class DeadLetterActions(Tables):
    def schema(self) -> tuple[str, ...]:
        return (
            "CREATE TABLE IF NOT EXISTS ops_dead_letters (seq BIGINT PRIMARY KEY, state TEXT NOT NULL,"
            " actor TEXT NOT NULL, at TEXT NOT NULL, redrives INTEGER NOT NULL DEFAULT 0)",
        )

    def mark(self, seq: int, state: str, actor: str) -> None:
        """Record the latest thing done with the letter at `seq`, counting redrives."""
        redrive = 1 if state == REDRIVEN else 0
        self.db.execute(
            "INSERT INTO ops_dead_letters (seq, state, actor, at, redrives) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (seq) DO UPDATE SET state = excluded.state, actor = excluded.actor, at = excluded.at,"
            " redrives = ops_dead_letters.redrives + excluded.redrives",
            (seq, state, actor, datetime.now(UTC).isoformat(), redrive),
        )

    def of(self, seqs: list[int]) -> dict[int, Handled]:
        if not seqs:
            return {}
        marks = ", ".join(["?"] * len(seqs))
        rows = self.db.query(
            f"SELECT seq, state, actor, at, redrives FROM ops_dead_letters WHERE seq IN ({marks})", seqs
        )
        return {int(r[0]): Handled(str(r[1]), str(r[2]), str(r[3]), int(r[4])) for r in rows}
