"""Policy set versions: switching on a published set, refusing an invalid one, and coming back after a restart."""

from __future__ import annotations

import itertools
import re
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from contracts.envelope import Actor
from contracts.ids import new_id, stable_id
from contracts.policy import (
    PolicyActivatedPayload,
    PolicyPublished,
    PolicyPublishedPayload,
    PolicyRejectedPayload,
    policy_set_version,
)
from contracts.tool import ToolDecided, ToolDecidedPayload
from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.store import SqlDatabase
from services.policy import store as store_module
from services.policy.application.decider import Decider
from services.policy.application.versions import PolicyVersions, startup_engine
from services.policy.bootstrap import PolicySettings, build
from services.policy.domain.engine import DEFAULT_POLICY_DIR, PolicyError
from services.policy.domain.policyset import PolicyFiles
from services.policy.domain.registry import DEFAULT_REGISTRY
from services.policy.store import SHIPPED, PolicyStore
from tests.support.policy import fetch_request

FETCH_FOR_ALL = (
    '@id("fetch-for-everyone")\n'
    'permit (principal, action == Quarry::Action::"invoke_tool", resource == Quarry::Tool::"fetch_url");\n'
)


@pytest.fixture
def settings(tmp_path: Path) -> RuntimeSettings:
    return RuntimeSettings(data_dir=tmp_path / "data")


@pytest.fixture
def store(settings: RuntimeSettings) -> Iterator[PolicyStore]:
    s = PolicyStore(SqlDatabase(settings, "policy"))
    yield s
    s.close()


def shipped() -> PolicyFiles:
    return PolicyFiles.from_directory(DEFAULT_POLICY_DIR, DEFAULT_REGISTRY)


_PUBLICATIONS = itertools.count()


def published(files: dict[str, str], *, version: str | None = None) -> PolicyPublished:
    # Ids a millisecond apart: two UUIDv7s made within the same millisecond are not ordered.
    n = next(_PUBLICATIONS)
    return PolicyPublished.create(
        PolicyPublishedPayload(version=version or policy_set_version(files), files=files, comment="test"),
        tenant_id="platform",
        actor=Actor(user_id="admin-1", roles=["platform_admin"]),
        event_id=stable_id(f"publication-{n}", int(time.time() * 1000) + n),
    )


def with_fetch_for_all() -> dict[str, str]:
    return {**shipped().files, "extra.cedar": FETCH_FOR_ALL}


def free_fetch(decider: Decider) -> tuple[str, str]:
    request = fetch_request(role="member")
    verdict = decider.engine.decide(request, tenant_id="acme", agent="a", user_id="u", hour_utc=12)
    return verdict.decision, verdict.version


def test_the_first_start_activates_the_shipped_set(store: PolicyStore) -> None:
    engine = startup_engine(store, shipped())

    assert engine.version == shipped().version == store.active_version()
    (info,) = store.versions()
    assert (info.version, info.status, info.published_by) == (engine.version, "active", SHIPPED)


def test_a_published_set_is_switched_in_without_restart(store: PolicyStore) -> None:
    decider = Decider(startup_engine(store, shipped()))
    versions = PolicyVersions(store, decider)
    before = decider.version
    assert free_fetch(decider) == ("deny", before)

    outcome = versions.apply(published(with_fetch_for_all()))

    assert isinstance(outcome, PolicyActivatedPayload)
    assert outcome.previous_version == before and outcome.version == policy_set_version(with_fetch_for_all())
    assert decider.version == outcome.version == store.active_version()
    assert free_fetch(decider) == ("allow", outcome.version)  # the decision names the version it used
    statuses = {v.version: (v.status, v.published_by) for v in store.versions()}
    assert statuses == {before: ("superseded", SHIPPED), outcome.version: ("active", "admin-1")}


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        ({**shipped().files, "broken.cedar": '@id("b")\npermit (principal, action resource);'}, r"broken\.cedar"),
        ({k: v for k, v in shipped().files.items() if k != "registry.yaml"}, "missing registry.yaml"),
        ({**shipped().files, "registry.yaml": "format: 1\ntools: {}\n"}, "invalid registry"),
        ({**shipped().files, "notes.txt": "hello"}, r"unexpected files \['notes.txt'\]"),
        (
            {**shipped().files, "soft/loose.cedar": '@id("l")\nforbid (principal, action, resource);'},
            r"\[l\] a soft policy needs @rule_id, @approval_timeout_s",
        ),
    ],
)
def test_an_invalid_set_is_refused_and_the_old_one_stays(
    store: PolicyStore, files: dict[str, str], reason: str
) -> None:
    decider = Decider(startup_engine(store, shipped()))
    versions = PolicyVersions(store, decider)
    before = decider.version

    outcome = versions.apply(published(files))

    assert isinstance(outcome, PolicyRejectedPayload)
    assert outcome.active_version == before == decider.version == store.active_version()
    assert outcome.version == policy_set_version(files)
    assert re.search(reason, outcome.reason), outcome.reason
    rejected = store.versions(outcome.version)[0]
    assert rejected.status == "rejected" and rejected.reason == outcome.reason and rejected.files == files


def test_files_that_do_not_make_the_version_they_claim_are_refused(store: PolicyStore) -> None:
    decider = Decider(startup_engine(store, shipped()))

    outcome = PolicyVersions(store, decider).apply(published(with_fetch_for_all(), version="0123456789ab"))

    assert isinstance(outcome, PolicyRejectedPayload)
    assert "not the 0123456789ab they were published as" in outcome.reason


