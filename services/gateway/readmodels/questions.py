"""The gateway's read model of follow-up questions: one row per question, and its answer's parts."""

from __future__ import annotations

import json
from typing import Any, TypeAlias

from contracts.envelope import Event
from contracts.question import QuestionAnswered, QuestionAnswerPart, QuestionAsked, QuestionFailed
from services.gateway.readmodels.tables import Prefixed, Tables

SETTLED = frozenset({"answered", "failed"})
# An answer or a failure: either settles the question (and makes its row, if the question is late).
Outcome: TypeAlias = QuestionAnswered | QuestionFailed
_COLUMNS = "question_id, run_id, user_id, text, scope, status, answer, citations, reason, created_at, updated_at"


class QuestionStore(Tables):
    """Tables `<prefix>questions` and `<prefix>question_parts`."""

    table = Prefixed("questions")
    parts = Prefixed("question_parts")

    def schema(self) -> tuple[str, ...]:
        return (
            f"CREATE TABLE IF NOT EXISTS {self.table} (question_id TEXT PRIMARY KEY, run_id TEXT NOT NULL,"
            " tenant_id TEXT NOT NULL, user_id TEXT, text TEXT NOT NULL, scope TEXT NOT NULL, status TEXT NOT NULL,"
            " answer TEXT, citations TEXT, reason TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS {self.table}_by_run ON {self.table} (tenant_id, run_id, created_at)",
            f"CREATE TABLE IF NOT EXISTS {self.parts} (question_id TEXT NOT NULL, seq INTEGER NOT NULL,"
            " text TEXT NOT NULL, PRIMARY KEY (question_id, seq))",
        )

    def drop(self) -> None:
        """Drop these tables (a rebuild's prefixed ones; the store refuses to drop the live ones)."""
        for table in (self.table, self.parts):
            self.db.execute(f"DROP TABLE IF EXISTS {table}")

    def apply(self, ev: Event) -> bool:
        """Fold one question event in; True when the question changed (streams then wake)."""
        at = ev.occurred_at.isoformat()
        if isinstance(ev, QuestionAsked):
            asked = ev.payload
            # An answer that overtook its question made a stand-in row: the question fills it in.
            changed = self.db.execute(
                f"INSERT INTO {self.table} (question_id, run_id, tenant_id, user_id, text, scope, status,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'asked', ?, ?)"
                " ON CONFLICT (question_id) DO UPDATE SET text = excluded.text, scope = excluded.scope,"
                " user_id = excluded.user_id, created_at = excluded.created_at",
                (asked.question_id, asked.run_id, ev.tenant_id, ev.actor.user_id, asked.text, asked.scope, at, at),
            )
        elif isinstance(ev, QuestionAnswerPart):
            part = ev.payload
            changed = self.db.execute(
                f"INSERT INTO {self.parts} (question_id, seq, text) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (part.question_id, part.seq, part.text),
            )
        elif isinstance(ev, QuestionAnswered):
            citations = json.dumps([c.model_dump() for c in ev.payload.citations])
            changed = self._settle(ev, "answered", ev.payload.answer, citations, None)
        elif isinstance(ev, QuestionFailed):
            changed = self._settle(ev, "failed", None, None, ev.payload.reason)
        else:
            return False
        return changed > 0

    def _settle(self, ev: Outcome, status: str, answer: str | None, citations: str | None, reason: str | None) -> int:
        at = ev.occurred_at.isoformat()
        return self.db.execute(
            f"INSERT INTO {self.table} (question_id, run_id, tenant_id, text, scope, status, answer, citations,"
            " reason, created_at, updated_at) VALUES (?, ?, ?, '', 'run', ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (question_id) DO UPDATE SET status = excluded.status, answer = excluded.answer,"
            " citations = excluded.citations, reason = excluded.reason, updated_at = excluded.updated_at",
            (ev.payload.question_id, ev.payload.run_id, ev.tenant_id, status, answer, citations, reason, at, at),
        )

    def view(self, tenant_id: str, run_id: str, question_id: str) -> dict[str, Any] | None:
        """The question with its answer so far, only if it is about this run of this tenant."""
        row = self.db.one(
            f"SELECT {_COLUMNS} FROM {self.table} WHERE question_id = ? AND tenant_id = ? AND run_id = ?",
            (question_id, tenant_id, run_id),
        )
        return None if row is None else self._view(row)

    def of_run(self, tenant_id: str, run_id: str, limit: int, offset: int) -> list[dict[str, Any]]:
        rows = self.db.query(
            f"SELECT {_COLUMNS} FROM {self.table} WHERE tenant_id = ? AND run_id = ?"
            " ORDER BY created_at DESC, question_id DESC LIMIT ? OFFSET ?",
            (tenant_id, run_id, limit, offset),
        )
        return [self._view(row) for row in rows]

    def parts_after(self, question_id: str, after: int) -> list[tuple[int, str]]:
        """The answer's parts numbered above `after` (-1: all), in order."""
        rows = self.db.query(
            f"SELECT seq, text FROM {self.parts} WHERE question_id = ? AND seq > ? ORDER BY seq", (question_id, after)
        )
        return [(int(seq), str(text)) for seq, text in rows]

    def _view(self, row: Any) -> dict[str, Any]:
        question_id, run_id, user_id, text, scope, status, answer, citations, reason, created, updated = row
        if answer is None and status not in SETTLED:
            answer = "".join(text for _, text in self.parts_after(question_id, -1))
            status = "answering" if answer else status
        return {
            "question_id": question_id,
            "run_id": run_id,
            "question": text,
            "scope": scope,
            "status": status,
            "answer": answer or "",
            "citations": json.loads(citations) if citations else [],
            "error": reason,
            "asked_by": user_id,
            "created_at": created,
            "updated_at": updated,
        }
