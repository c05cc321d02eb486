"""Platform roles on accounts (granted, revoked, audited, kept apart from tenant membership), the
definition of a consumer's lag, and JetStream's times as the ops views read them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from contracts import subjects
from contracts.consumers import CONSUMERS
from quarry_runtime.store import SqlDatabase
from quarry_security import natsauth
from services.gateway.accounts import INVITED
from services.gateway.adapters.jetstream_state import ConsumerConfig, StreamInfo
from services.gateway.adapters.operators import NoSuchAccount
from services.gateway.adapters.platform_audit import PlatformActor
from services.gateway.api.ops_access import READABLE_STREAMS
from services.gateway.domain.bus_lag import lag_seconds, oldest_pending_seq, service_of
from services.gateway.readmodels.store import GatewayStore
from services.gateway.settings import GatewaySettings

NOW = 1_800_000_000.0
CLI = PlatformActor(name="cli:ops@host", source_address="cli")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[GatewayStore]:
    db = SqlDatabase(GatewaySettings(data_dir=tmp_path), "gateway")
    store = GatewayStore(db)
    store.accounts.create_tenant_with_owner("t1", "acme", "owner1", "ann@example.com", "hash")
    store.accounts.invite_member("t1", "inv1", "ivy@example.com", "admin", "invite-hash", NOW + 60, "owner")
    yield store
    db.close()


def test_a_grant_adds_the_platform_role_beside_the_tenant_role_and_is_audited(store: GatewayStore) -> None:
    change = store.operators.grant("Ann@Example.com ", "platform_operator", CLI)

    assert (change.before, change.after, change.changed) == ((), ("platform_operator",), True)
    who = store.accounts.principal("owner1", "t1")
    assert who is not None and who.roles == ("owner", "platform_operator") and who.role == "owner"
    assert who.can("ops:read") and not who.can("policy:publish")
    [entry] = store.platform_audit.entries()
    assert (entry["kind"], entry["target"], entry["actor"]["name"]) == ("operator.granted", "owner1", "cli:ops@host")
    assert entry["detail"] == {
        "email": "ann@example.com",
        "role": "platform_operator",
        "before": [],
        "after": ["platform_operator"],
    }


def test_granting_a_role_already_held_changes_and_logs_nothing(store: GatewayStore) -> None:
    store.operators.grant("ann@example.com", "platform_admin", CLI)
    again = store.operators.grant("ann@example.com", "platform_admin", CLI)
    assert not again.changed and again.after == ("platform_admin",)
    assert len(store.platform_audit.entries()) == 1


def test_revoking_takes_one_role_or_all_and_leaves_the_tenant_role(store: GatewayStore) -> None:
    store.operators.grant("ann@example.com", "platform_operator", CLI)
    store.operators.grant("ann@example.com", "platform_admin", CLI)
    assert store.operators.revoke("ann@example.com", CLI, "platform_admin").after == ("platform_operator",)
    assert store.operators.revoke("ann@example.com", CLI).after == ()
    who = store.accounts.principal("owner1", "t1")
    assert who is not None and who.roles == ("owner",) and not who.can("ops:read")
    kinds = [e["kind"] for e in store.platform_audit.entries()]
    assert kinds == ["operator.granted", "operator.granted", "operator.revoked", "operator.revoked"]
    assert store.operators.holders() == []


def test_only_an_active_account_gets_a_platform_role_and_only_a_platform_role(store: GatewayStore) -> None:
    with pytest.raises(NoSuchAccount):
        store.operators.grant("ivy@example.com", "platform_operator", CLI)  # invited, no password yet
    with pytest.raises(NoSuchAccount):
        store.operators.grant("nobody@example.com", "platform_operator", CLI)
    with pytest.raises(ValueError, match="no platform role"):
        store.operators.grant("ann@example.com", "owner", CLI)
    assert store.platform_audit.entries() == []
    row = store.db.one("SELECT roles FROM users WHERE user_id = 'inv1' AND password_hash = ?", (INVITED,))
    assert row is not None and row[0] == '["admin"]'


def test_tenant_member_management_neither_shows_nor_drops_a_platform_role(store: GatewayStore) -> None:
    store.accounts.create_tenant_with_owner("t2", "beta", "owner2", "bob@example.com", "hash")
    store.accounts.invite_member("t2", "ann2", "ann2@example.com", "admin", "h2", NOW + 60, "owner")
    store.accounts.accept_invite("h2", "hash", NOW)
    store.operators.grant("ann2@example.com", "platform_admin", CLI)

    assert store.accounts.set_role("t2", "ann2", "member", "owner")["role"] == "member"
    assert [m["role"] for m in store.accounts.members("t2", NOW)] == ["owner", "member"]
    who = store.accounts.principal("ann2", "t2")
    assert who is not None and who.roles == ("member", "platform_admin")
    assert store.operators.holders() == [
        {"email": "ann2@example.com", "user_id": "ann2", "tenant_id": "t2", "roles": ["platform_admin"]}
    ]


def test_lag_is_the_age_of_the_oldest_unacknowledged_message_and_zero_when_caught_up() -> None:
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    oldest = now - timedelta(seconds=42)
    assert lag_seconds(now, 3, 1, oldest) == 42.0
    assert lag_seconds(now, 0, 1, oldest) == 42.0  # delivered, not yet acknowledged: still owed
    assert lag_seconds(now, 0, 0, oldest) == 0.0
    assert lag_seconds(now, 0, 0, None) == 0.0
    assert lag_seconds(now, 2, 0, None) is None  # owed but unreadable: unknown, never "caught up"
    assert lag_seconds(now, 1, 0, now + timedelta(seconds=1)) == 0.0  # clocks a little apart
    assert oldest_pending_seq(0) == 1 and oldest_pending_seq(41) == 42


def test_every_declared_durable_consumer_has_its_service() -> None:
    for service, consumers in CONSUMERS.items():
        for consumer in consumers:
            assert service_of(consumer.durable) == service
    assert service_of("gateway-catchup-runs") == "gateway"
    assert service_of("someone-elses") is None


def test_jetstreams_times_are_read_to_the_microsecond_and_its_zero_time_is_none() -> None:
    info = StreamInfo.model_validate(
        {
            "config": {"name": "QUARRY", "subjects": ["run.>"], "max_age": 0, "num_replicas": 3},
            "state": {
                "messages": 2,
                "bytes": 10,
                "first_seq": 1,
                "first_ts": "2026-12-06T22:51:37.123456789Z",
                "last_seq": 2,
                "last_ts": "0001-01-01T00:00:00Z",
                "consumer_count": 0,
                "unknown": True,
            },
        }
    )
    assert info.state.first_ts == datetime(2026, 12, 6, 22, 51, 37, 123456, tzinfo=UTC)
    assert info.state.last_ts is None and info.config.num_replicas == 3
    assert ConsumerConfig().filters() == [">"]
    assert ConsumerConfig(filter_subject="run.>").filters() == ["run.>"]
    assert ConsumerConfig(filter_subjects=["a.b", "c.d"]).filters() == ["a.b", "c.d"]


def test_the_ops_user_lists_and_gets_by_sequence_only_what_the_console_reads() -> None:
    ops = natsauth.permissions(natsauth.OPS)
    allowed = set(ops.publish)
    for stream in READABLE_STREAMS:
        assert f"$JS.API.DIRECT.GET.{stream}" in allowed or f"$JS.API.STREAM.MSG.GET.{stream}" in allowed
    reads = {p for p in allowed if p.startswith("$")}
    assert reads == set(natsauth.OPS_READS) and {"$JS.API.STREAM.LIST", "$JS.API.CONSUMER.LIST.*"} <= reads
    # No consumer made, nothing acknowledged, no stream described with its subjects.
    assert all(p.startswith("$JS.API.") and "CREATE" not in p and ".INFO." not in p for p in reads)
    # Its only publishes: the event stream's own subjects, where a platform admin's redrive goes.
    assert allowed - reads == set(subjects.STREAM_SUBJECTS) == set(natsauth.OPS_REDRIVES)
    assert ops.subscribe == ("_INBOX_ops.>",) and not ops.responds
    # The gateway's own service user gained none of its reads.
    assert reads.isdisjoint(natsauth.permissions("gateway").publish)
    assert f"$JS.API.DIRECT.GET.{subjects.STREAM}" not in natsauth.permissions("gateway").publish


def test_the_ops_user_and_its_password_go_together(tmp_path: Path) -> None:
    password = tmp_path / "ops.password"
    password.write_text("from-a-file\n")
    with_file = GatewaySettings(data_dir=tmp_path, ops_nats_user="ops", ops_nats_password_file=password)
    assert with_file.ops_nats_credentials() == ("ops", "from-a-file")
    assert GatewaySettings(data_dir=tmp_path).ops_nats_credentials() is None
    with pytest.raises(ValueError, match="go together"):
        GatewaySettings(data_dir=tmp_path, ops_nats_user="ops")
    with pytest.raises(ValueError, match="go together"):
        GatewaySettings(data_dir=tmp_path, ops_nats_password="secret")
    with pytest.raises(ValueError, match="not both"):
        GatewaySettings(data_dir=tmp_path, ops_nats_user="ops", ops_nats_password="x", ops_nats_password_file=password)
