"""A run's agent versions in its view: fixed by `run.admitted`, folded from the log, so the state
at any point of the log (`GET /v1/runs/{id}/state?at=`) names the versions the run used, and how
a rollout assigned each, from admission on, and nothing before it; never, to the tenant, the
shadow a rollout sampled the run for (the operators' to see, on the stream)."""

from __future__ import annotations

from pathlib import Path

from contracts.run import (
    RunAdmitted,
    RunAdmittedPayload,
    RunPlanned,
    RunPlannedPayload,
    RunRequested,
    RunRequestedPayload,
)
from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.store import SqlDatabase
from services.gateway.api.models.runs import RunStatePublic
from services.gateway.disclosure import for_reader, visible
from services.gateway.readmodels.run_view import fold_run
from services.gateway.readmodels.store import GatewayStore

PLANNER = "a" * 64
RANKER = "b" * 64
ARM = {"rollout_id": "r-1", "arm": "candidate", "basis": "bucket", "bucket": 417}
CANDIDATE = "c" * 64
# A run a shadowing rollout sampled: its planner tasks were copied to the candidate, unseen.
SHADOWED = {"rollout_id": "r-2", "arm": "stable", "basis": "bucket", "bucket": 9001, "shadow": CANDIDATE}


def _log(run_id: str, arm: dict[str, object] = ARM) -> list[RunRequested | RunAdmitted | RunPlanned]:
    asked = RunRequestedPayload(question="What is a list?", depth=1, max_sources=2)
    requested = RunRequested.create(asked, tenant_id="t-1", run_id=run_id)
    admitted = RunAdmitted.create(
        RunAdmittedPayload.model_validate(
            {
                "credits_reserved": 40,
                "agent_versions": {"planner": PLANNER, "ranker": RANKER},
                "rollouts": {"planner": arm},
            }
        ),
        tenant_id="t-1",
        run_id=run_id,
    )
    planned = RunPlanned.create(RunPlannedPayload(sub_questions=["lists"]), tenant_id="t-1", run_id=run_id)
    return [requested, admitted, planned]


def test_the_fold_takes_the_versions_and_arms_from_the_admission() -> None:
    events = [e.model_dump(mode="json") for e in _log("run-fold")]
    before = fold_run(events[:1])
    after = fold_run(events)
    assert (before["agent_versions"], before["rollouts"]) == ({}, {})
    assert after["agent_versions"] == {"planner": PLANNER, "ranker": RANKER}
    assert after["rollouts"] == {"planner": ARM}
    # An admission without them (a run admitted before agent versions existed) leaves them empty.
    bare = RunAdmitted.create(RunAdmittedPayload(credits_reserved=1), tenant_id="t-1", run_id="run-fold")
    old = fold_run([events[0], bare.model_dump(mode="json")])
    assert (old["state"], old["agent_versions"], old["rollouts"]) == ("admitted", {}, {})


def test_the_state_at_any_point_of_the_log_reproduces_them(tmp_path: Path) -> None:
    db = SqlDatabase(RuntimeSettings(data_dir=tmp_path), "gateway")
    store = GatewayStore(db, prefix="av_")
    try:
        for event in _log("run-at"):
            assert store.record_run_event(event)
        states = [store.run_state_at("t-1", "run-at", seq=seq) for seq in (1, 2, 3)]
        public = [RunStatePublic.model_validate(state) for state in states]
        assert [(p.state, p.agent_versions) for p in public] == [
            ("requested", {}),
            ("admitted", {"planner": PLANNER, "ranker": RANKER}),
            ("running", {"planner": PLANNER, "ranker": RANKER}),
        ]
        assert public[0].rollouts == {}
        assert {c: arm.model_dump() for c, arm in public[2].rollouts.items()} == {"planner": ARM}
        # The live view, folded event by event as they came, says the same as the log.
        view = store.run_view("t-1", "run-at")
        assert view is not None and view["agent_versions"] == public[2].agent_versions
        assert view["rollouts"] == {"planner": ARM}
    finally:
        store.drop_read_models()
        db.close()


def test_a_tenant_never_sees_the_shadow_a_rollout_sampled_its_run_for(tmp_path: Path) -> None:
    log = _log("run-shadowed", SHADOWED)
    admitted = log[1]
    assert isinstance(admitted, RunAdmitted)
    assert admitted.payload.rollouts["planner"].shadow == CANDIDATE  # published for the platform's own use
    unshadowed = {k: v for k, v in SHADOWED.items() if k != "shadow"}
    # Stored in the run's log without it: the page, the stream and `state?at=` read the stored event.
    assert visible(admitted)["payload"]["rollouts"] == {"planner": unshadowed}
    assert CANDIDATE not in str(visible(admitted))
    # A log stored before the stripping is read out without it too.
    assert for_reader(admitted.model_dump(mode="json"), draft_visible=True)["payload"]["rollouts"] == {
        "planner": unshadowed
    }
    db = SqlDatabase(RuntimeSettings(data_dir=tmp_path), "gateway")
    store = GatewayStore(db, prefix="sh_")
    try:
        for event in log:
            assert store.record_run_event(event)
        rows = store.run_log("t-1", "run-shadowed", 0, 10)
        assert len(rows) == 3 and CANDIDATE not in str(rows)
        view = store.run_view("t-1", "run-shadowed")
        assert view is not None and view["rollouts"] == {"planner": unshadowed} and CANDIDATE not in str(view)
        state = store.run_state_at("t-1", "run-shadowed", seq=3)
        assert state is not None and CANDIDATE not in str(state)
    finally:
        store.drop_read_models()
        db.close()