def test_a_stale_or_redelivered_publication_changes_nothing(store: PolicyStore) -> None:
    decider = Decider(startup_engine(store, shipped()))
    versions = PolicyVersions(store, decider)
    older = published(dict(shipped().files) | {"a.cedar": FETCH_FOR_ALL.replace("fetch-for-everyone", "a")})
    newer = published(with_fetch_for_all())
    assert older.event_id < newer.event_id

    first = versions.apply(newer)
    assert isinstance(first, PolicyActivatedPayload)
    # A redelivery announces the same switch again (its reply may be what failed to publish).
    assert versions.apply(newer) == first
    assert versions.apply(older) is None
    assert decider.version == newer.payload.version


def test_rolling_back_is_publishing_the_old_files_again(store: PolicyStore) -> None:
    decider = Decider(startup_engine(store, shipped()))
    versions = PolicyVersions(store, decider)
    first = decider.version
    versions.apply(published(with_fetch_for_all()))

    outcome = versions.apply(published(dict(shipped().files)))

    assert isinstance(outcome, PolicyActivatedPayload) and outcome.version == first
    assert decider.version == first
    assert {v.version: v.status for v in store.versions()}[policy_set_version(with_fetch_for_all())] == "superseded"


def test_a_restart_comes_back_on_the_published_version(settings: RuntimeSettings) -> None:
    first = PolicyStore(SqlDatabase(settings, "policy"))
    decider = Decider(startup_engine(first, shipped()))
    PolicyVersions(first, decider).apply(published(with_fetch_for_all()))
    first.close()

    again = PolicyStore(SqlDatabase(settings, "policy"))
    engine = startup_engine(again, shipped())

    assert engine.version == policy_set_version(with_fetch_for_all()) != shipped().version
    again.close()


def test_new_shipped_files_replace_shipped_ones_but_not_a_published_version(
    settings: RuntimeSettings, tmp_path: Path
) -> None:
    store = PolicyStore(SqlDatabase(settings, "policy"))
    startup_engine(store, shipped())
    newer_dir = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, newer_dir)
    (newer_dir / "tiers.cedar").write_text((newer_dir / "tiers.cedar").read_text() + "\n// reviewed\n")
    newer = PolicyFiles.from_directory(newer_dir, DEFAULT_REGISTRY)

    assert startup_engine(store, newer).version == newer.version  # a deploy of new files takes effect

    decider = Decider(startup_engine(store, newer))
    PolicyVersions(store, decider).apply(published(with_fetch_for_all()))
    assert startup_engine(store, newer).version == policy_set_version(with_fetch_for_all())  # a person's choice stays
    store.close()


def test_an_invalid_shipped_set_stops_the_service_even_with_a_good_stored_version(
    settings: RuntimeSettings, tmp_path: Path
) -> None:
    store = PolicyStore(SqlDatabase(settings, "policy"))
    decider = Decider(startup_engine(store, shipped()))
    PolicyVersions(store, decider).apply(published(with_fetch_for_all()))
    store.close()
    bad = tmp_path / "bad"
    shutil.copytree(DEFAULT_POLICY_DIR, bad)
    (bad / "broken.cedar").write_text(
        '@id("broken")\npermit (principal, action, resource) when { resource.teir == "x" };'
    )

    with pytest.raises(PolicyError, match="broken"):
        build(PolicySettings(policy_dir=bad, data_dir=settings.data_dir))


def test_another_replica_follows_a_switch_through_the_shared_store(store: PolicyStore) -> None:
    one = Decider(startup_engine(store, shipped()))
    two = Decider(startup_engine(store, shipped()))
    versions_two = PolicyVersions(store, two)

    assert versions_two.reload() is False
    PolicyVersions(store, one).apply(published(with_fetch_for_all()))
    assert two.version != one.version

    assert versions_two.reload() is True
    assert two.version == one.version
    assert free_fetch(two)[0] == "allow"


# -- the decisions kept for admins --------------------------------------------------------------


def decided(tenant: str, tool: str = "web_search", at: int = 0) -> ToolDecided:
    event = ToolDecided.create(
        ToolDecidedPayload(
            request_id="r",
            task_id=f"task-{at}",
            tool=tool,
            decision="deny",
            reasons=["forbidden by x"],
            policy_ids=["x"],
            policy_version="abc",
            evaluation_ms=0.1,
        ),
        tenant_id=tenant,
        run_id="run-1",
        actor=Actor(user_id="u", agent="quarry-policy"),
        event_id=new_id(),
    )
    return event.model_copy(update={"occurred_at": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=at)})


def test_decisions_are_kept_per_tenant_newest_first_once_each(store: PolicyStore) -> None:
    events = [decided("acme", at=i) for i in range(5)]
    for ev in [*events, events[2]]:
        store.record_decision(ev)
    store.record_decision(decided("globex"))

    found = store.recent_decisions("acme", 10)

    assert [d.task_id for d in found] == ["task-4", "task-3", "task-2", "task-1", "task-0"]
    assert found[0].reasons == ["forbidden by x"] and found[0].policy_version == "abc" and found[0].run_id == "run-1"
    assert [d.task_id for d in store.recent_decisions("acme", 2)] == ["task-4", "task-3"]
    assert len(store.recent_decisions("globex", 10)) == 1


def test_only_the_last_decisions_are_kept(store: PolicyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "DECISIONS_KEPT", 30)
    for i in range(store_module.PRUNE_EVERY):
        store.record_decision(decided("acme", at=i))

    kept = store.recent_decisions("acme", 500)

    assert len(kept) == 30 and kept[0].task_id == f"task-{store_module.PRUNE_EVERY - 1}"
