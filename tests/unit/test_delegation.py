"""Delegation tokens: signed by the orchestrator's key, verified against the published one."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest

from quarry_security.delegation import DelegationError, SigningKey, verify


@pytest.fixture
def key(tmp_path: Path) -> SigningKey:
    return SigningKey.load_or_create(tmp_path / "k.pem")


def lookup_for(*keys: SigningKey):  # type: ignore[no-untyped-def]
    table = {k.kid: k.public_pem for k in keys}

    async def lookup(kid: str) -> bytes | None:
        return table.get(kid)

    return lookup


def token(key: SigningKey, **overrides: object) -> str:
    args: dict[str, object] = {
        "agent": "quarry-orchestrator",
        "user_id": "u1",
        "tenant_id": "t1",
        "run_id": "r1",
        "scopes": {"tool:web_search"},
    }
    args.update(overrides)
    return key.issue(**args)  # type: ignore[arg-type]


async def check(key: SigningKey, tok: str | None, **overrides: object) -> object:
    args: dict[str, object] = {
        "tenant_id": "t1",
        "user_id": "u1",
        "roles": ["member"],
        "required_scope": "tool:web_search",
    }
    args.update(overrides)
    return await verify(tok, lookup_for(key), **args)  # type: ignore[arg-type]


async def test_a_valid_token_proves_the_delegation(key: SigningKey, tmp_path: Path) -> None:
    proof = await check(key, token(key))
    assert proof.agent == "quarry-orchestrator" and proof.user_id == "u1"  # type: ignore[attr-defined]
    assert SigningKey.load_or_create(tmp_path / "k.pem").kid == key.kid  # the key survives a restart
    assert (tmp_path / "k.pem").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    ("tok_overrides", "check_overrides", "reason"),
    [
        ({"now": time.time() - 3600}, {}, "expired"),
        ({"tenant_id": "t2"}, {}, "another tenant"),
        ({"user_id": "u2"}, {}, "another user"),
        ({"scopes": {"tool:web_search", "tool:fetch_url"}}, {"roles": ["viewer"]}, "wider than its user"),
        ({"scopes": {"tool:llm_generate"}}, {}, "does not cover tool:web_search"),
    ],
)
async def test_bad_tokens_are_refused_with_the_reason(
    key: SigningKey, tok_overrides: dict[str, object], check_overrides: dict[str, object], reason: str
) -> None:
    with pytest.raises(DelegationError, match=reason):
        await check(key, token(key, **tok_overrides), **check_overrides)


async def test_forged_missing_and_unknown_tokens_are_refused(key: SigningKey, tmp_path: Path) -> None:
    with pytest.raises(DelegationError, match="no delegation token"):
        await check(key, None)
    impostor = SigningKey.load_or_create(tmp_path / "other.pem")
    forged = jwt.encode(
        jwt.decode(token(key), options={"verify_signature": False}),
        impostor.private,
        algorithm="EdDSA",
        headers={"kid": key.kid},
    )
    with pytest.raises(DelegationError, match="forged"):
        await check(key, forged)
    with pytest.raises(DelegationError, match="unknown signing key"):
        await verify(
            token(impostor),
            lookup_for(key),
            tenant_id="t1",
            user_id="u1",
            roles=["member"],
            required_scope="tool:web_search",
        )
    hs256 = jwt.encode(
        {"sub": "x"}, "a-shared-secret-of-enough-length-000", algorithm="HS256", headers={"kid": key.kid}
    )
    with pytest.raises(DelegationError):
        await check(key, hs256)
