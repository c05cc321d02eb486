"""The identity tables on PostgreSQL, as two gateway replicas share them: an email becomes one
account however the replicas race, and invitations reserve nothing beyond their tenant."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest

from quarry_runtime.store import SqlDatabase
from services.gateway.accounts import AccountStore, DuplicateEmail
from services.gateway.settings import GatewaySettings

pytestmark = pytest.mark.infra


def replicas(database_url: str, tmp_path: Path) -> list[AccountStore]:
    settings = GatewaySettings(data_dir=tmp_path, database_url=database_url)
    return [AccountStore(SqlDatabase(settings, "gateway")) for _ in range(2)]


def sign_up(store: AccountStore, email: str, start: threading.Barrier, outcomes: list[str]) -> None:
    start.wait()
    try:
        store.create_tenant_with_owner(str(uuid.uuid4()), "t", str(uuid.uuid4()), email, "hash")
        outcomes.append("made")
    except DuplicateEmail:
        outcomes.append("duplicate")


def test_racing_sign_ups_of_one_email_make_one_account(database_url: str, tmp_path: Path) -> None:
    stores = replicas(database_url, tmp_path)
    for round_ in range(10):
        outcomes: list[str] = []
        start = threading.Barrier(4)
        args = [(stores[i % 2], f"race-{round_}@example.com", start, outcomes) for i in range(4)]
        threads = [threading.Thread(target=sign_up, args=a) for a in args]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["duplicate"] * 3 + ["made"], outcomes
    for store in stores:
        store.db.close()


def test_an_invitation_reserves_the_email_only_in_its_tenant(database_url: str, tmp_path: Path) -> None:
    a, b = replicas(database_url, tmp_path)
    a.invite_member("tenant-a", "u-a", "bob@example.com", "member", "invite-a", 2e9, "owner")
    b.invite_member("tenant-b", "u-b", "bob@example.com", "member", "invite-b", 2e9, "owner")
    with pytest.raises(DuplicateEmail):
        a.invite_member("tenant-a", "u-a2", "bob@example.com", "member", "invite-a2", 2e9, "owner")

    b.create_tenant_with_owner("tenant-c", "c", "u-c", "bob@example.com", "hash")

    with pytest.raises(DuplicateEmail):
        a.accept_invite("invite-a", "hash", now=1e9)
    assert a.accept_invite("invite-a", "hash", now=1e9) is None, "the invite was spent"
    found = b.user_by_email("bob@example.com")
    assert found is not None and found["tenant_id"] == "tenant-c"
    a.db.close()
    b.db.close()


def test_a_store_made_when_invitations_reserved_emails_is_migrated(database_url: str, tmp_path: Path) -> None:
    db = SqlDatabase(GatewaySettings(data_dir=tmp_path, database_url=database_url), "gateway")
    db.execute(
        "CREATE TABLE users (user_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, email TEXT NOT NULL UNIQUE,"
        " password_hash TEXT NOT NULL, roles TEXT NOT NULL, created_at TEXT NOT NULL)"
    )
    db.execute("INSERT INTO users VALUES ('u1', 't1', 'a@example.com', '!invited', '[\"member\"]', 'x')")
    accounts = AccountStore(db)

    accounts.invite_member("t2", "u2", "a@example.com", "member", "h", 2e9, "owner")

    assert len(db.query("SELECT 1 FROM users WHERE email = 'a@example.com'")) == 2
    db.close()
