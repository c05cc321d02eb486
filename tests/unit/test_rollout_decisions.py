"""Rollouts decide soundly under repeated looks: harm rolls back, health promotes, the rest holds."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from contracts.rollouts import Evidence, HeldPayload, RolledBackPayload, StageAdvancedPayload
from services.orchestrator.rollouts.assignment import Arm, Assignment
from services.orchestrator.rollouts.decision import MetricsUnavailable, look
from services.orchestrator.rollouts.guards import GuardBoard, GuardSettings
from services.orchestrator.rollouts.records import rules_of
from tests.support.rollout_traffic import START, Behaviour, Traffic, spec, started

ALPHA = 0.05


def false_rollbacks(candidate: Behaviour, replications: int, runs: int, seed: int) -> int:
    """Replications in which any guard showed harm at any look, looking after every single run."""
    rng = random.Random(seed)
    stable = Behaviour()
    alarms = 0
    for replication in range(replications):
        board = GuardBoard(GuardSettings(alpha=ALPHA))
        for i in range(runs):
            arm: Arm = "candidate" if i % 2 else "stable"
            behaviour = candidate if arm == "candidate" else stable
            board.add(behaviour.outcome(rng, Assignment(arm, "bucket", 0), f"t{replication}-{i}", START))
            if any(r.verdict == "harm" for r in board.readings()):
                alarms += 1
                break
    return alarms


@pytest.mark.parametrize(
    "candidate",
    [
        Behaviour(),
        # At every limit at once: error rate 1.1x + 0.02, p95 1.2x, cost 1.3x: no harm *beyond* the limits.
        Behaviour(fail_rate=0.02 * 1.1 + 0.02, duration_scale=1.2, cost_scale=1.3),
    ],
    ids=["same-as-stable", "at-the-limits"],
)
def test_a_candidate_without_harm_is_rolled_back_at_most_alpha_of_the_time_however_often_one_looks(
    candidate: Behaviour,
) -> None:
    replications = 100
    assert false_rollbacks(candidate, replications, runs=400, seed=7) / replications <= ALPHA


def test_a_candidate_that_always_fails_is_rolled_back_by_its_minimum_runs_and_runs_go_stable_after() -> None:
    rollout = started(spec(stages=[50, 100], min_runs_per_stage=30))
    traffic = Traffic(rollout, candidate=Behaviour(fail_rate=1.0), seed=1)
    while rollout.status == "running":
        traffic.run(1)
        decision = rollout.look(traffic.now, traffic.outcomes)
        assert traffic.runs_of("candidate") <= 30 or decision.action == "roll_back"
    assert rollout.status == "rolled_back" and rollout.percent == 0
    # The events of @event methods are classes made at run time: their fields are read by name.
    (event,) = [vars(e) for e in rollout.collect_events() if type(e).__name__ == "RolledBack"]
    payload = RolledBackPayload(
        rollout_id=rollout.rollout_id,
        from_percent=event["from_percent"],
        guards=event["guards"],
        evidence=event["evidence"],
    )
    # Whichever of the two guards a total failure trips first (or both) is named.
    assert payload.from_percent == 50 and set(payload.guards) & {"error_rate", "completion_rate"}
    error = next(g for g in payload.evidence.guards if g.guard == "error_rate")
    assert error.candidate.estimate == 1.0 and error.stable.estimate is not None and error.stable.estimate < 0.2
    before = len(traffic.outcomes)
    traffic.run(200)
    assert all(o.arm == "stable" and o.completed for o in traffic.outcomes[before:] if not o.errored)
    assert {o.arm for o in traffic.outcomes[before:]} == {"stable"}


def test_a_healthy_candidate_is_promoted_stage_by_stage_to_all_tenants() -> None:
    rollout = started()
    traffic = Traffic(rollout, candidate=Behaviour(), seed=2, observations=rollout.observations())
    for _ in range(60):
        traffic.run(1000)
        assert traffic.observations is not None
        decision = rollout.look(traffic.now, traffic.observations)
        assert decision.action != "roll_back"
        if rollout.status == "completed":
            break
    promotions = [d["percent"] for d in rollout.decisions if d["kind"] == "promoted"]
    assert promotions == [25, 50, 100] and rollout.status == "completed"
    assert rollout.version_of("tenant-1", "enterprise") == rollout.candidate
    advanced = [vars(e) for e in rollout.collect_events() if type(e).__name__ == "StageAdvanced"]
    last = StageAdvancedPayload(
        rollout_id=rollout.rollout_id,
        from_percent=advanced[-1]["from_percent"],
        to_percent=advanced[-1]["to_percent"],
        completed=True,
        evidence=advanced[-1]["evidence"],
    )
    assert all(g.verdict == "no_harm" for g in last.evidence.guards)
    assert last.evidence.candidate.runs_in_stage >= 50 and last.evidence.stable.tenants_in_stage >= 3


def held(rollout_events: list[object]) -> HeldPayload:
    (event,) = [e for e in rollout_events if type(e).__name__ == "Held"]
    return HeldPayload(
        rollout_id="r",
        reason=event.reason,  # type: ignore[attr-defined]
        detail=event.detail,  # type: ignore[attr-defined]
        evidence=event.evidence,  # type: ignore[attr-defined]
    )


def test_an_error_reading_the_metrics_holds_and_changes_nothing() -> None:
    rollout = started()
    rollout.collect_events()
    decision = rollout.look(START + timedelta(hours=1), MetricsUnavailable("connection refused"))
    assert decision.action == "hold" and decision.reason == "metrics_error"
    payload = held(list(rollout.collect_events()))
    assert payload.detail == "connection refused" and payload.evidence is None
    assert rollout.status == "running" and rollout.percent == 5


def test_no_traffic_for_a_while_is_starved_never_pass_nor_fail() -> None:
    rollout = started(spec(audience={"excluded_tiers": ["pro"]}))  # every tenant of the traffic stays stable
    traffic = Traffic(rollout, candidate=Behaviour(), seed=3)
    traffic.run(300)
    assert rollout.look(traffic.now, traffic.outcomes).action == "wait"  # within starved_after_s: not yet
    rollout.collect_events()
    traffic.run(1, gap_s=3600)
    decision = rollout.look(traffic.now, traffic.outcomes)
    assert decision.action == "hold" and decision.reason == "starved"
    evidence = held(list(rollout.collect_events())).evidence
    assert evidence is not None and evidence.candidate.runs == 0 and rollout.percent == 5


def test_a_split_far_from_the_stage_holds_as_a_sample_ratio_mismatch() -> None:
    rollout = started(spec(stages=[50, 100], min_runs_per_stage=10))
    traffic = Traffic(rollout, candidate=Behaviour(), seed=4, tenants=5000)
    traffic.run(1200)
    # Most candidate tenants' runs never reach the metrics: the split the guards see is skewed.
    dropped = {
        t for t in traffic.tenant_ids if rollout.arm_of(t, "pro").arm == "candidate" and int(t.split("-")[1]) % 3
    }
    seen = [o for o in traffic.outcomes if o.tenant_id not in dropped]
    rollout.collect_events()
    decision = rollout.look(traffic.now + timedelta(hours=1), seen)
    assert decision.action == "hold" and decision.reason == "sample_ratio_mismatch"
    evidence = held(list(rollout.collect_events())).evidence
    assert evidence is not None and evidence.sample_ratio is not None and evidence.sample_ratio.mismatch
    assert evidence.sample_ratio.expected_fraction == 0.5
    assert rollout.look(traffic.now + timedelta(hours=1), traffic.outcomes).reason != "sample_ratio_mismatch"


def test_too_little_evidence_after_the_minimum_runs_is_inconclusive_and_never_promotes() -> None:
    rollout = started(spec(stages=[50, 100], min_runs_per_stage=30))
    traffic = Traffic(rollout, candidate=Behaviour(), seed=5)
    traffic.run(200)
    rollout.collect_events()
    decision = rollout.look(traffic.now + timedelta(minutes=10), traffic.outcomes)
    assert decision.action == "hold" and decision.reason == "inconclusive"
    evidence = held(list(rollout.collect_events())).evidence
    assert evidence is not None and any(g.verdict == "inconclusive" for g in evidence.guards)
    assert rollout.percent == 50 and rollout.status == "running"


def test_the_stage_waits_for_its_dwell_time() -> None:
    rollout = started(spec(stages=[50, 100], min_runs_per_stage=5, min_dwell_s=3600))
    traffic = Traffic(rollout, candidate=Behaviour(), seed=6)
    traffic.run(100)
    assert rollout.look(traffic.now, traffic.outcomes).action == "wait"


def test_evidence_of_every_decision_reads_as_the_contract() -> None:
    rollout = started(spec(stages=[50, 100], min_runs_per_stage=30))
    traffic = Traffic(rollout, candidate=Behaviour(), seed=8)
    traffic.run(200)
    decision = rollout.look(traffic.now + timedelta(minutes=10), traffic.outcomes)
    assert decision.evidence is not None
    event = next(e for e in rollout.collect_events() if type(e).__name__ == "Held")
    evidence = Evidence.model_validate(event.evidence)  # type: ignore[attr-defined]
    assert evidence.percent == 50 and len(evidence.guards) == 5
    assert evidence.candidate.runs + evidence.stable.runs == 200


def test_a_look_kept_current_between_looks_sees_what_a_look_from_the_stored_outcomes_sees() -> None:
    rollout = started(spec(stages=[50, 100]))
    traffic = Traffic(rollout, candidate=Behaviour(fail_rate=0.05), seed=9, observations=rollout.observations())
    traffic.run(700)
    assert traffic.observations is not None
    rules = rules_of(rollout.spec, shadowing=False)
    kept = look(rules, 50, START, traffic.now, traffic.observations)
    rebuilt = look(rules, 50, START, traffic.now, traffic.outcomes)
    assert kept == rebuilt and kept.evidence is not None and kept.evidence.candidate.runs > 300


def test_outcomes_out_of_finishing_order_are_refused() -> None:
    rollout = started()
    traffic = Traffic(rollout, candidate=Behaviour(), seed=10)
    traffic.run(3)
    with pytest.raises(ValueError):
        look(rules_of(rollout.spec, shadowing=False), 5, START, traffic.now, traffic.outcomes[::-1])
