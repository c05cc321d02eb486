"""Roles of a tenant and what each may do: the one table every route is checked against.

Roles are nested (each has everything of the roles below it), so each permission names the
lowest role that holds it. Owner and admin hold the same permissions; they differ in rank
only: nobody may grant a role above their own or manage someone who outranks them, and the
last owner of a tenant stays an owner.

`platform_admin` is no tenant role: an operator adds it to a user in the gateway's store (the
API never grants it), and it adds only what the platform's own administration needs.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

ROLES = ("viewer", "member", "admin", "owner")  # lowest first
_RANK = {role: rank for rank, role in enumerate(ROLES)}


@dataclass(frozen=True)
class Permission:
    lowest_role: str | None  # None: no tenant role holds it
    what: str


PERMISSIONS: dict[str, Permission] = {
    "runs:read": Permission("viewer", "list runs; read a run, its events (SSE), state, log and reports"),
    "runs:create": Permission("member", "request research runs"),
    "runs:cancel": Permission("member", "cancel runs the caller requested"),
    "runs:cancel_any": Permission("admin", "cancel any run of the tenant"),
    "runs:approve": Permission("admin", "approve or reject what a waiting run asks for"),
    "runs:share": Permission("member", "share a run's finished report through a read-only link, revoke such links"),
    "runs:review_plan": Permission(
        "member",
        "continue (with edited sub-questions) or cancel a run waiting for its plan's review, if requested by the caller",
    ),
    "runs:ask": Permission("member", "ask follow-up questions about a completed run (metered, so not a viewer's)"),
    "documents:read": Permission("viewer", "list the tenant's documents"),
    "documents:write": Permission("member", "upload documents into the tenant's corpus"),
    "datasets:read": Permission("viewer", "list datasets, their documents and how far their indexing has got"),
    "datasets:write": Permission("member", "create and delete datasets, upload documents into them"),
    "monitors:read": Permission("viewer", "list and read monitors"),
    "monitors:write": Permission("member", "create, pause, resume and delete monitors"),
    "templates:read": Permission("viewer", "list and read research templates"),
    # Members, not only admins: a template only presets what a member may ask of a run anyway.
    "templates:write": Permission("member", "create, change and delete research templates"),
    "settings:read": Permission("viewer", "read the tenant's settings"),
    "settings:write": Permission("admin", "change the tenant's settings"),
    "model:read": Permission("admin", "see which model endpoint serves the tenant (never its API key)"),
    "model:write": Permission("admin", "set or remove the tenant's own model endpoint and its API key"),
    "members:read": Permission("admin", "list the tenant's members"),
    "members:write": Permission("admin", "invite members, change their role, remove them"),
    "keys:read": Permission("admin", "list the tenant's API keys"),
    "keys:write": Permission("admin", "create and revoke API keys"),
    "policy:read": Permission("admin", "simulate policy decisions; list the tenant's decisions and policy versions"),
    "policy:publish": Permission(None, "read policy files and publish policy sets (they apply to every tenant)"),
    "billing:read": Permission("admin", "read the tenant's credits: summary, ledger, budget tier"),
    "billing:write": Permission("admin", "buy plans and credit packs (checkout), open the customer portal"),
    "audit:read": Permission(
        "admin", "read the tenant's audit log: who changed members, keys, settings, model, policy, billing"
    ),
}
PLATFORM_ROLES: dict[str, frozenset[str]] = {"platform_admin": frozenset({"policy:read", "policy:publish"})}

# A key must not be able to mint keys or grant roles: a leaked key would then outlive its
# own revocation through the keys or accounts it created.
# Platform administration is done in person, never by a key.
# An API key may not grant these: making keys or members, publishing policy, or pointing the
# tenant's model (and with it every question and passage) at another endpoint.
KEY_SCOPES = frozenset(PERMISSIONS) - {"keys:write", "members:write", "policy:publish", "model:write"}


def rank(role: str) -> int:
    """The role's rank; an unknown role ranks below every real one."""
    return _RANK.get(role, -1)


def highest(roles: Iterable[str]) -> str | None:
    known = [role for role in roles if role in _RANK]
    return max(known, key=rank) if known else None


def granted(roles: Iterable[str]) -> frozenset[str]:
    """Everything the roles allow."""
    roles = list(roles)
    top = highest(roles)
    ladder = (name for name, p in PERMISSIONS.items() if top and p.lowest_role and rank(p.lowest_role) <= rank(top))
    return frozenset(ladder).union(*(PLATFORM_ROLES.get(role, frozenset()) for role in roles))


def effective(roles: Iterable[str], scopes: Iterable[str] | None) -> frozenset[str]:
    """What a caller may do: its roles' permissions, narrowed by an API key's scopes if it uses one.

    The roles are the user's current ones, so a demoted user's keys lose power with them.
    """
    return _effective(tuple(roles), None if scopes is None else frozenset(scopes))


@functools.lru_cache(maxsize=1024)
def _effective(roles: tuple[str, ...], scopes: frozenset[str] | None) -> frozenset[str]:
    # Every request's permission check asks this; the tables are fixed, so each answer is too.
    allowed = granted(roles)
    return allowed if scopes is None else allowed & scopes


def may_assign(actor_role: str | None, role: str) -> bool:
    """Whether someone of `actor_role` may give `role` to anyone (themselves included)."""
    return actor_role is not None and role in _RANK and rank(role) <= rank(actor_role)


def may_manage(actor_role: str | None, target_role: str | None) -> bool:
    """Whether someone of `actor_role` may change or remove a member holding `target_role`."""
    return actor_role is not None and rank(target_role or "") <= rank(actor_role)


def table() -> list[dict[str, object]]:
    """The permission table as rows (for docs and tests): permission, roles that hold it, what."""
    rows: list[dict[str, object]] = []
    for name, p in PERMISSIONS.items():
        holders = [r for r in ROLES if p.lowest_role and rank(r) >= rank(p.lowest_role)]
        holders += [r for r, extra in PLATFORM_ROLES.items() if name in extra]
        rows.append({"permission": name, "roles": holders, "what": p.what})
    return rows
