"""Roles of a tenant and of the platform, and what each may do: the tables every route is checked against.

Roles are nested (each has everything of the roles below it), so each permission names the
lowest role that holds it. Owner and admin hold the same permissions; they differ in rank
only: nobody may grant a role above their own or manage someone who outranks them, and the
last owner of a tenant stays an owner.

Platform roles are no tenant roles and have a table of their own: `platform_operator` reads
what the platform runs on (streams, consumers: envelopes, never tenant content), and
`platform_admin` adds the platform's own administration (publishing policy sets). They too are
nested, and they add to whatever tenant role the user holds. They are granted from the command
line (`quarry operator grant`), never by the API, never to an API key, and no tenant's member
management shows them or drops them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

ROLES = ("viewer", "member", "admin", "owner")  # lowest first
_RANK = {role: rank for rank, role in enumerate(ROLES)}


@dataclass(frozen=True)
class Permission:
    lowest_role: str
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
    "billing:read": Permission("admin", "read the tenant's credits: summary, ledger, budget tier"),
    "billing:write": Permission("admin", "buy plans and credit packs (checkout), open the customer portal"),
    "audit:read": Permission(
        "admin", "read the tenant's audit log: who changed members, keys, settings, model, policy, billing"
    ),
}

PLATFORM_ROLES = ("platform_operator", "platform_admin")  # lowest first
_PLATFORM_RANK = {role: rank for rank, role in enumerate(PLATFORM_ROLES)}

# Each names the lowest platform role that holds it. A tenant permission may appear here too:
# a platform role then lends it whatever tenant role the user holds.
PLATFORM_PERMISSIONS: dict[str, Permission] = {
    "ops:read": Permission(
        "platform_operator",
        "see the bus: streams, durable consumers and their lag (envelopes and counts, no tenant content)",
    ),
    "ops:payload": Permission("platform_admin", "read the payloads of the bus's events and dead letters"),
    "ops:redrive": Permission("platform_admin", "redrive dead letters to their subject, or discard them"),
    "ops:replay": Permission(
        "platform_admin", "replay the event log into fresh read models and read the comparison's reports"
    ),
    "ops:audit": Permission(
        "platform_admin", "read the platform's audit log: who was made an operator, every use of the ops routes"
    ),
    "agents:register": Permission(
        "platform_admin", "register agent versions: the settings of the planner, synthesiser, answerer and ranker"
    ),
    "rollouts:manage": Permission(
        "platform_admin", "start rollouts of agent versions; pause, resume, abort and re-randomise them"
    ),
    "policy:read": Permission("platform_admin", "list policy set versions, to know what the next one replaces"),
    "policy:publish": Permission(
        "platform_admin", "read policy files and publish policy sets (they apply to every tenant)"
    ),
}

# A key must not be able to mint keys or grant roles: a leaked key would then outlive its
# own revocation through the keys or accounts it created.
# An API key may not grant these: making keys or members, or pointing the tenant's model (and
# with it every question and passage) at another endpoint.
KEY_SCOPES = frozenset(PERMISSIONS) - {"keys:write", "members:write", "model:write"}
# Platform administration and operation are done in person, never by a key, whatever its scopes say.
PLATFORM_ONLY = frozenset(PLATFORM_PERMISSIONS) - frozenset(PERMISSIONS)


def is_permission(name: str) -> bool:
    """Whether a tenant or a platform role may hold `name`."""
    return name in PERMISSIONS or name in PLATFORM_PERMISSIONS


def platform_roles(roles: Iterable[str]) -> tuple[str, ...]:
    """The platform roles among `roles`, lowest first."""
    held = set(roles)
    return tuple(role for role in PLATFORM_ROLES if role in held)


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
    ladder = {name for name, p in PERMISSIONS.items() if top and rank(p.lowest_role) <= rank(top)}
    held = platform_roles(roles)
    if held:
        ladder |= {name for name, p in PLATFORM_PERMISSIONS.items() if held[-1] in platform_roles_from(p.lowest_role)}
    return frozenset(ladder)


def effective(roles: Iterable[str], scopes: Iterable[str] | None) -> frozenset[str]:
    """What a caller may do: its roles' permissions, narrowed by an API key's scopes if it uses one.

    The roles are the user's current ones, so a demoted user's keys lose power with them.
    """
    return _effective(tuple(roles), None if scopes is None else frozenset(scopes))


@functools.lru_cache(maxsize=1024)
def _effective(roles: tuple[str, ...], scopes: frozenset[str] | None) -> frozenset[str]:
    # Every request's permission check asks this; the tables are fixed, so each answer is too.
    allowed = granted(roles)
    return allowed if scopes is None else (allowed & scopes) - PLATFORM_ONLY


def may_assign(actor_role: str | None, role: str) -> bool:
    """Whether someone of `actor_role` may give `role` to anyone (themselves included)."""
    return actor_role is not None and role in _RANK and rank(role) <= rank(actor_role)


def may_manage(actor_role: str | None, target_role: str | None) -> bool:
    """Whether someone of `actor_role` may change or remove a member holding `target_role`."""
    return actor_role is not None and rank(target_role or "") <= rank(actor_role)


def table() -> list[dict[str, object]]:
    """Both permission tables as rows (for docs and tests): permission, roles that hold it, what."""
    holders: dict[str, list[str]] = {}
    what: dict[str, str] = {}
    for name, p in PERMISSIONS.items():
        holders[name] = [r for r in ROLES if rank(r) >= rank(p.lowest_role)]
        what[name] = p.what
    for name, p in PLATFORM_PERMISSIONS.items():
        holders.setdefault(name, []).extend(r for r in PLATFORM_ROLES if r in platform_roles_from(p.lowest_role))
        what.setdefault(name, p.what)
    return [{"permission": name, "roles": roles, "what": what[name]} for name, roles in holders.items()]


def platform_roles_from(lowest: str) -> tuple[str, ...]:
    """The platform roles that hold what `lowest` holds, lowest first."""
    return PLATFORM_ROLES[_PLATFORM_RANK[lowest] :]
