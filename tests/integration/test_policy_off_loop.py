"""The policy service's bus handlers on PostgreSQL wait for the store off the event loop.

A write held up by the database (here: a table another session locked, as a slow or restarting
server would hold it) must leave the loop free for every other consumer and request, and the
handler must still end only after the write committed, since the bus acknowledges then.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from contracts import subjects
from contracts.credits import CreditsGranted, CreditsGrantedPayload
from contracts.envelope import Event
from quarry_runtime.bus import Bus
from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.store import SqlDatabase, schema_name
from services.policy.application.budget import BudgetBook
from services.policy.application.decider import Decider
from services.policy.application.versions import PolicyVersions, startup_engine
from services.policy.domain.engine import DEFAULT_POLICY_DIR
from services.policy.domain.policyset import PolicyFiles
from services.policy.domain.registry import DEFAULT_REGISTRY
from services.policy.handlers import subscriptions
from services.policy.store import PolicyStore
from tests.unit.test_policy_versions import published, with_fetch_for_all

pytestmark = pytest.mark.infra

# How long the table stays locked: the handler must still be waiting by then, and the loop must
# have kept turning meanwhile.
HELD_S = 3.0
# The longest pause of the loop allowed while the store is held (a loaded machine stalls it a
# little on its own; a handler blocking it would stall it for all of HELD_S).
LOOP_STALL_S = 1.0


@dataclass
class Policy:
    store: PolicyStore
    versions: PolicyVersions
    handlers: dict[str, Callable[[Any], Awaitable[None]]]
    settings: RuntimeSettings
    bus: Bus


@pytest.fixture
def policy(database_url: str, nats_url: str, tmp_path: Path) -> Iterator[Policy]:
    settings = RuntimeSettings(data_dir=tmp_path, database_url=database_url, db_schema_prefix="offloop")
    store = PolicyStore(SqlDatabase(settings, "policy"))
    assert store.db.is_postgres
    decider = Decider(startup_engine(store, PolicyFiles.from_directory(DEFAULT_POLICY_DIR, DEFAULT_REGISTRY)))
    decider.budgets = BudgetBook(store)
    versions = PolicyVersions(store, decider)
    # The handlers are called directly; the bus is what they publish on (started where they do).
    bus = Bus(nats_url, "policy")
    subs = subscriptions(bus, decider, store=store, versions=versions)
    try:
        yield Policy(store, versions, {s.subject: s.handler for s in subs}, settings, bus)
    finally:
        store.close()


def lock_for(policy: Policy, table: str, seconds: float) -> threading.Thread:
    """Another session holds `table` against writes for `seconds`, from a thread of its own: were
    a handler to block the loop, the lock would still be released (the test fails, not hangs)."""
    locked = threading.Event()

    def hold() -> None:
        assert policy.settings.database_url is not None
        with psycopg.connect(policy.settings.database_url) as conn:
            conn.execute(f'SET search_path TO "{schema_name(policy.settings, "policy")}"')
            conn.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
            locked.set()
            time.sleep(seconds)
            conn.rollback()

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert locked.wait(30), f"could not lock {table}"
    return holder


async def longest_stall_while(task: asyncio.Task[None], seconds: float) -> float:
    """The longest the loop went without turning over `seconds` (or until `task` ends)."""
    longest, last = 0.0, time.monotonic()
    deadline = last + seconds
    while time.monotonic() < deadline and not task.done():
        await asyncio.sleep(0.02)
        now = time.monotonic()
        longest, last = max(longest, now - last), now
    return longest


async def held_then_committed(
    policy: Policy, table: str, handler: Callable[[Any], Awaitable[None]], event: Event, committed: Callable[[], bool]
) -> None:
    holder = lock_for(policy, table, HELD_S)
    task = asyncio.ensure_future(handler(event))
    stall = await longest_stall_while(task, HELD_S * 0.8)
    assert stall < LOOP_STALL_S, f"the event loop stood still {stall:.2f}s while the store was held"
    assert not task.done(), "the handler ended before its write could commit"
    await asyncio.wait_for(task, 60)
    assert committed(), "the handler ended without its effect committed"
    holder.join(30)


async def test_a_credit_event_waits_for_the_budget_write_off_the_loop(policy: Policy) -> None:
    tenant = f"t{uuid.uuid4().hex[:8]}"
    event = CreditsGranted.create(CreditsGrantedPayload(amount=500, plan="free", balance=500), tenant_id=tenant)
    await held_then_committed(
        policy, "budgets", policy.handlers["credits.>"], event, lambda: tenant in policy.store.budgets()
    )


async def test_a_published_policy_set_is_validated_and_stored_off_the_loop(policy: Policy) -> None:
    event = published(with_fetch_for_all())
    stored = policy.store.active_version()
    await policy.bus.start()  # the switch is announced on the bus after its commit
    try:
        await held_then_committed(
            policy,
            "policy_versions",
            policy.handlers[subjects.POLICY_PUBLISHED],
            event,
            lambda: policy.store.active_version() == event.payload.version != stored,
        )
    finally:
        await policy.bus.stop()
