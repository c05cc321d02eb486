"""The gateway's identity tables: tenants, their members and invites, API keys, stream tickets.

This is the gateway's own state (not rebuilt from the bus). Secrets are never stored: keys,
invites and tickets are kept as hashes computed by `security`. Times that are compared
(expiry, last use) are epoch seconds; the API shows them as ISO-8601.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from quarry_runtime.store import SqlDatabase
from services.gateway.credentials import Credentials, now_iso
from services.gateway.domain import permissions
from services.gateway.errors import Conflict, Forbidden, NotFound
from services.gateway.security import Principal

# The password hash of a member who was invited and has not chosen a password yet: argon2
# cannot parse it, so no password matches it.
INVITED = "!invited"


class DuplicateEmail(Conflict):
    """A user with this email already exists (an active account anywhere, or a member of this tenant)."""


class NoSuchMember(NotFound):
    """No such user in this tenant."""


class RoleTooHigh(Forbidden):
    """The acting member may not grant that role, or manage a member who outranks them."""


class LastOwner(Conflict):
    """The change would leave the tenant without an owner."""


@contextmanager
def _email_taken_as_duplicate(email: str) -> Iterator[None]:
    """A unique index on emails refused the write: another replica made the same address an
    account (or this tenant's member) between this one's check and its write."""
    try:
        yield
    except (sqlite3.IntegrityError, psycopg.IntegrityError):
        raise DuplicateEmail(email) from None


_USERS = (
    "CREATE TABLE IF NOT EXISTS users (user_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, email TEXT NOT NULL,"
    " password_hash TEXT NOT NULL, roles TEXT NOT NULL, created_at TEXT NOT NULL)"
)


class AccountStore(Credentials):
    """An email is one account platform-wide once it has a password (the log-in finds the tenant
    by it); an invitation only reserves the email within the inviting tenant, so inviting an
    address never stops it signing up or being invited elsewhere. The first to become active
    wins: accepting an invitation for an email that has meanwhile become an account is refused
    (the invite is spent) and the inviting admin may invite another address."""

    def __init__(self, db: SqlDatabase) -> None:
        self.db = db
        self._unreserve_invited_emails()
        for statement in (
            "CREATE TABLE IF NOT EXISTS tenants (tenant_id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at TEXT NOT NULL)",
            # `roles` is a JSON list for the JWT's sake; the gateway gives each user one role.
            _USERS,
            "CREATE INDEX IF NOT EXISTS users_by_tenant ON users (tenant_id)",
            "CREATE UNIQUE INDEX IF NOT EXISTS users_by_tenant_email ON users (tenant_id, email)",
            f"CREATE UNIQUE INDEX IF NOT EXISTS users_active_email ON users (email) WHERE password_hash <> '{INVITED}'",
            "CREATE TABLE IF NOT EXISTS invites (invite_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL UNIQUE,"
            " tenant_id TEXT NOT NULL, expires_at DOUBLE PRECISION NOT NULL)",
            "CREATE TABLE IF NOT EXISTS api_keys (key_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, user_id TEXT NOT NULL,"
            " name TEXT NOT NULL, scopes TEXT NOT NULL, secret_hash TEXT NOT NULL, created_at TEXT NOT NULL,"
            " expires_at DOUBLE PRECISION, last_used_at DOUBLE PRECISION, revoked_at DOUBLE PRECISION)",
            "CREATE INDEX IF NOT EXISTS api_keys_by_tenant ON api_keys (tenant_id)",
            # Tickets live here rather than in a replica's memory, so any gateway replica can honour one.
            "CREATE TABLE IF NOT EXISTS stream_tickets (ticket_hash TEXT PRIMARY KEY, tenant_id TEXT NOT NULL,"
            " user_id TEXT NOT NULL, key_id TEXT, run_id TEXT NOT NULL, expires_at DOUBLE PRECISION NOT NULL)",
            "CREATE INDEX IF NOT EXISTS stream_tickets_by_expiry ON stream_tickets (expires_at)",
            # Access tokens whose holder logged out, kept until they would have expired anyway.
            "CREATE TABLE IF NOT EXISTS revoked_tokens (token_id TEXT PRIMARY KEY, expires_at DOUBLE PRECISION NOT NULL)",
            "CREATE INDEX IF NOT EXISTS revoked_tokens_by_expiry ON revoked_tokens (expires_at)",
        ):
            db.execute(statement)

    def _unreserve_invited_emails(self) -> None:
        """Drop the platform-wide UNIQUE on users.email of a store made before invitations stopped
        reserving emails (the partial index above takes its place)."""
        if self.db.is_postgres:
            self.db.execute("ALTER TABLE IF EXISTS users DROP CONSTRAINT IF EXISTS users_email_key")
            return
        row = self.db.one("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'users'")
        if row is None or "UNIQUE" not in str(row[0]):
            return
        with self.db.transaction() as tx:
            tx.execute(_USERS.replace("users", "users_unreserved", 1))
            tx.execute("INSERT INTO users_unreserved SELECT * FROM users")
            tx.execute("DROP TABLE users")
            tx.execute("ALTER TABLE users_unreserved RENAME TO users")

    # -- access tokens ---------------------------------------------------------------------------

    def revoke_token(self, token_id: str, expires_at: float, now: float) -> None:
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM revoked_tokens WHERE expires_at <= ?", (now,))
            tx.execute(
                "INSERT INTO revoked_tokens (token_id, expires_at) VALUES (?, ?) ON CONFLICT (token_id) DO NOTHING",
                (token_id, expires_at),
            )

    def token_revoked(self, token_id: str) -> bool:
        return self.db.one("SELECT 1 FROM revoked_tokens WHERE token_id = ?", (token_id,)) is not None

    def token_holder(self, token_id: str, user_id: str, tenant_id: str) -> tuple[bool, Principal | None]:
        """Whether the token was revoked, and its holder as they are now (as `principal`): the two
        checks of every request made with an access token, in one statement."""
        row = self.db.one(
            "SELECT (SELECT 1 FROM revoked_tokens WHERE token_id = ?),"
            " (SELECT email FROM users WHERE user_id = ? AND tenant_id = ? AND password_hash <> ?),"
            " (SELECT roles FROM users WHERE user_id = ? AND tenant_id = ? AND password_hash <> ?)",
            (token_id, user_id, tenant_id, INVITED, user_id, tenant_id, INVITED),
        )
        revoked, email, roles = row if row is not None else (None, None, None)
        if email is None:
            return revoked is not None, None
        return revoked is not None, Principal(user_id, tenant_id, str(email), tuple(json.loads(roles)))

    # -- tenants and users -----------------------------------------------------------------------

    def create_tenant_with_owner(self, tenant_id: str, name: str, user_id: str, email: str, password_hash: str) -> None:
        with _email_taken_as_duplicate(email), self.db.transaction() as tx:
            if tx.one("SELECT 1 FROM users WHERE email = ? AND password_hash <> ?", (email, INVITED)):
                raise DuplicateEmail(email)
            tx.execute("INSERT INTO tenants VALUES (?, ?, ?)", (tenant_id, name, now_iso()))
            tx.execute(
                "INSERT INTO users VALUES (?, ?, ?, ?, ?, ?)",
                (user_id, tenant_id, email, password_hash, json.dumps(["owner"]), now_iso()),
            )

    def user_by_email(self, email: str) -> dict[str, Any] | None:
        row = self.db.one(
            "SELECT user_id, tenant_id, email, password_hash, roles FROM users WHERE email = ? AND password_hash <> ?",
            (email, INVITED),
        )
        if row is None:
            return None
        return {
            "user_id": row[0],
            "tenant_id": row[1],
            "email": row[2],
            "password_hash": row[3],
            "roles": json.loads(row[4]),
        }

    def tenant_name(self, tenant_id: str) -> str | None:
        row = self.db.one("SELECT name FROM tenants WHERE tenant_id = ?", (tenant_id,))
        return str(row[0]) if row else None

    def principal(self, user_id: str, tenant_id: str) -> Principal | None:
        """The user as they are now (current roles), if still an active member of the tenant."""
        row = self.db.one(
            "SELECT email, roles FROM users WHERE user_id = ? AND tenant_id = ? AND password_hash <> ?",
            (user_id, tenant_id, INVITED),
        )
        return None if row is None else Principal(user_id, tenant_id, str(row[0]), tuple(json.loads(row[1])))

    # -- members -----------------------------------------------------------------------------------

    def invite_member(
        self,
        tenant_id: str,
        user_id: str,
        email: str,
        role: str,
        invite_hash: str,
        expires_at: float,
        acting_role: str | None,
    ) -> dict[str, Any]:
        if not permissions.may_assign(acting_role, role):
            raise RoleTooHigh(f"a {acting_role} cannot make someone {role}")
        with _email_taken_as_duplicate(email), self.db.transaction() as tx:
            # Only this tenant's members: whether the address has an account elsewhere is not
            # this tenant's to learn, nor to block.
            if tx.one("SELECT 1 FROM users WHERE email = ? AND tenant_id = ?", (email, tenant_id)):
                raise DuplicateEmail(email)
            tx.execute(
                "INSERT INTO users VALUES (?, ?, ?, ?, ?, ?)",
                (user_id, tenant_id, email, INVITED, json.dumps([role]), now_iso()),
            )
            tx.execute("INSERT INTO invites VALUES (?, ?, ?, ?)", (invite_hash, user_id, tenant_id, expires_at))
        member = self.member(tenant_id, user_id)
        assert member is not None
        return member

    def accept_invite(self, invite_hash: str, password_hash: str, now: float) -> Principal | None:
        """Set the invited member's password; the invite is spent whether or not it was still valid.

        Raises DuplicateEmail when the address has become an account meanwhile (signed up or
        accepted another tenant's invitation first)."""
        with self.db.transaction() as tx:
            row = tx.one("SELECT user_id, tenant_id, expires_at FROM invites WHERE invite_hash = ?", (invite_hash,))
            if row is None or tx.execute("DELETE FROM invites WHERE invite_hash = ?", (invite_hash,)) != 1:
                return None
            user_id, tenant_id, expires_at = str(row[0]), str(row[1]), float(row[2])
            if expires_at <= now:
                return None
            taken = tx.one(
                "SELECT 1 FROM users u JOIN users me ON me.user_id = ? AND me.email = u.email"
                " WHERE u.user_id <> me.user_id AND u.password_hash <> ?",
                (user_id, INVITED),
            )
            if not taken:
                with _email_taken_as_duplicate(user_id):
                    tx.execute(
                        "UPDATE users SET password_hash = ? WHERE user_id = ? AND tenant_id = ? AND password_hash = ?",
                        (password_hash, user_id, tenant_id, INVITED),
                    )
        if taken:
            raise DuplicateEmail("the invited address already has an account")
        return self.principal(user_id, tenant_id)

    def members(self, tenant_id: str, now: float) -> list[dict[str, Any]]:
        rows = self.db.query(
            "SELECT u.user_id, u.email, u.roles, u.password_hash, u.created_at, i.expires_at FROM users u"
            " LEFT JOIN invites i ON i.user_id = u.user_id WHERE u.tenant_id = ? ORDER BY u.created_at, u.user_id",
            (tenant_id,),
        )
        return [self._member(row, now) for row in rows]

    def member(self, tenant_id: str, user_id: str, now: float | None = None) -> dict[str, Any] | None:
        row = self.db.one(
            "SELECT u.user_id, u.email, u.roles, u.password_hash, u.created_at, i.expires_at FROM users u"
            " LEFT JOIN invites i ON i.user_id = u.user_id WHERE u.tenant_id = ? AND u.user_id = ?",
            (tenant_id, user_id),
        )
        return None if row is None else self._member(row, now)

    @staticmethod
    def _member(row: tuple[Any, ...], now: float | None) -> dict[str, Any]:
        user_id, email, roles, password_hash, created_at, invite_expires = row
        if password_hash != INVITED:
            status = "active"
        elif invite_expires is not None and (now is None or float(invite_expires) > now):
            status = "invited"
        else:
            status = "invite expired"
        return {
            "user_id": user_id,
            "email": email,
            "role": permissions.highest(json.loads(roles)),
            "status": status,
            "created_at": created_at,
        }

    def set_role(self, tenant_id: str, user_id: str, role: str, acting_role: str | None) -> dict[str, Any]:
        with self.db.transaction() as tx:
            owners, held = self._lock_tenant(tx, tenant_id, user_id)
            target = permissions.highest(held)
            if not permissions.may_manage(acting_role, target) or not permissions.may_assign(acting_role, role):
                raise RoleTooHigh(f"a {acting_role} cannot change a {target} into {role}")
            if target == "owner" and role != "owner" and owners <= 1:
                raise LastOwner("the tenant's last owner cannot be demoted")
            # Roles outside the tenant's ladder (platform_admin) are the operator's, not the tenant's to drop.
            kept = [r for r in held if r not in permissions.ROLES]
            tx.execute(
                "UPDATE users SET roles = ? WHERE user_id = ? AND tenant_id = ?",
                (json.dumps([role, *kept]), user_id, tenant_id),
            )
        member = self.member(tenant_id, user_id)
        assert member is not None
        return member

    def remove_member(self, tenant_id: str, user_id: str, acting_role: str | None, now: float) -> None:
        """Remove the member, revoke their API keys and drop their invite and stream tickets."""
        with self.db.transaction() as tx:
            owners, held = self._lock_tenant(tx, tenant_id, user_id)
            target = permissions.highest(held)
            if not permissions.may_manage(acting_role, target):
                raise RoleTooHigh(f"a {acting_role} cannot remove a {target}")
            if target == "owner" and owners <= 1:
                raise LastOwner("the tenant's last owner cannot be removed")
            tx.execute("DELETE FROM users WHERE user_id = ? AND tenant_id = ?", (user_id, tenant_id))
            tx.execute("DELETE FROM invites WHERE user_id = ?", (user_id,))
            tx.execute("DELETE FROM stream_tickets WHERE user_id = ?", (user_id,))
            tx.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE user_id = ? AND tenant_id = ? AND revoked_at IS NULL",
                (now, user_id, tenant_id),
            )

    def _lock_tenant(self, tx: SqlDatabase, tenant_id: str, user_id: str) -> tuple[int, list[str]]:
        """(how many owners the tenant has, the target's roles), with the tenant locked.

        Two concurrent demotions of two owners must not both see "another owner is left":
        PostgreSQL locks the tenant's row; SQLite's write transaction already excludes others.
        """
        lock = " FOR UPDATE" if tx.is_postgres else ""
        if tx.one(f"SELECT 1 FROM tenants WHERE tenant_id = ?{lock}", (tenant_id,)) is None:
            raise NoSuchMember(user_id)
        rows = tx.query("SELECT user_id, roles FROM users WHERE tenant_id = ?", (tenant_id,))
        roles: dict[str, list[str]] = {str(uid): json.loads(r) for uid, r in rows}
        if user_id not in roles:
            raise NoSuchMember(user_id)
        return sum(1 for held in roles.values() if permissions.highest(held) == "owner"), roles[user_id]
