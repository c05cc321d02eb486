"""The permission table: who may do what, and how API keys and rank narrow it."""

from __future__ import annotations

import itertools

import pytest

from services.gateway.domain import permissions
from services.gateway.domain.permissions import (
    KEY_SCOPES,
    PERMISSIONS,
    PLATFORM_ONLY,
    PLATFORM_PERMISSIONS,
    PLATFORM_ROLES,
    ROLES,
    effective,
    granted,
    may_assign,
    may_manage,
)
from services.gateway.security import Principal

EXPECTED = {
    "viewer": {"runs:read", "documents:read", "datasets:read", "monitors:read", "settings:read", "templates:read"},
    "member": {
        "runs:read",
        "runs:ask",
        "runs:share",
        "runs:create",
        "runs:cancel",
        "runs:review_plan",
        "documents:read",
        "documents:write",
        "datasets:read",
        "datasets:write",
        "monitors:read",
        "monitors:write",
        "settings:read",
        "templates:read",
        "templates:write",
    },
    "admin": set(PERMISSIONS) - {"policy:publish"},
    "owner": set(PERMISSIONS) - {"policy:publish"},
}


@pytest.mark.parametrize("role", ROLES)
def test_each_role_holds_exactly_its_row_of_the_table(role: str) -> None:
    assert granted([role]) == EXPECTED[role]


def test_roles_are_nested_and_viewers_only_read() -> None:
    for lower, higher in itertools.pairwise(ROLES):
        assert granted([lower]) <= granted([higher])
    assert all(p.endswith(":read") for p in granted(["viewer"]))
    assert granted(["member"]).isdisjoint({"runs:approve", "runs:cancel_any", "settings:write", "members:write"})


def test_unknown_and_missing_roles_grant_nothing() -> None:
    assert granted([]) == frozenset()
    assert granted(["superuser", "root"]) == frozenset()
    assert permissions.highest(["viewer", "nonsense", "admin"]) == "admin"


def test_platform_roles_add_only_their_own_table_and_are_nested() -> None:
    assert granted(["platform_operator"]) == {"ops:read"}
    admin = {
        "ops:read",
        "ops:payload",
        "ops:redrive",
        "ops:audit",
        "ops:replay",
        "agents:register",
        "rollouts:manage",
        "policy:read",
        "policy:publish",
    }
    assert granted(["platform_admin"]) == admin
    assert granted(["viewer", "platform_operator"]) == EXPECTED["viewer"] | {"ops:read"}
    assert granted(["viewer", "platform_admin"]) == EXPECTED["viewer"] | admin
    assert permissions.highest(["platform_admin", "platform_operator"]) is None
    for tenant_role, platform_role in itertools.product(ROLES, PLATFORM_ROLES):
        assert not may_assign(tenant_role, platform_role)
    assert set(PLATFORM_ROLES).isdisjoint(ROLES)


def test_no_tenant_role_holds_a_platform_only_permission() -> None:
    platform_only = {"ops:read", "ops:payload", "ops:redrive", "ops:audit", "ops:replay", "agents:register"}
    platform_only |= {"rollouts:manage"}
    assert platform_only | {"policy:publish"} == PLATFORM_ONLY
    for role in ROLES:
        assert granted([role]).isdisjoint(PLATFORM_ONLY)


def test_a_key_never_carries_a_platform_permission_whatever_its_scopes_say() -> None:
    assert PLATFORM_ONLY.isdisjoint(KEY_SCOPES)
    # A scope list that names one anyway (written to the store by hand) grants nothing of it.
    assert effective(["owner", "platform_admin"], {"ops:read", "policy:publish", "runs:read"}) == {"runs:read"}
    key = Principal("u", "t", "e", ("owner", "platform_operator"), frozenset({"ops:read"}), "k1")
    assert not key.can("ops:read")


def test_a_key_is_narrowed_to_its_scopes_and_to_its_creators_current_role() -> None:
    assert effective(["owner"], None) == granted(["owner"])
    assert effective(["owner"], {"runs:read", "runs:create"}) == {"runs:read", "runs:create"}
    # Demoted to viewer: the key keeps only what a viewer may still do.
    assert effective(["viewer"], {"runs:read", "runs:create"}) == {"runs:read"}
    assert effective(["owner"], {"made:up"}) == frozenset()
    key = Principal("u", "t", "e", ("admin",), frozenset({"documents:read"}), "k1")
    assert key.can("documents:read") and not key.can("runs:read") and key.role == "admin"


def test_keys_can_never_mint_keys_grant_roles_or_publish_policy() -> None:
    assert {"keys:write", "members:write", "policy:publish", "ops:read"}.isdisjoint(KEY_SCOPES)
    assert KEY_SCOPES.issubset(PERMISSIONS)


def test_nobody_grants_above_their_own_rank_or_manages_someone_above_it() -> None:
    assert may_assign("owner", "owner") and may_assign("admin", "admin") and may_assign("admin", "viewer")
    assert not may_assign("admin", "owner") and not may_assign("member", "admin")
    assert not may_assign(None, "viewer") and not may_assign("owner", "god")
    assert may_manage("admin", "member") and may_manage("admin", "admin") and may_manage("owner", "owner")
    assert not may_manage("admin", "owner") and not may_manage(None, "viewer")


def test_the_table_lists_every_permission_with_its_holders() -> None:
    rows = {row["permission"]: row["roles"] for row in permissions.table()}
    assert set(rows) == set(PERMISSIONS) | set(PLATFORM_PERMISSIONS)
    assert rows["runs:approve"] == ["admin", "owner"]
    assert rows["runs:read"] == list(ROLES)
    assert rows["policy:publish"] == ["platform_admin"]
    assert rows["policy:read"] == ["admin", "owner", "platform_admin"]
    assert rows["ops:read"] == ["platform_operator", "platform_admin"]
