"""Rollouts through the gateway on a real JetStream, answered by the real orchestrator (each as its
own NATS user, the orchestrator's store on SQLite and on PostgreSQL): a platform admin records a
candidate's offline evaluation, starts a rollout of it, pauses, resumes and aborts it; operators
read it and its decisions; a tenant owner and an operator are refused every change; a spec the
contract refuses, a hostile id, a candidate that missed the eval gate, a second rollout of the same
component and an unknown rollout each get their 4xx; every change is on the platform's audit log,
and the rollout outlives a restart of the orchestrator."""

from __future__ import annotations

from typing import Any

import nats
import pytest
from fastapi import FastAPI

from contracts import subjects
from contracts.agents import EVAL_TARGETS, AgentConfig, agent_version
from tests.integration.test_gateway_ops import components
from tests.servers import PrivateNats
from tests.support.control_plane import ControlPlane, gateway_outside_development
from tests.support.people import Person

pytestmark = pytest.mark.infra

STABLE: dict[str, Any] = {"mode": "offline", "parameters": {"n": 4}}
CANDIDATE: dict[str, Any] = {"mode": "offline", "parameters": {"n": 3}}
MISSED: dict[str, Any] = {"mode": "offline", "parameters": {"n": 2}}
PASSING = {**EVAL_TARGETS, "fabricated_citations": 0.0}
SPEC: dict[str, Any] = {
    "component": "planner",
    "stages": [10, 50, 100],
    "min_runs_per_stage": 20,
    "min_dwell_s": 3600,  # no look promotes while the test runs
    "look_every_s": 3600,
    "note": "shorter plans",
}


gateway_settings = gateway_outside_development


async def answers_rollouts(server: PrivateNats) -> None:
    """Fail at once, saying why, when the orchestrator does not answer rollout queries at all (a
    build without its side of issue 16), rather than with every route's 503 below."""
    nc = await nats.connect(server.admin_url)
    try:
        await nc.request(subjects.ROLLOUT_QUERY, b"{}", timeout=5)
    except nats.errors.Error as exc:
        pytest.fail(f"the orchestrator does not answer {subjects.ROLLOUT_QUERY} ({type(exc).__name__}): no rollouts")
    finally:
        await nc.close()


async def registered(admin: Person, config: dict[str, Any], metrics: dict[str, float] | None) -> str:
    """A planner version registered and, given `metrics`, evaluated through the gateway."""
    r = await admin.post("/v1/ops/agents", {"component": "planner", "config": config})
    assert r.status_code in (200, 201), r.text
    version = str(r.json()["version"])
    assert version == agent_version("planner", AgentConfig.model_validate(config))
    if metrics is not None:
        done = await admin.post(f"/v1/ops/agents/planner/{version}/evaluations", {"metrics": metrics})
        assert done.status_code == 201, done.text
    return version


