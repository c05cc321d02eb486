"""The orchestrator's timer sweep (quarry_runtime.timersweep) on the production shape of the event
stream: three replicas, whose direct gets any replica may answer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from contracts import subjects
from contracts.timer import TimerFired, TimerFiredPayload
from quarry_runtime.bus import Bus
from quarry_runtime.timersweep import TimerSweep
from tests.integration.test_nats_cluster import REPLICAS, Cluster
from tests.integration.test_nats_cluster import cluster as cluster  # the fixture

pytestmark = pytest.mark.infra


async def test_the_sweep_reads_and_re_arms_a_held_timer_on_a_three_replica_stream(cluster: Cluster) -> None:
    bus = Bus(cluster.url, "orchestrator", stream_replicas=REPLICAS)
    await bus.start()
    try:
        js = bus.broker.connection.jetstream()
        info = await js.stream_info(subjects.STREAM)
        assert info.config.num_replicas == REPLICAS and info.config.allow_direct
        payload = TimerFiredPayload(timer_id=uuid.uuid4().hex, purpose="approval_deadline", approval_id="a-1")
        timer = TimerFired.create(payload, tenant_id=uuid.uuid4().hex, run_id=str(uuid.uuid4()))
        subject = subjects.timer_schedule(timer.event_id)
        await bus.schedule(timer, datetime.now(UTC) + timedelta(hours=1))

        assert await TimerSweep(bus).sweep() == 0  # not due: read, and left alone
        scheduled = await js.get_last_msg(subjects.STREAM, subject)
        assert (scheduled.headers or {})["Nats-Msg-Id"] == f"schedule-{timer.event_id}"
        # Seen from two hours on, it is held past its due time.
        late = TimerSweep(bus, clock=lambda: datetime.now(UTC) + timedelta(hours=2))
        assert await late.sweep() == 1
        rearmed = await js.get_last_msg(subjects.STREAM, subject)
        assert (rearmed.headers or {})["Nats-Msg-Id"] == f"schedule-{timer.event_id}-rearm-1"
        assert TimerFired.model_validate_json(rearmed.data or b"") == timer
        subjects_held = (await js.stream_info(subjects.STREAM, subjects_filter=subject)).state.subjects or {}
        assert subjects_held == {subject: 1}
    finally:
        await bus.stop()
