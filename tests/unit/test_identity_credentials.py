"""API key hashing, and the identity tables: invites, keys, stream tickets (single use, expiry)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from quarry_runtime.store import SqlDatabase
from services.gateway.accounts import INVITED, AccountStore, LastOwner, NoSuchMember, RoleTooHigh
from services.gateway.credentials import Refused
from services.gateway.security import (
    API_KEY_PREFIX,
    InvalidToken,
    Principal,
    api_key_pepper,
    fingerprint,
    hash_api_key,
    new_api_key,
    new_one_time_secret,
    parse_api_key,
    verify_password,
)
from services.gateway.settings import GatewaySettings

SECRET = "a-test-secret-of-thirty-two-bytes-or-more"
NOW = 1_800_000_000.0


def test_an_api_key_round_trips_and_only_its_secret_under_this_pepper_matches() -> None:
    key_id, secret, full = new_api_key()
    assert full == f"{API_KEY_PREFIX}{key_id}_{secret}" and len(secret) >= 43
    assert parse_api_key(full) == (key_id, secret)
    pepper = api_key_pepper(SECRET)
    digest = hash_api_key(pepper, key_id, secret)
    assert secret not in digest and len(digest) == 64
    assert hash_api_key(pepper, key_id, secret) == digest
    assert hash_api_key(pepper, key_id, secret + "x") != digest
    assert hash_api_key(api_key_pepper(SECRET + "!"), key_id, secret) != digest
    # The id is part of the MAC: a hash copied to another row does not match there.
    assert hash_api_key(pepper, "0" * 16, secret) != digest


def test_a_pepper_of_its_own_keeps_api_keys_valid_across_a_jwt_secret_rotation() -> None:
    key_id, secret, _ = new_api_key()
    own = "a-pepper-of-its-own-at-least-32-characters"
    digest = hash_api_key(api_key_pepper(SECRET, own), key_id, secret)
    assert hash_api_key(api_key_pepper(SECRET + "-rotated", own), key_id, secret) == digest
    assert hash_api_key(api_key_pepper(SECRET, own + "!"), key_id, secret) != digest
    assert hash_api_key(api_key_pepper(SECRET), key_id, secret) != digest


@pytest.mark.parametrize(
    "bad",
    ["", "qk_", "qk_abc", "qk_0123456789abcdef_", "qk_zzzzzzzzzzzzzzzz_secret", "Bearer x", "qt_0123456789abcdef_s"],
)
def test_malformed_api_keys_are_refused(bad: str) -> None:
    with pytest.raises(InvalidToken):
        parse_api_key(bad)


def test_one_time_secrets_are_random_and_stored_as_fingerprints() -> None:
    a, b = new_one_time_secret("qt_"), new_one_time_secret("qt_")
    assert a != b and a.startswith("qt_")
    assert fingerprint(a) != fingerprint(b) and a not in fingerprint(a)


@pytest.fixture
def accounts(tmp_path: Path) -> Iterator[AccountStore]:
    db = SqlDatabase(GatewaySettings(data_dir=tmp_path), "gateway")
    store = AccountStore(db)
    store.create_tenant_with_owner("t1", "one", "owner1", "owner@one.test", "argon-hash")
    store.create_tenant_with_owner("t2", "two", "owner2", "owner@two.test", "argon-hash")
    yield store
    db.close()


def _member(accounts: AccountStore, user_id: str, role: str, tenant: str = "t1") -> None:
    invite = new_one_time_secret("qi_")
    accounts.invite_member(tenant, user_id, f"{user_id}@x.test", role, fingerprint(invite), NOW + 60, "owner")
    assert accounts.accept_invite(fingerprint(invite), "argon-hash", NOW) is not None


def test_an_invite_is_single_use_and_expires(accounts: AccountStore) -> None:
    invite = new_one_time_secret("qi_")
    member = accounts.invite_member("t1", "u1", "u1@x.test", "viewer", fingerprint(invite), NOW + 60, "admin")
    assert member["status"] == "invited" and member["role"] == "viewer"
    assert accounts.principal("u1", "t1") is None  # no sessions before a password is chosen
    assert not verify_password(INVITED, "anything")
    who = accounts.accept_invite(fingerprint(invite), "argon-hash", NOW)
    assert who == Principal("u1", "t1", "u1@x.test", ("viewer",))
    assert accounts.accept_invite(fingerprint(invite), "other-hash", NOW) is None

    late = new_one_time_secret("qi_")
    accounts.invite_member("t1", "u2", "u2@x.test", "member", fingerprint(late), NOW + 60, "owner")
    assert accounts.members("t1", NOW + 61)[-1]["status"] == "invite expired"
    assert accounts.accept_invite(fingerprint(late), "argon-hash", NOW + 61) is None
    assert accounts.principal("u2", "t1") is None


def test_role_changes_respect_rank_and_the_last_owner(accounts: AccountStore) -> None:
    with pytest.raises(RoleTooHigh):
        accounts.invite_member("t1", "x", "x@x.test", "owner", "h", NOW + 60, "admin")
    _member(accounts, "adm", "admin")
    _member(accounts, "mem", "member")
    with pytest.raises(RoleTooHigh):
        accounts.set_role("t1", "mem", "owner", "admin")
    with pytest.raises(RoleTooHigh):
        accounts.set_role("t1", "owner1", "viewer", "admin")
    with pytest.raises(RoleTooHigh):
        accounts.remove_member("t1", "owner1", "admin", NOW)
    assert accounts.set_role("t1", "mem", "admin", "admin")["role"] == "admin"
    with pytest.raises(LastOwner):
        accounts.set_role("t1", "owner1", "admin", "owner")
    with pytest.raises(LastOwner):
        accounts.remove_member("t1", "owner1", "owner", NOW)
    accounts.set_role("t1", "adm", "owner", "owner")
    assert accounts.set_role("t1", "owner1", "viewer", "owner")["role"] == "viewer"
    with pytest.raises(NoSuchMember):
        accounts.set_role("t2", "adm", "viewer", "owner")  # another tenant's member is not found
    with pytest.raises(NoSuchMember):
        accounts.remove_member("t1", "owner2", "owner", NOW)


def test_an_operators_platform_role_survives_a_role_change(accounts: AccountStore) -> None:
    accounts.db.execute("UPDATE users SET roles = ? WHERE user_id = ?", ('["owner", "platform_admin"]', "owner2"))
    _member(accounts, "second", "owner", tenant="t2")
    accounts.set_role("t2", "owner2", "member", "owner")
    who = accounts.principal("owner2", "t2")
    assert who is not None and who.roles == ("member", "platform_admin")


def _key(accounts: AccountStore, who: Principal, scopes: set[str], expires_at: float | None = None) -> tuple[str, str]:
    key_id, secret, _ = new_api_key()
    pepper = api_key_pepper(SECRET)
    accounts.create_key(who, key_id, "k", frozenset(scopes), hash_api_key(pepper, key_id, secret), expires_at)
    return key_id, hash_api_key(pepper, key_id, secret)


def test_a_key_acts_as_its_creator_now_and_stops_when_revoked_expired_or_orphaned(accounts: AccountStore) -> None:
    _member(accounts, "adm", "admin")
    creator = accounts.principal("adm", "t1")
    assert creator is not None
    key_id, digest = _key(accounts, creator, {"runs:read", "runs:create"}, expires_at=NOW + 100)
    who = accounts.authenticate_key(key_id, digest, NOW)
    assert who.key_id == key_id and who.permissions == {"runs:read", "runs:create"}
    assert accounts.keys("t1", NOW)[0]["last_used_at"] is not None
    with pytest.raises(Refused, match="invalid"):
        accounts.authenticate_key(key_id, "0" * 64, NOW)
    with pytest.raises(Refused, match="invalid"):
        accounts.authenticate_key("f" * 16, digest, NOW)
    with pytest.raises(Refused, match="expired"):
        accounts.authenticate_key(key_id, digest, NOW + 100)

    accounts.set_role("t1", "adm", "viewer", "owner")
    assert accounts.authenticate_key(key_id, digest, NOW).permissions == {"runs:read"}

    assert not accounts.revoke_key("t2", key_id, NOW)  # another tenant cannot revoke it
    assert accounts.revoke_key("t1", key_id, NOW)
    with pytest.raises(Refused, match="revoked"):
        accounts.authenticate_key(key_id, digest, NOW)
    assert accounts.keys("t1", NOW)[0]["status"] == "revoked"
    assert accounts.keys("t2", NOW) == []

    other_id, other_digest = _key(accounts, creator, {"runs:read"})
    accounts.remove_member("t1", "adm", "owner", NOW)
    with pytest.raises(Refused):
        accounts.authenticate_key(other_id, other_digest, NOW)


def test_listed_keys_hold_no_secret_material(accounts: AccountStore) -> None:
    owner = accounts.principal("owner1", "t1")
    assert owner is not None
    _, digest = _key(accounts, owner, {"runs:read"})
    listed = str(accounts.keys("t1", NOW))
    assert digest not in listed and "secret" not in listed


def test_a_stream_ticket_is_single_use_bound_to_its_run_and_expires(accounts: AccountStore) -> None:
    owner = accounts.principal("owner1", "t1")
    assert owner is not None
    ticket = fingerprint(new_one_time_secret("qt_"))
    accounts.issue_stream_ticket(ticket, owner, "run-a", NOW + 60, NOW)
    assert accounts.consume_stream_ticket(ticket, "run-a", NOW + 1) == owner
    assert accounts.consume_stream_ticket(ticket, "run-a", NOW + 2) is None

    elsewhere = fingerprint(new_one_time_secret("qt_"))
    accounts.issue_stream_ticket(elsewhere, owner, "run-a", NOW + 60, NOW)
    assert accounts.consume_stream_ticket(elsewhere, "run-b", NOW + 1) is None
    assert accounts.consume_stream_ticket(elsewhere, "run-a", NOW + 1) is None  # spent by the wrong use

    late = fingerprint(new_one_time_secret("qt_"))
    accounts.issue_stream_ticket(late, owner, "run-a", NOW + 60, NOW)
    assert accounts.consume_stream_ticket(late, "run-a", NOW + 60) is None


def test_unused_tickets_are_swept_and_a_removed_users_tickets_die(accounts: AccountStore) -> None:
    owner = accounts.principal("owner1", "t1")
    assert owner is not None
    for _ in range(3):
        accounts.issue_stream_ticket(fingerprint(new_one_time_secret("qt_")), owner, "r", NOW + 60, NOW)
    accounts.issue_stream_ticket(fingerprint(new_one_time_secret("qt_")), owner, "r", NOW + 200, NOW + 100)
    assert accounts.db.one("SELECT COUNT(*) FROM stream_tickets") == (1,)

    _member(accounts, "mem", "member")
    member = accounts.principal("mem", "t1")
    assert member is not None
    ticket = fingerprint(new_one_time_secret("qt_"))
    accounts.issue_stream_ticket(ticket, member, "r", NOW + 60, NOW)
    accounts.remove_member("t1", "mem", "owner", NOW)
    assert accounts.consume_stream_ticket(ticket, "r", NOW) is None


def test_a_ticket_issued_through_a_key_dies_with_the_key(accounts: AccountStore) -> None:
    owner = accounts.principal("owner1", "t1")
    assert owner is not None
    key_id, digest = _key(accounts, owner, {"runs:read"})
    through_key = accounts.authenticate_key(key_id, digest, NOW)
    ticket = fingerprint(new_one_time_secret("qt_"))
    accounts.issue_stream_ticket(ticket, through_key, "r", NOW + 60, NOW)
    accounts.revoke_key("t1", key_id, NOW)
    assert accounts.consume_stream_ticket(ticket, "r", NOW) is None
