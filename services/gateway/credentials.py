"""API keys and stream tickets: the credentials besides a password, kept as hashes (see `security`)."""

from __future__ import annotations

import hmac
import json
from datetime import UTC, datetime
from typing import Any

from quarry_runtime.store import SqlDatabase
from services.gateway.errors import Unauthorized
from services.gateway.security import Principal

# Writing the last use on every request would turn each read into a write; a minute is fine
# for "when was this key last used".
LAST_USED_RESOLUTION_S = 60.0


class Refused(Unauthorized):
    """A credential that is unknown, wrong, revoked or expired; the message says which."""


def iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat()


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


class Credentials:
    """The api_keys and stream_tickets tables `accounts.AccountStore` creates."""

    db: SqlDatabase

    def principal(self, user_id: str, tenant_id: str) -> Principal | None:
        raise NotImplementedError  # the member as they are now: AccountStore's

    def create_key(
        self,
        who: Principal,
        key_id: str,
        name: str,
        scopes: frozenset[str],
        secret_hash: str,
        expires_at: float | None,
    ) -> dict[str, Any]:
        self.db.execute(
            "INSERT INTO api_keys (key_id, tenant_id, user_id, name, scopes, secret_hash, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (key_id, who.tenant_id, who.user_id, name, json.dumps(sorted(scopes)), secret_hash, now_iso(), expires_at),
        )
        key = self.key(who.tenant_id, key_id, now=0.0)  # just made: neither revoked nor expired
        assert key is not None
        return key

    _KEY_COLUMNS = "key_id, name, scopes, user_id, created_at, expires_at, last_used_at, revoked_at"

    def keys(self, tenant_id: str, now: float) -> list[dict[str, Any]]:
        rows = self.db.query(
            f"SELECT {self._KEY_COLUMNS} FROM api_keys WHERE tenant_id = ? ORDER BY created_at DESC, key_id",
            (tenant_id,),
        )
        return [self._key(row, now) for row in rows]

    def key(self, tenant_id: str, key_id: str, now: float) -> dict[str, Any] | None:
        row = self.db.one(
            f"SELECT {self._KEY_COLUMNS} FROM api_keys WHERE tenant_id = ? AND key_id = ?", (tenant_id, key_id)
        )
        return None if row is None else self._key(row, now)

    @staticmethod
    def _key(row: tuple[Any, ...], now: float) -> dict[str, Any]:
        key_id, name, scopes, user_id, created_at, expires_at, last_used_at, revoked_at = row
        if revoked_at is not None:
            status = "revoked"
        elif expires_at is not None and float(expires_at) <= now:
            status = "expired"
        else:
            status = "active"
        return {
            "key_id": key_id,
            "name": name,
            "scopes": json.loads(scopes),
            "created_by": user_id,
            "created_at": created_at,
            "expires_at": iso(expires_at),
            "last_used_at": iso(last_used_at),
            "revoked_at": iso(revoked_at),
            "status": status,
        }

    def revoke_key(self, tenant_id: str, key_id: str, now: float) -> bool:
        """False if the tenant has no such key; revoking a revoked key changes nothing."""
        if self.db.one("SELECT 1 FROM api_keys WHERE tenant_id = ? AND key_id = ?", (tenant_id, key_id)) is None:
            return False
        self.db.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE tenant_id = ? AND key_id = ? AND revoked_at IS NULL",
            (now, tenant_id, key_id),
        )
        return True

    def authenticate_key(self, key_id: str, secret_hash: str, now: float) -> Principal:
        """The principal the key acts as: its creator now, narrowed to the key's scopes."""
        row = self.db.one("SELECT secret_hash, last_used_at FROM api_keys WHERE key_id = ?", (key_id,))
        if row is None or not hmac.compare_digest(str(row[0]), secret_hash):
            raise Refused("invalid API key")
        who = self._key_principal(key_id, now)
        if row[1] is None or float(row[1]) < now - LAST_USED_RESOLUTION_S:
            self.db.execute("UPDATE api_keys SET last_used_at = ? WHERE key_id = ?", (now, key_id))
        return who

    def _key_principal(self, key_id: str, now: float) -> Principal:
        row = self.db.one(
            "SELECT k.tenant_id, k.user_id, k.scopes, k.expires_at, k.revoked_at, u.email, u.roles FROM api_keys k"
            " LEFT JOIN users u ON u.user_id = k.user_id AND u.tenant_id = k.tenant_id WHERE k.key_id = ?",
            (key_id,),
        )
        if row is None:
            raise Refused("invalid API key")
        tenant_id, user_id, scopes, expires_at, revoked_at, email, roles = row
        if revoked_at is not None:
            raise Refused("API key revoked")
        if expires_at is not None and float(expires_at) <= now:
            raise Refused("API key expired")
        if email is None:
            raise Refused("the API key's creator is no longer a member")
        return Principal(
            str(user_id), str(tenant_id), str(email), tuple(json.loads(roles)), frozenset(json.loads(scopes)), key_id
        )

    # -- stream tickets ----------------------------------------------------------------------------

    def issue_stream_ticket(self, ticket_hash: str, who: Principal, run_id: str, expires_at: float, now: float) -> None:
        with self.db.transaction() as tx:
            # Spent tickets are deleted on use; this sweeps the ones nobody used.
            tx.execute("DELETE FROM stream_tickets WHERE expires_at <= ?", (now,))
            tx.execute(
                "INSERT INTO stream_tickets VALUES (?, ?, ?, ?, ?, ?)",
                (ticket_hash, who.tenant_id, who.user_id, who.key_id, run_id, expires_at),
            )

    def consume_stream_ticket(self, ticket_hash: str, run_id: str, now: float) -> Principal | None:
        """Who the ticket was issued to, as they are now; None if unknown, spent, expired or for another run.

        The ticket is spent by any attempt, also one at the wrong run: whoever shows it there
        is not its rightful holder.
        """
        with self.db.transaction() as tx:
            row = tx.one(
                "SELECT tenant_id, user_id, key_id, run_id, expires_at FROM stream_tickets WHERE ticket_hash = ?",
                (ticket_hash,),
            )
            # Only the replica whose DELETE removed the row may use it.
            if row is None or tx.execute("DELETE FROM stream_tickets WHERE ticket_hash = ?", (ticket_hash,)) != 1:
                return None
        tenant_id, user_id, key_id, ticket_run, expires_at = row
        if ticket_run != run_id or float(expires_at) <= now:
            return None
        if key_id is None:
            return self.principal(str(user_id), str(tenant_id))
        try:
            return self._key_principal(str(key_id), now)
        except Refused:
            return None