async def test_an_admin_starts_and_steers_a_rollout_and_operators_read_it(
    control_plane: ControlPlane, gateway_app: FastAPI, server: PrivateNats
) -> None:
    owner, operator, admin = control_plane.people
    async with control_plane.orchestrator():
        await answers_rollouts(server)
        stable = await registered(admin, STABLE, PASSING)
        candidate = await registered(admin, CANDIDATE, None)
        missed = await registered(admin, MISSED, None)

        # The eval gate, judged by the orchestrator: a missed target fails, with its reason.
        evaluated = await admin.post(f"/v1/ops/agents/planner/{candidate}/evaluations", {"metrics": PASSING})
        assert evaluated.status_code == 201, evaluated.text
        assert evaluated.json() | {"metrics": {}} == {
            "component": "planner",
            "version": candidate,
            "split": "test",
            "passed": True,
            "failures": [],
            "metrics": {},
        }
        low = await admin.post(
            f"/v1/ops/agents/planner/{missed}/evaluations", {"metrics": {**PASSING, "recall_at_10": 0.5}}
        )
        assert low.status_code == 201 and not low.json()["passed"], low.text
        assert any("recall_at_10" in f for f in low.json()["failures"])
        unknown = await admin.post(f"/v1/ops/agents/planner/{'e' * 64}/evaluations", {"metrics": PASSING})
        assert unknown.status_code == 404, unknown.text

        body = {**SPEC, "candidate": candidate}
        # Only a platform admin changes rollouts; an operator reads them.
        assert (await owner.post("/v1/ops/rollouts", body)).status_code == 403
        assert (await owner.get("/v1/ops/rollouts")).status_code == 403
        assert (await operator.post("/v1/ops/rollouts", body)).status_code == 403
        assert (await admin.post("/v1/ops/rollouts", {**SPEC, "candidate": missed})).status_code == 422

        started = await admin.post("/v1/ops/rollouts", body)
        assert started.status_code == 201, started.text
        rollout = started.json()
        rollout_id = rollout["rollout_id"]
        assert (rollout["component"], rollout["candidate"], rollout["stable"]) == ("planner", candidate, stable)
        assert (rollout["status"], rollout["percent"]) == ("running", 10)
        assert [d["kind"] for d in rollout["decisions"]] == ["started"]
        again = await admin.post("/v1/ops/rollouts", body)
        assert again.status_code == 409, again.text

        listed = (await operator.get("/v1/ops/rollouts")).json()["rollouts"]
        assert listed[0]["rollout_id"] == rollout_id
        assert rollout_id in [
            r["rollout_id"] for r in (await operator.get("/v1/ops/rollouts?component=planner")).json()["rollouts"]
        ]
        assert (await operator.get("/v1/ops/rollouts?component=ranker")).json() == {"rollouts": []}
        one = await operator.get(f"/v1/ops/rollouts/{rollout_id}")
        assert one.status_code == 200 and one.json()["spec"]["stages"] == [10, 50, 100]
        assert (await operator.get(f"/v1/ops/rollouts/{'f' * 32}")).status_code == 404

        assert (await operator.post(f"/v1/ops/rollouts/{rollout_id}/pause", {})).status_code == 403
        paused = await admin.post(f"/v1/ops/rollouts/{rollout_id}/pause", {"note": "weekend"})
        assert paused.status_code == 200 and paused.json()["status"] == "paused", paused.text
        resumed = await admin.post(f"/v1/ops/rollouts/{rollout_id}/resume", {})
        assert resumed.status_code == 200 and resumed.json()["status"] == "running", resumed.text
        aborted = await admin.post(f"/v1/ops/rollouts/{rollout_id}/abort", {"note": "not now"})
        assert aborted.status_code == 200 and aborted.json()["status"] == "aborted", aborted.text
        assert (await admin.post(f"/v1/ops/rollouts/{rollout_id}/pause", {})).status_code == 409
        assert (await admin.post(f"/v1/ops/rollouts/{'f' * 32}/pause", {})).status_code == 404
        kinds = [d["kind"] for d in aborted.json()["decisions"]]
        assert kinds == ["started", "paused", "resumed", "aborted"]
        assert [d["note"] for d in aborted.json()["decisions"]][1:] == ["weekend", "", "not now"]

    # Rollouts are the orchestrator's stored state: a new process on the same store has this one.
    async with control_plane.orchestrator():
        after = (await operator.get(f"/v1/ops/rollouts/{rollout_id}")).json()
        assert (after["status"], [d["kind"] for d in after["decisions"]]) == ("aborted", kinds)

    audit = components(gateway_app).store.platform_audit
    done = [(e["kind"], e["detail"].get("rollout_id")) for e in audit.entries(limit=1000)]
    assert [k for k in done if k[0].startswith("ops.rollout.")] == [
        ("ops.rollout.started", rollout_id),
        ("ops.rollout.paused", rollout_id),
        ("ops.rollout.resumed", rollout_id),
        ("ops.rollout.aborted", rollout_id),
    ]
    evaluations = [e["detail"] for e in audit.entries(kind="ops.agent.evaluated")]
    assert [(e["version"], e["passed"]) for e in evaluations] == [
        (stable, True),
        (candidate, True),
        (missed, False),
    ]
    assert {e["actor"]["name"] for e in audit.entries(kind="ops.rollout.started")} == {admin.email}


async def test_hostile_and_refused_specs_get_a_4xx(control_plane: ControlPlane) -> None:
    admin = control_plane.people.admin
    async with control_plane.orchestrator():
        version = "a" * 64
        for bad in (
            {**SPEC, "candidate": version, "stages": [50, 25, 100]},
            {**SPEC, "candidate": version, "stages": [5, 25]},
            {**SPEC, "candidate": version, "stages": [0, 100]},
            {**SPEC, "candidate": "not-a-hash"},
            {**SPEC, "candidate": version, "component": "critic"},
            {**SPEC, "candidate": version, "starved_after_s": 10**12},
            {**SPEC, "candidate": version, "guards": {"cost_ceiling": 1e300}},
            {**SPEC, "candidate": version, "guards": {"alpha": 0.9}},
            {**SPEC, "candidate": version, "note": "n" * 2001},
            {**SPEC, "candidate": version, "shadow": {"sample_rate": 2}},
            {**SPEC, "candidate": version, "min_run_per_stage": 3},  # misspelt: never a silent default
            {**SPEC, "candidate": version, "guards": {"alhpa": 0.01}},
            {**SPEC, "candidate": version, "audience": {"pined": {"t1": "candidate"}}},
        ):
            r = await admin.post("/v1/ops/rollouts", bad)
            assert r.status_code == 422, (bad, r.text)
        refused = await admin.post("/v1/ops/rollouts", {**SPEC, "candidate": version, "stages": [50, 25, 100]})
        assert "stages must rise strictly and end at 100" in refused.text
        for path in (f"/v1/ops/rollouts/{'x' * 101}", "/v1/ops/rollouts/a%20b", "/v1/ops/rollouts/%2e%2e"):
            assert (await admin.get(path)).status_code in (404, 422), path
        assert (await admin.post(f"/v1/ops/rollouts/{'f' * 32}/explode", {})).status_code == 422
        nan = await admin.post(f"/v1/ops/agents/planner/{version}/evaluations", {"metrics": {"recall_at_10": "NaN"}})
        assert nan.status_code == 422, nan.text
        short = await admin.post("/v1/ops/agents/planner/abc/evaluations", {"metrics": PASSING})
        assert short.status_code == 422, short.text
        # An unregistered candidate passes the contract and is refused by the orchestrator.
        await answers_rollouts(control_plane.server)
        unregistered = await admin.post("/v1/ops/rollouts", {**SPEC, "candidate": version})
        assert unregistered.status_code == 422 and "orchestrator" in unregistered.text, unregistered.text
