"""The Rollout aggregate: folded from its events; operators pause, resume, abort and re-randomise."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest

from services.orchestrator.rollouts.assignment import Assignment
from services.orchestrator.rollouts.domain import Rollout, RolloutError
from services.orchestrator.rollouts.guards import RunOutcome
from tests.support.rollout_traffic import CANDIDATE, STABLE, START, Behaviour, Traffic, spec, started

HALF = spec(stages=[50, 100], min_runs_per_stage=30)


def folded(events: list[Any]) -> Rollout:
    state: Rollout | None = None
    for event in events:
        state = event.mutate(state)
    assert state is not None
    return state


def state_of(rollout: Rollout) -> dict[str, Any]:
    keep = ("status", "percent", "stage_index", "salt", "stage_started_at", "decisions", "last_hold", "version")
    return {name: getattr(rollout, name) for name in keep}


def healthy_traffic(rollout: Rollout, runs: int, seed: int) -> Traffic:
    traffic = Traffic(rollout, candidate=Behaviour(), seed=seed, observations=rollout.observations())
    traffic.run(runs)
    return traffic


def test_the_state_is_folded_from_the_rollouts_own_events() -> None:
    rollout = started(HALF)
    traffic = healthy_traffic(rollout, 200, seed=1)
    rollout.look(traffic.now + timedelta(minutes=10), traffic.outcomes)  # held: inconclusive
    rollout.pause("looking into a ticket", traffic.now + timedelta(minutes=11))
    rollout.resume("fine", traffic.now + timedelta(minutes=12))
    rollout.rerandomise("second draw", "tenant skew", traffic.now + timedelta(minutes=13))
    events = list(rollout.collect_events())
    assert [type(e).__name__ for e in events] == ["Started", "Held", "Paused", "Resumed", "TenantsRerandomised"]
    assert state_of(folded(events)) == state_of(rollout)
    assert [d["kind"] for d in rollout.decisions] == ["held", "paused", "resumed", "rerandomised"]


def test_a_paused_rollout_does_not_promote_but_resumed_it_does() -> None:
    rollout = started(HALF)
    traffic = healthy_traffic(rollout, 10_000, seed=2)
    rollout.pause("freeze for the release", traffic.now)
    rollout.collect_events()
    later = traffic.now + timedelta(hours=1)
    assert traffic.observations is not None
    assert rollout.look(later, traffic.observations).action == "wait"
    # The look is recorded (it sets the next one) but decides nothing.
    assert [type(e).__name__ for e in rollout.collect_events()] == ["Looked"] and rollout.percent == 50
    rollout.resume("release out", later)
    assert rollout.look(later, traffic.observations).action == "promote"
    assert rollout.status == "completed" and rollout.percent == 100


def test_harm_rolls_back_even_while_paused() -> None:
    rollout = started(HALF)
    rollout.pause("", START)
    traffic = Traffic(rollout, candidate=Behaviour(fail_rate=1.0), seed=3)
    traffic.run(300)
    assert rollout.look(traffic.now, traffic.outcomes).action == "roll_back"
    assert rollout.status == "rolled_back" and rollout.version_of("tenant-1", "pro") == STABLE


def test_an_aborted_rollout_sends_everyone_to_the_stable_version_and_takes_no_more_commands() -> None:
    rollout = started(spec(stages=[50, 100], audience={"pinned": {"tenant-7": "candidate"}}))
    assert rollout.version_of("tenant-7", "pro") == CANDIDATE
    rollout.abort("wrong model", START + timedelta(minutes=1))
    assert {rollout.version_of(f"tenant-{i}", "pro") for i in range(200)} == {STABLE}
    for command in (
        lambda: rollout.look(START, []),
        lambda: rollout.pause("", START),
        lambda: rollout.abort("", START),
        lambda: rollout.rerandomise("x", "", START),
    ):
        with pytest.raises(RolloutError):
            command()
    with pytest.raises(RolloutError):
        rollout.resume("", START)


def test_re_randomising_draws_the_buckets_again_and_starts_the_stage_over() -> None:
    rollout = started(HALF)
    tenants = [f"tenant-{i}" for i in range(1000)]
    before = [rollout.arm_of(t, "pro").arm for t in tenants]
    at = START + timedelta(hours=2)
    rollout.rerandomise("0190a000-0000-7000-8000-0000000000aa.1", "a skewed first draw", at)
    after = [rollout.arm_of(t, "pro").arm for t in tenants]
    assert 0.4 < sum(a != b for a, b in zip(before, after, strict=True)) / len(tenants) < 0.6
    assert rollout.stage_started_at == at and rollout.percent == 50
    with pytest.raises(RolloutError):
        rollout.rerandomise(rollout.salt, "", at)


def test_a_rollout_needs_a_passed_evaluation_a_different_stable_version_and_a_first_stage_below_all() -> None:
    rollout_id = "0190a000-0000-7000-8000-0000000000ab"
    for given, stable, passed in (
        (spec(), STABLE, False),
        (spec(), CANDIDATE, True),
        (spec(stages=[100]), STABLE, True),
    ):
        with pytest.raises(RolloutError):
            Rollout.start(rollout_id, given, stable, START, passed_eval=passed)
    assert Rollout.start(rollout_id, spec(stages=[100], shadow={"sample_rate": 0.5}), STABLE, START, passed_eval=True)


def shadow_outcomes(runs: int, seed: int) -> list[RunOutcome]:
    """Each real (stable) run, and the candidate's shadow run on the same input right after."""
    rng = random.Random(seed)
    found = []
    for i in range(runs):
        at = START + timedelta(seconds=2 * i)
        for arm in ("stable", "candidate"):
            found.append(Behaviour().outcome(rng, Assignment(arm, "bucket", 0), f"tenant-{i % 50}", at))
    return found


def test_a_shadowing_rollout_exposes_no_tenant_and_moves_to_its_first_stage_on_shadow_evidence() -> None:
    rollout = started(spec(shadow={"sample_rate": 1.0, "min_runs": 100}))
    assert rollout.status == "shadowing" and rollout.percent == 0
    assert {rollout.version_of(f"tenant-{i}", "pro") for i in range(500)} == {STABLE}
    outcomes = shadow_outcomes(6000, seed=4)
    decision = rollout.look(outcomes[-1].finished_at, outcomes)
    assert decision.action == "promote" and decision.evidence is not None
    assert decision.evidence.sample_ratio is None  # nothing is split while shadowing
    assert rollout.status == "running" and rollout.percent == 5
    assert [(d["kind"], d["percent"]) for d in rollout.decisions] == [("promoted", 5)]
