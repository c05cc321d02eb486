"""Billing's answer to "what did each usage record of this run cost": its own metering, by usage
event id, through the reply builder the bus calls (billing.v1.run_credits), scoped to the tenant."""

from __future__ import annotations

from contracts import subjects
from contracts.billing import RunCreditsQuery, RunCreditsReply
from contracts.ids import new_id
from contracts.run import RunCompleted, RunCompletedPayload, RunRequested, RunRequestedPayload
from contracts.usage import UsageRecorded, UsageRecordedPayload
from services.billing.application import Billing
from services.billing.payments import Payments
from services.billing.replies import responders

POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}


def _run(app: Billing, tenant: str) -> tuple[RunRequested, list[UsageRecorded]]:
    req = RunRequested.create(
        RunRequestedPayload(question="what is x?", depth=1, max_sources=5), tenant_id=tenant, run_id=new_id()
    )
    app.admit(req)
    uses = [
        UsageRecorded.caused_by(
            req, UsageRecordedPayload(task_id="s", kind="search", tool="web_search", search_calls=2), name="u-search"
        ),
        UsageRecorded.caused_by(
            req,
            UsageRecordedPayload(task_id="w", kind="synthesise", tool="llm_generate", tokens_in=4000, tokens_out=900),
            name="u-draft",
        ),
    ]
    for u in uses:
        app.meter(u)
    return req, uses


async def _ask(app: Billing, data: bytes) -> RunCreditsReply:
    on_run_credits = responders(app, Payments(environment="test"))[subjects.BILLING_RUN_CREDITS]
    reply = await on_run_credits(data)
    assert isinstance(reply, RunCreditsReply)
    return reply


def _query(tenant: str, run_id: str | None) -> bytes:
    return RunCreditsQuery(tenant_id=tenant, run_id=run_id or "").model_dump_json().encode()


async def test_a_run_s_credits_are_billing_s_metering_by_usage_event_id() -> None:
    app = Billing(env=POPO)
    req, uses = _run(app, "t1")
    _run(app, "t1")  # another run of the same tenant: none of its records are this run's
    reply = await _ask(app, _query("t1", req.run_id))
    metered = app.ledger("t1").metered
    assert reply.error is None and reply.complete
    assert reply.credits == {u.event_id: metered[u.event_id] for u in uses}
    assert all(c > 0 for c in reply.credits.values())
    # Once settled the figures stay, and they add up to what the run was charged.
    app.close_run(
        RunCompleted.caused_by(req, RunCompletedPayload(usage_event_ids=[u.event_id for u in uses], sources=2))
    )
    settled = app.ledger("t1").reservations[req.run_id or ""].settled
    assert sum((await _ask(app, _query("t1", req.run_id))).credits.values()) == settled


async def test_another_tenant_s_run_answers_empty_and_a_bad_query_is_a_400() -> None:
    app = Billing(env=POPO)
    req, _ = _run(app, "t1")
    assert (await _ask(app, _query("t2", req.run_id))).credits == {}
    assert (await _ask(app, _query("t1", new_id()))).credits == {}
    bad = await _ask(app, b'{"tenant_id": "t1", "run_id": ""}')
    assert bad.status == 400 and bad.error and "malformed" in bad.error
    assert (await _ask(app, b"not json")).status == 400
