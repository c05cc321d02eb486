"""The operators' event browser and dead letters on a real JetStream, the gateway reading as the
`ops` NATS user: pages newest first with every filter and paging by `before`, payloads for
platform admins only, a run's correlation view in stored order with its gaps, the live tail over
SSE, and a dead letter listed with its reason, redriven once the consumer is fixed (a second
redrive is harmless), discarded, with platform operators refused both changes; every use and
change audited, and no consumer left behind by reading."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from nats.aio.client import Client

from contracts import subjects
from contracts.envelope import Event
from contracts.policy import PolicyActivated, PolicyActivatedPayload
from contracts.run import (
    RunAdmitted,
    RunAdmittedPayload,
    RunRequested,
    RunRequestedPayload,
    RunStepChanged,
    RunStepChangedPayload,
)
from devtools.natsserver import free_port, wait_for_port
from quarry_runtime.bus import Bus, Subscription
from quarry_runtime.errors import Rejected
from services.gateway.settings import GatewaySettings
from tests.integration.test_gateway_ops import components, lasting_consumers
from tests.servers import PrivateNats
from tests.support.gateway_on_nats import gateway_as_itself
from tests.support.people import Person, granted
from tests.support.polling import eventually

pytestmark = pytest.mark.infra

BROWSED = subjects.POLICY_REJECTED  # no consumer of the gateway's (nor of this test) reads it
DEADLINE_S = 20.0


@pytest.fixture
def gateway_settings(server: PrivateNats, tmp_path: Path) -> GatewaySettings:
    return gateway_as_itself(server, tmp_path / "gateway")


async def publish_raw(nc: Client, subject: str, body: bytes, msg_id: str) -> int:
    ack = await nc.jetstream().publish(subject, body, headers={"Nats-Msg-Id": msg_id}, stream=subjects.STREAM)
    return int(ack.seq)


async def publish(nc: Client, event: Event) -> int:
    return await publish_raw(nc, event.SUBJECT, event.to_bytes(), event.event_id)


def envelope(tenant: str, run: str, tool: str, n: int) -> dict[str, Any]:
    """An event as the browser reads it; no consumer parses this subject in these tests."""
    payload = {"tool": tool, "n": n, "secret": f"content-{n}"}
    return {"event_id": uuid.uuid4().hex, "type": "policy.rejected", "tenant_id": tenant, "run_id": run} | {
        "occurred_at": "2026-01-01T00:00:00+00:00",
        "payload": payload,
    }


async def test_events_page_newest_first_with_every_filter_and_payloads_for_admins_only(
    gateway: httpx.AsyncClient, gateway_app: FastAPI, gateway_settings: GatewaySettings, admin: Client, tmp_path: Path
) -> None:
    operator = await granted(gateway, gateway_settings, tmp_path, "platform_operator")
    boss = await granted(gateway, gateway_settings, tmp_path, "platform_admin")
    js = admin.jetstream()
    before_consumers = await lasting_consumers(js)
    tenant_a, tenant_b, run = f"ta-{uuid.uuid4().hex[:6]}", f"tb-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    sent: list[tuple[int, dict[str, Any]]] = []
    for n in range(12):
        body = envelope(tenant_a if n % 3 else tenant_b, run if n % 4 == 0 else uuid.uuid4().hex, "fetch_url", n)
        if n % 2:
            body["payload"]["tool"] = "web_search"
        sent.append((await publish_raw(admin, BROWSED, json.dumps(body).encode(), body["event_id"]), body))
    newest = [seq for seq, _ in reversed(sent)]

    first = (await operator.get(f"/v1/ops/events?subject={BROWSED}&limit=5")).json()
    assert [e["seq"] for e in first["events"]] == newest[:5] and first["next_before"] == newest[4]
    top = first["events"][0]
    assert top["event_id"] == sent[-1][1]["event_id"] == top["headers"]["Nats-Msg-Id"]
    assert top["tenant_id"] == sent[-1][1]["tenant_id"] and top["subject"] == BROWSED and top["payload"] is None
    assert top["payload_size"] > 0 and top["size"] == len(json.dumps(sent[-1][1]).encode())
    second = (await operator.get(f"/v1/ops/events?subject={BROWSED}&limit=5&before={first['next_before']}")).json()
    assert [e["seq"] for e in second["events"]] == newest[5:10]

    async def seqs(query: str, who: Person = operator) -> list[int]:
        r = await who.get(f"/v1/ops/events?{query}&limit=50")
        assert r.status_code == 200, r.text
        return [e["seq"] for e in r.json()["events"] if e["seq"] >= sent[0][0]]

    assert await seqs(f"tenant={tenant_b}") == [s for s, b in reversed(sent) if b["tenant_id"] == tenant_b]
    assert await seqs(f"run={run}") == [s for s, b in reversed(sent) if b["run_id"] == run]
    assert await seqs("type=policy.rejected") == newest
    fetches = [s for s, b in reversed(sent) if b["payload"]["tool"] == "fetch_url"]
    assert await seqs(f"subject={BROWSED}&payload.tool=fetch_url") == fetches
    assert await seqs(f"tenant={tenant_a}&payload.tool=web_search&payload.n=7") == [sent[7][0]]
    stored_at = {e["seq"]: e["stored_at"] for e in first["events"]}
    since, until = quote(stored_at[newest[3]]), quote(stored_at[newest[0]])
    window = await seqs(f"subject={BROWSED}&since={since}&until={until}")
    assert window == newest[1:4]

    full = (await boss.get(f"/v1/ops/events/{sent[5][0]}")).json()
    assert full["payload"] == sent[5][1]["payload"] and full["seq"] == sent[5][0]
    envelope_only = (await operator.get(f"/v1/ops/events/{sent[5][0]}")).json()
    assert envelope_only["payload"] is None and envelope_only["event_id"] == sent[5][1]["event_id"]
    assert (await operator.get("/v1/ops/events/999999999")).status_code == 404

    after = await lasting_consumers(js)
    assert set(after) == set(before_consumers)
    assert (await js.consumers_info(subjects.STREAM)) and all(
        not c.name.startswith("ops") for c in await js.consumers_info(subjects.STREAM)
    )
    reads = components(gateway_app).store.platform_audit.entries(kind="ops.read", limit=1000)
    assert {e["target"] for e in reads} >= {"GET /v1/ops/events", "GET /v1/ops/events/{seq}"}
    assert {e["actor"]["name"] for e in reads} == {operator.email, boss.email}


async def test_a_runs_correlation_view_is_in_stored_order_with_the_gaps(
    gateway: httpx.AsyncClient, gateway_settings: GatewaySettings, admin: Client, tmp_path: Path
) -> None:
    operator = await granted(gateway, gateway_settings, tmp_path, "platform_operator")
    tenant = f"t-{uuid.uuid4().hex[:6]}"
    asked = RunRequested.create(
        RunRequestedPayload(question="what is on the bus", depth=1, max_sources=3), tenant_id=tenant
    )
    run = asked.run_id or asked.event_id
    asked = asked.model_copy(update={"run_id": run})
    steps: list[Event] = [
        asked,
        RunAdmitted.caused_by(asked, RunAdmittedPayload(credits_reserved=5)),
        RunStepChanged.caused_by(asked, RunStepChangedPayload(step="plan", status="started"), name="plan"),
        RunStepChanged.caused_by(asked, RunStepChangedPayload(step="plan", status="finished"), name="planned"),
    ]
    seqs: list[int] = []
    for n, step in enumerate(steps):
        other = RunRequested.create(
            RunRequestedPayload(question=f"noise {n}", depth=1, max_sources=1), tenant_id=tenant
        )
        await publish(admin, other.model_copy(update={"run_id": other.event_id}))
        seqs.append(await publish(admin, step))
        await asyncio.sleep(0.3)  # a gap the view must show

    async def logged() -> bool:
        r = await operator.get(f"/v1/ops/runs/{run}/events")
        return r.status_code == 200 and len(r.json()["events"]) == len(steps)

    await eventually(logged, DEADLINE_S, "the gateway's run log has the run's events")
    view = (await operator.get(f"/v1/ops/runs/{run}/events")).json()
    assert view["run_id"] == run and view["domains"] == ["run"]
    assert [e["seq"] for e in view["events"]] == seqs
    assert [e["event_id"] for e in view["events"]] == [s.event_id for s in steps]
    assert all(e["in_stream"] and e["payload"] is None for e in view["events"])
    assert view["events"][0]["gap_s"] is None and all(e["gap_s"] >= 0.25 for e in view["events"][1:])
    assert (await operator.get(f"/v1/ops/runs/{uuid.uuid4().hex}/events")).status_code == 404


async def test_the_tail_delivers_a_newly_published_event_over_sse(
    gateway: httpx.AsyncClient, gateway_app: FastAPI, gateway_settings: GatewaySettings, admin: Client, tmp_path: Path
) -> None:
    operator = await granted(gateway, gateway_settings, tmp_path, "platform_operator")
    port = free_port()
    served = uvicorn.Server(
        uvicorn.Config(gateway_app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    serving = asyncio.create_task(served.serve())
    try:
        await asyncio.to_thread(wait_for_port, "127.0.0.1", port)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=DEADLINE_S) as http:
            tail = f"/v1/ops/events/tail?subject={BROWSED}"
            async with http.stream("GET", tail, headers=operator.headers) as stream:
                assert stream.status_code == 200
                body = envelope(f"t-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex, "fetch_url", 1)
                seq = await publish_raw(admin, BROWSED, json.dumps(body).encode(), body["event_id"])
                frame = await asyncio.wait_for(_first_frame(stream), DEADLINE_S)
        assert frame["id"] == str(seq)
        event = json.loads(frame["data"])
        assert event["event_id"] == body["event_id"] and event["payload"] is None and event["seq"] == seq
    finally:
        served.should_exit = True
        await serving


async def _first_frame(stream: httpx.Response) -> dict[str, str]:
    frame: dict[str, str] = {}
    async for line in stream.aiter_lines():
        if not line and "data" in frame:
            return frame
        name, _, value = line.partition(":")
        if name in ("id", "data", "event"):
            frame[name] = value.strip()
    raise AssertionError("the stream ended before an event")


class Consumer:
    """A consumer of `policy.v1.activated` on the real Bus whose handler rejects every event until
    it is fixed, then counts each event it handles."""

    def __init__(self) -> None:
        self.fixed = False
        self.handled: list[str] = []

    async def handle(self, event: PolicyActivated) -> None:
        if not self.fixed:
            raise Rejected(f"cannot apply policy version {event.payload.version}: no such version here")
        self.handled.append(event.event_id)


async def test_a_dead_letter_is_listed_with_its_reason_redriven_after_the_fix_once_and_discarded(
    gateway: httpx.AsyncClient,
    gateway_app: FastAPI,
    gateway_settings: GatewaySettings,
    admin: Client,
    server: PrivateNats,
    tmp_path: Path,
) -> None:
    operator = await granted(gateway, gateway_settings, tmp_path, "platform_operator")
    boss = await granted(gateway, gateway_settings, tmp_path, "platform_admin")
    consumer = Consumer()
    bus = Bus(server.admin_url, "probe")
    bus.subscribe(Subscription(subjects.POLICY_ACTIVATED, f"probe-{uuid.uuid4().hex[:6]}", consumer.handle))
    await bus.start()
    try:
        activated = PolicyActivated.create(PolicyActivatedPayload(version="v9"), tenant_id="platform")
        seq = await publish(admin, activated)
        # A malformed event the gateway's own run consumer cannot parse.
        broken = await publish_raw(admin, subjects.RUN_STEP_CHANGED, b'{"type": "run.step_changed"', uuid.uuid4().hex)

        async def letters(query: str) -> list[dict[str, Any]]:
            r = await operator.get(f"/v1/ops/deadletters?{query}")
            assert r.status_code == 200, r.text
            found: list[dict[str, Any]] = r.json()["letters"]
            return found

        probe = (await eventually(lambda: letters("service=probe"), DEADLINE_S, "the probe's dead letter"))[0]
        assert probe["reason"] == "cannot apply policy version v9: no such version here"
        assert (probe["subject"], probe["original_seq"], probe["state"]) == (subjects.POLICY_ACTIVATED, seq, "open")
        assert probe["event"]["event_id"] == activated.event_id and probe["event"]["payload"] is None
        malformed = (await eventually(lambda: letters("service=gateway"), DEADLINE_S, "the gateway's dead letter"))[0]
        assert malformed["reason"].startswith("malformed") and malformed["original_seq"] == broken
        assert malformed["subject"] == subjects.RUN_STEP_CHANGED and malformed["event"]["malformed"] is True
        inspected = (await boss.get(f"/v1/ops/deadletters/{probe['seq']}")).json()
        assert inspected["event"]["payload"] == activated.payload.model_dump()

        # Platform operators read; only platform admins change anything.
        for path in (f"/v1/ops/deadletters/{probe['seq']}/redrive", f"/v1/ops/deadletters/{malformed['seq']}/discard"):
            assert (await operator.post(path, {})).status_code == 403
        assert (await operator.post("/v1/ops/deadletters/redrive", {"service": "probe"})).status_code == 403
        assert consumer.handled == []

        consumer.fixed = True
        # Every open letter of the service, in bulk; then the same letter once more, on its own.
        redriven = await boss.post("/v1/ops/deadletters/redrive", {"service": "probe"})
        assert redriven.status_code == 200, redriven.text
        assert redriven.json()["redriven"] == [
            {"seq": probe["seq"], "subject": subjects.POLICY_ACTIVATED, "stored": True}
        ]
        await eventually(lambda: _handled(consumer), DEADLINE_S, "the redriven event handled")
        last = (await admin.jetstream().stream_info(subjects.STREAM)).state.last_seq
        again = await boss.post(f"/v1/ops/deadletters/{probe['seq']}/redrive", {})
        assert again.status_code == 200, again.text
        assert again.json() == {"seq": probe["seq"], "subject": subjects.POLICY_ACTIVATED, "stored": False}
        assert (await admin.jetstream().stream_info(subjects.STREAM)).state.last_seq == last  # nothing stored
        assert consumer.handled == [activated.event_id]
        assert (await letters("service=probe&state=redriven"))[0]["redrives"] == 2

        discarded = await boss.post(f"/v1/ops/deadletters/{malformed['seq']}/discard", {})
        assert discarded.status_code == 200 and discarded.json()["state"] == "discarded"
        assert await letters("service=gateway") == []
        gone = await letters("service=gateway&state=discarded")
        assert [g["seq"] for g in gone] == [malformed["seq"]] and gone[0]["handled_by"] == boss.email
    finally:
        await bus.stop()

    audit = components(gateway_app).store.platform_audit
    redrives = audit.entries(kind="ops.deadletter.redriven")
    assert [(e["actor"]["name"], e["detail"]["seqs"]) for e in redrives] == [(boss.email, [probe["seq"]])] * 2
    discards = audit.entries(kind="ops.deadletter.discarded")
    assert [(e["actor"]["name"], e["detail"]["seqs"]) for e in discards] == [(boss.email, [malformed["seq"]])]
    attempts = audit.entries(kind="ops.change", limit=1000)
    assert [(e["actor"]["name"], e["target"]) for e in attempts] == [
        (boss.email, "POST /v1/ops/deadletters/redrive"),
        (boss.email, "POST /v1/ops/deadletters/{seq}/redrive"),
        (boss.email, "POST /v1/ops/deadletters/{seq}/discard"),
    ]
    # A platform operator's refused attempts changed nothing, and only their reads are on record.
    reads = [e for e in audit.entries(kind="ops.read", limit=1000) if e["actor"]["name"] == operator.email]
    assert reads and all(e["target"].startswith("GET /v1/ops/deadletters") for e in reads)


async def _handled(consumer: Consumer) -> bool:
    return bool(consumer.handled)
