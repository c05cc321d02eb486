"""Read-only share links to a run's report: the tokens (kept only as fingerprints), and what a
link shows, the report's Markdown and its sources, read from the report as published.

The links live in the shared store, not in a replica's memory, so a revoked link is refused by
every replica from the next request on.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from quarry_runtime.store import SqlDatabase

SHARE_TOKEN_PREFIX = "qs_"
MAX_SHARES_PER_RUN = 50  # live links of one run; more is a leak nobody can keep track of
SOURCES_HEADING = "## Sources"
_ITEM = re.compile(r"^(\d+)\. (.*)$")
_QUOTE = re.compile(r"^\s+> (.*)$")
# What the reporter's Markdown escaping put in front of a character, and the entity it wrote for "&".
_ESCAPED = re.compile(r"\\([\\`*_\[\]<>|~#>+=\-.)!])")
_URL = re.compile(r"^https?://[^\s<>]+$")


class ShareStore:
    def __init__(self, db: SqlDatabase, run_events: str) -> None:
        self.db = db
        self.run_events = run_events
        for statement in (
            "CREATE TABLE IF NOT EXISTS run_shares (share_id TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE,"
            " tenant_id TEXT NOT NULL, run_id TEXT NOT NULL, created_by TEXT, created_at TEXT NOT NULL, revoked_at TEXT)",
            "CREATE INDEX IF NOT EXISTS run_shares_by_run ON run_shares (tenant_id, run_id)",
        ):
            db.execute(statement)

    def create(
        self, share_id: str, token_hash: str, tenant_id: str, run_id: str, user_id: str
    ) -> dict[str, Any] | None:
        """The new link's row; None when the run already has as many live links as it may."""
        created_at = datetime.now(UTC).isoformat()
        with self.db.transaction() as tx:
            live = tx.query(
                "SELECT COUNT(*) FROM run_shares WHERE tenant_id = ? AND run_id = ? AND revoked_at IS NULL",
                (tenant_id, run_id),
            )
            if int(live[0][0]) >= MAX_SHARES_PER_RUN:
                return None
            tx.execute(
                "INSERT INTO run_shares (share_id, token_hash, tenant_id, run_id, created_by, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (share_id, token_hash, tenant_id, run_id, user_id, created_at),
            )
        return {"share_id": share_id, "run_id": run_id, "created_by": user_id, "created_at": created_at}

    def of_run(self, tenant_id: str, run_id: str) -> list[dict[str, Any]]:
        """The run's live links, newest first (their tokens are not kept, so not shown)."""
        rows = self.db.query(
            "SELECT share_id, created_by, created_at FROM run_shares"
            " WHERE tenant_id = ? AND run_id = ? AND revoked_at IS NULL ORDER BY created_at DESC, share_id",
            (tenant_id, run_id),
        )
        return [{"share_id": r[0], "run_id": run_id, "created_by": r[1], "created_at": r[2]} for r in rows]

    def revoke(self, tenant_id: str, share_id: str) -> str | None:
        """Revoke the tenant's link (again is no error); the run it shared, or None if the tenant has no such link."""
        with self.db.transaction() as tx:
            row = tx.query("SELECT run_id FROM run_shares WHERE share_id = ? AND tenant_id = ?", (share_id, tenant_id))
            if not row:
                return None
            tx.execute(
                "UPDATE run_shares SET revoked_at = ? WHERE share_id = ? AND revoked_at IS NULL",
                (datetime.now(UTC).isoformat(), share_id),
            )
        return str(row[0][0])

    def resolve(self, token_hash: str) -> tuple[str, str] | None:
        """(tenant, run) a live link shares."""
        row = self.db.one(
            "SELECT tenant_id, run_id FROM run_shares WHERE token_hash = ? AND revoked_at IS NULL", (token_hash,)
        )
        return (str(row[0]), str(row[1])) if row else None

    def completed_at(self, tenant_id: str, run_id: str) -> str | None:
        row = self.db.one(
            f"SELECT MIN(occurred_at) FROM {self.run_events} WHERE run_id = ? AND tenant_id = ? AND type = 'run.completed'",
            (run_id, tenant_id),
        )
        return str(row[0]) if row and row[0] else None


def _unescape(text: str) -> str:
    return _ESCAPED.sub(r"\1", text).replace("&amp;", "&")


def report_sources(markdown: str, listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The report's sources as [{n, title, url, passage}]: number, title and address from the
    run's view, the quoted passage from the report's own Sources list (the event log keeps no
    passages). A source the view does not list but the report does is taken from the report."""
    quotes: dict[int, str] = {}
    labels: dict[int, str] = {}
    in_sources, current = False, None
    for line in markdown.splitlines():
        if line.startswith("## "):
            in_sources, current = line.strip() == SOURCES_HEADING, None
            continue
        if not in_sources:
            continue
        item = _ITEM.match(line)
        if item:
            current = int(item.group(1))
            labels[current] = item.group(2)
            continue
        quote = _QUOTE.match(line)
        if quote and current is not None and current not in quotes:
            quotes[current] = _unescape(quote.group(1))
    out: dict[int, dict[str, Any]] = {}
    for source in listed:
        number = source.get("number")
        if not isinstance(number, int):
            continue
        address = str(source.get("source_id") or "").strip()
        out[number] = {
            "n": number,
            "title": source.get("title") or "Untitled source",
            "url": address if _URL.match(address) else None,
            "passage": quotes.get(number, ""),
        }
    for number, label in labels.items():
        if number not in out:
            title, _, rest = label.partition(" · <")
            url = rest.rstrip(">") if rest else None
            out[number] = {
                "n": number,
                "title": _unescape(title.split(" — ")[0]),
                "url": url if url and _URL.match(url) else None,
                "passage": quotes.get(number, ""),
            }
    return [out[n] for n in sorted(out)]
