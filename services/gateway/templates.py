"""Research templates: a tenant's saved run settings (depth, sources, length, report outline, tone).

A template is the gateway's own configuration, like tenant settings: not rebuilt from the bus.
Every change is a new version and old versions are kept, so a run that names the version it used
keeps meaning what it meant. `resolve` turns a template and a request into a run's settings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from contracts.ids import new_id
from quarry_runtime.store import SqlDatabase
from services.gateway.errors import Conflict

# Length and word target are one choice (how long): a request that makes it takes both from itself.
_LENGTH_FIELDS = frozenset({"length", "target_words"})


class TemplateConflict(Conflict):
    """Another live template of the tenant has the name."""


def resolve(
    template: Mapping[str, Any] | None, request: Mapping[str, Any], explicit: set[str], *, fallback_sources: Any = None
) -> dict[str, Any]:
    """A run's settings: what the request says explicitly, else the template's, else the request's defaults.

    `request` holds the request's values (its defaults included), `explicit` the names the caller
    actually sent; `fallback_sources` is the tenant's setting, used when neither names sources.
    Pure: the template is a version's body as stored.
    """
    t: Mapping[str, Any] = template or {}
    out = {
        name: request.get(name) if name in explicit or t.get(name) is None else t[name]
        for name in ("depth", "max_sources", "sources")
    }
    if _LENGTH_FIELDS & explicit or all(t.get(name) is None for name in _LENGTH_FIELDS):
        out |= {name: request.get(name) for name in _LENGTH_FIELDS}
    else:
        out |= {"length": t.get("length") or "standard", "target_words": t.get("target_words")}
    if out["sources"] is None:
        out["sources"] = fallback_sources
    if template is None:
        return out | {
            "template_id": None,
            "template_version": None,
            "template_name": None,
            "outline": [],
            "tone": "neutral",
        }
    return out | {
        "template_id": template["template_id"],
        "template_version": template["version"],
        "template_name": template["name"],
        "outline": list(template.get("outline") or []),
        "tone": template.get("tone") or "neutral",
    }


def _now() -> str:
    return datetime.now(UTC).isoformat()


class TemplateStore:
    """Templates (one row each, pointing at the current version) and every version's body."""

    def __init__(self, db: SqlDatabase) -> None:
        self.db = db
        for statement in (
            "CREATE TABLE IF NOT EXISTS templates (template_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL,"
            " name TEXT NOT NULL, name_key TEXT NOT NULL, version INTEGER NOT NULL, created_at TEXT NOT NULL,"
            " updated_at TEXT NOT NULL, deleted_at TEXT)",
            # The name is checked in the writing transaction; the index is the backstop for a
            # second gateway replica writing at the same moment.
            "CREATE UNIQUE INDEX IF NOT EXISTS templates_live_name ON templates (tenant_id, name_key)"
            " WHERE deleted_at IS NULL",
            "CREATE TABLE IF NOT EXISTS template_versions (template_id TEXT NOT NULL, version INTEGER NOT NULL,"
            " body TEXT NOT NULL, created_by TEXT, created_at TEXT NOT NULL, PRIMARY KEY (template_id, version))",
        ):
            db.execute(statement)

    def create(self, tenant_id: str, body: Mapping[str, Any], user_id: str | None) -> dict[str, Any]:
        """Save version 1 of a new template; `TemplateConflict` if the tenant has one of that name."""
        template_id, now = new_id(), _now()
        with self.db.transaction() as tx:
            self._check_name(tx, tenant_id, str(body["name"]), None)
            tx.execute(
                "INSERT INTO templates (template_id, tenant_id, name, name_key, version, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, 1, ?, ?)",
                (template_id, tenant_id, body["name"], _key(body["name"]), now, now),
            )
            tx.execute(
                "INSERT INTO template_versions (template_id, version, body, created_by, created_at) VALUES (?, 1, ?, ?, ?)",
                (template_id, json.dumps(dict(body)), user_id, now),
            )
        found = self.get(tenant_id, template_id)
        assert found is not None
        return found

    def update(
        self, tenant_id: str, template_id: str, body: Mapping[str, Any], user_id: str | None
    ) -> dict[str, Any] | None:
        """Save the body as the template's next version; None if the tenant has no such template."""
        now = _now()
        with self.db.transaction() as tx:
            row = tx.one(
                "SELECT version FROM templates WHERE template_id = ? AND tenant_id = ? AND deleted_at IS NULL",
                (template_id, tenant_id),
            )
            if row is None:
                return None
            self._check_name(tx, tenant_id, str(body["name"]), template_id)
            version = int(row[0]) + 1
            tx.execute(
                "INSERT INTO template_versions (template_id, version, body, created_by, created_at) VALUES (?, ?, ?, ?, ?)",
                (template_id, version, json.dumps(dict(body)), user_id, now),
            )
            tx.execute(
                "UPDATE templates SET name = ?, name_key = ?, version = ?, updated_at = ? WHERE template_id = ?",
                (body["name"], _key(body["name"]), version, now, template_id),
            )
        return self.get(tenant_id, template_id)

    def delete(self, tenant_id: str, template_id: str) -> bool:
        """Retire the template (its versions stay, for the runs that used them); False if not found."""
        changed = self.db.execute(
            "UPDATE templates SET deleted_at = ? WHERE template_id = ? AND tenant_id = ? AND deleted_at IS NULL",
            (_now(), template_id, tenant_id),
        )
        return changed > 0

    def get(self, tenant_id: str, template_id: str, version: int | None = None) -> dict[str, Any] | None:
        """The template at `version` (default: the current one), only if it is the tenant's and not deleted."""
        row = self.db.one(
            "SELECT t.version, t.created_at, t.updated_at, v.version, v.body, v.created_by, v.created_at"
            " FROM templates t JOIN template_versions v ON v.template_id = t.template_id"
            " WHERE t.template_id = ? AND t.tenant_id = ? AND t.deleted_at IS NULL AND v.version = COALESCE(?, t.version)",
            (template_id, tenant_id, version),
        )
        if row is None:
            return None
        current, created_at, updated_at, at_version, body, created_by, version_at = row
        return {
            "template_id": template_id,
            **json.loads(body),
            "version": int(at_version),
            "current_version": int(current),
            "created_at": created_at,
            "updated_at": updated_at,
            "version_created_at": version_at,
            "version_created_by": created_by,
        }

    def list(self, tenant_id: str) -> list[dict[str, Any]]:
        rows = self.db.query(
            "SELECT template_id FROM templates WHERE tenant_id = ? AND deleted_at IS NULL ORDER BY name_key",
            (tenant_id,),
        )
        found = (self.get(tenant_id, str(r[0])) for r in rows)
        return [t for t in found if t is not None]

    @staticmethod
    def _check_name(tx: SqlDatabase, tenant_id: str, name: str, template_id: str | None) -> None:
        clash = tx.one(
            "SELECT template_id FROM templates WHERE tenant_id = ? AND name_key = ? AND deleted_at IS NULL",
            (tenant_id, _key(name)),
        )
        if clash is not None and clash[0] != template_id:
            raise TemplateConflict(f"the tenant has a template named {name!r} already")


def _key(name: str) -> str:
    return " ".join(name.split()).casefold()
