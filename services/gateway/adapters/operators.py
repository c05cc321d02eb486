"""Platform roles on accounts: granted and revoked by a person at the command line, each change
in the platform's audit log in the same transaction.

A platform role is kept in the account's role list beside its tenant role (every request reads
the roles afresh, so a grant or a revocation applies to the holder's next request, whatever
tokens they hold). Tenant member management keeps the roles it does not know (see
`AccountStore.set_role`), and shows only the tenant role.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from quarry_runtime.store import SqlDatabase
from services.gateway.accounts import INVITED
from services.gateway.adapters.platform_audit import PlatformActor, PlatformAudit
from services.gateway.domain.permissions import PLATFORM_ROLES, platform_roles
from services.gateway.errors import NotFound


class NoSuchAccount(NotFound):
    """No active account has this email (an invitation not yet accepted is no account)."""


@dataclass(frozen=True)
class RoleChange:
    email: str
    user_id: str
    tenant_id: str
    before: tuple[str, ...]  # the platform roles held before, lowest first
    after: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return self.before != self.after


class OperatorRoles:
    def __init__(self, db: SqlDatabase, audit: PlatformAudit) -> None:
        self.db, self.audit = db, audit

    def grant(self, email: str, role: str, actor: PlatformActor) -> RoleChange:
        """Give the account `role` (a platform role). Granting one already held changes nothing and
        leaves no entry: the log holds changes."""
        _check(role)
        return self._change(email, actor, "operator.granted", lambda held: {*held, role}, role)

    def revoke(self, email: str, actor: PlatformActor, role: str | None = None) -> RoleChange:
        """Take `role` from the account, or every platform role it holds when `role` is None."""
        if role is not None:
            _check(role)
        dropped = set(PLATFORM_ROLES) if role is None else {role}
        return self._change(email, actor, "operator.revoked", lambda held: set(held) - dropped, role)

    def holders(self) -> list[dict[str, Any]]:
        """Every active account holding a platform role: email, user, tenant and those roles."""
        rows = self.db.query(
            "SELECT email, user_id, tenant_id, roles FROM users WHERE password_hash <> ? AND roles LIKE ?"
            " ORDER BY email",
            (INVITED, "%platform_%"),
        )
        found = [(str(e), str(u), str(t), platform_roles(json.loads(r))) for e, u, t, r in rows]
        return [{"email": e, "user_id": u, "tenant_id": t, "roles": list(held)} for e, u, t, held in found if held]

    def _change(
        self,
        email: str,
        actor: PlatformActor,
        kind: str,
        wanted: Callable[[tuple[str, ...]], Iterable[str]],
        asked: str | None,
    ) -> RoleChange:
        email = email.strip().lower()
        with self.db.transaction() as tx:
            lock = " FOR UPDATE" if tx.is_postgres else ""
            row = tx.one(
                f"SELECT user_id, tenant_id, roles FROM users WHERE email = ? AND password_hash <> ?{lock}",
                (email, INVITED),
            )
            if row is None:
                raise NoSuchAccount(f"no active account has the email {email}")
            user_id, tenant_id, roles = str(row[0]), str(row[1]), list(json.loads(row[2]))
            before = platform_roles(roles)
            after = platform_roles(wanted(before))
            if after != before:
                tenant_roles = [r for r in roles if r not in PLATFORM_ROLES]
                tx.execute(
                    "UPDATE users SET roles = ? WHERE user_id = ? AND tenant_id = ?",
                    (json.dumps([*tenant_roles, *after]), user_id, tenant_id),
                )
                self.audit.record(kind, actor, user_id, email=email, role=asked, before=list(before), after=list(after))
        return RoleChange(email, user_id, tenant_id, before, after)


def _check(role: str) -> None:
    if role not in PLATFORM_ROLES:
        raise ValueError(f"{role!r} is no platform role; choose from {', '.join(PLATFORM_ROLES)}")
