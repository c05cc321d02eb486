"""A plan review through the gateway is authorised by the policy service's Cedar policies over a
real NATS (request/reply `policy.v1.plan_review`), and refused with 503 when nobody answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from contracts.envelope import Actor
from contracts.ids import new_id
from contracts.run import (
    RunAwaitingPlanReview,
    RunAwaitingPlanReviewPayload,
    RunRequested,
    RunRequestedPayload,
)
from tests.support.policy_service import Api, member_of, policy_service, signup

PLANNED = ["What is a context manager?", "How is it used?"]


def waiting_run(components: Any, requester: Api) -> str:
    """A run of the requester's tenant waiting for its plan's review, as the gateway's read model has it."""
    run_id = new_id()
    requested = RunRequested.create(
        RunRequestedPayload(question="what is a context manager", depth=1, max_sources=3, review_plan=True),
        tenant_id=requester.tenant_id,
        run_id=run_id,
        actor=Actor(user_id=requester.user_id, roles=["member"]),
    )
    waiting = RunAwaitingPlanReview.create(
        RunAwaitingPlanReviewPayload(
            review_id=new_id(),
            sub_questions=PLANNED,
            max_sub_questions=3,
            deadline=datetime.now(UTC) + timedelta(hours=1),
        ),
        tenant_id=requester.tenant_id,
        run_id=run_id,
        actor=Actor(user_id=requester.user_id, agent="quarry-orchestrator"),
    )
    for event in (requested, waiting):
        components.store.record_run_event(event)
    return run_id


async def test_cedar_decides_who_may_review_a_plan_and_a_silent_policy_service_is_a_503(
    nats_url: str, tmp_path: Path, gateway: httpx.AsyncClient, gateway_app: FastAPI
) -> None:
    http, components = gateway, gateway_app.state.components
    owner = await signup(http)
    member, other = await member_of(owner), await member_of(owner)
    run_id = waiting_run(components, member)
    edited = [PLANNED[0], "When should a lock use one?"]

    nobody = await member.post(f"/v1/runs/{run_id}/plan", {"action": "continue", "sub_questions": edited})
    assert nobody.status_code == 503, nobody.text

    async with policy_service(nats_url, tmp_path / "policy") as policy:
        refused = await other.post(f"/v1/runs/{run_id}/plan", {"action": "cancel"})
        assert refused.status_code == 403, refused.text
        assert f"policy {policy.decider.version}" in refused.text and "denied by default" in refused.text

        accepted = await member.post(
            f"/v1/runs/{run_id}/plan", {"action": "continue", "sub_questions": edited, "comment": "sharper"}
        )
        assert accepted.status_code == 202, accepted.text
        assert accepted.json()["sub_questions"] == edited

    log = (await member.get(f"/v1/runs/{run_id}/log")).json()["events"]
    reviews = [e["event"] for e in log if e["event"]["type"] == "run.plan_reviewed"]
    assert len(reviews) == 1, "only the authorised review reached the run's log"
    assert reviews[0]["actor"]["user_id"] == member.user_id
    assert reviews[0]["payload"] == {
        "action": "continue",
        "sub_questions": edited,
        "comment": "sharper",
        "review_id": reviews[0]["payload"]["review_id"],
    }
    audit = (await owner.get("/v1/audit", params={"kind": "run"})).json()["entries"]
    assert [(a["kind"], a["target"], a["actor"]["user_id"]) for a in audit] == [
        ("run.plan_reviewed", run_id, member.user_id)
    ]
