"""An event store written by an earlier version of the orchestrator reads the same today.

`tests/fixtures/orchestrator_log` holds a store of runs, questions and a monitor (snapshots
included) and what reading it gave when it was written: every aggregate's folded state and every
contract event its log publishes, ids and all. Moving a stored event class changes its topic and
changing one changes its fields; both must leave old stores readable, and the ids the relay
derives must not change (the bus de-duplicates on them).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from eventsourcing.domain import Snapshot

from quarry_runtime.outbox import aggregate_at
from services.orchestrator.application import Orchestrator
from services.orchestrator.bootstrap import outgoing_of
from services.orchestrator.runs.domain import RUN_TOPIC_BEFORE_MOVE, V1_DEFAULTS, Run
from services.orchestrator.runs.rebuild import fold_log
from tests.fixtures.orchestrator_log.record import DATABASE, EXPECTED, env, read


@pytest.fixture
def old_store(tmp_path: Path) -> Iterator[Orchestrator]:
    copy = tmp_path / DATABASE.name
    shutil.copyfile(DATABASE, copy)
    app = Orchestrator(env=env(copy))
    yield app
    app.close()


def test_an_old_store_folds_to_the_state_it_had_and_publishes_the_same_events(old_store: Orchestrator) -> None:
    expected = json.loads(EXPECTED.read_text())
    seen = json.loads(json.dumps(read(old_store, outgoing_of(aggregate_at(old_store), lambda a, tool: None))))
    assert seen["aggregates"].keys() == expected["aggregates"].keys()
    for aggregate_id, state in expected["aggregates"].items():
        if "review_plan" in state:  # a run: it now always carries whose fault a failure was
            state.setdefault("failure_fault", "platform")
            # ... and the agent versions it was admitted with: none then, the built-in settings.
            state.setdefault("agent_versions", {})
            state.setdefault("rollouts", {})
        assert seen["aggregates"][aggregate_id] == state, aggregate_id
    for published in expected["published"]:  # a report's methods now say how many claims were off the question
        methods = (published["event"]["payload"].get("input") or {}).get("methods")
        if methods is not None:
            methods.setdefault("claims_off_question", None)
        if published["event"]["type"] == "run.admitted":  # an admission now names the agent versions
            published["event"]["payload"].update(agent_versions={}, rollouts={})
        if published["event"]["type"] == "task.dispatched":  # ... and a task the one it runs
            published["event"]["payload"].setdefault("agent", None)
            # ... and whether it is a rollout's shadow (never, then)
            for name, default in (("shadow", False), ("shadow_of", None), ("rollout_id", None)):
                published["event"]["payload"].setdefault(name, default)
        if published["event"]["type"] == "timer.fired":  # a timer may now be a rollout's
            published["event"]["payload"].setdefault("rollout_id", None)
    assert seen["published"] == expected["published"]


def test_the_old_store_holds_snapshots_and_reading_from_them_gives_the_same_state(old_store: Orchestrator) -> None:
    assert old_store.snapshots is not None
    expected = json.loads(EXPECTED.read_text())["aggregates"]
    ended = [i for i, s in expected.items() if s.get("state") in ("completed", "failed") and "question_id" not in s]
    assert len(ended) == 2
    for run_id in ended:
        (snapshot,) = old_store.snapshots.get(old_store.get_run(run_id).id)
        assert isinstance(snapshot, Snapshot)
        folded = snapshot.mutate(None)
        assert isinstance(folded, Run)
        assert (folded.state, folded.version) == (expected[run_id]["state"], expected[run_id]["_version"])


def test_a_run_snapshot_from_before_its_later_fields_reads_with_what_such_a_run_had(old_store: Orchestrator) -> None:
    expected = json.loads(EXPECTED.read_text())["aggregates"]
    (run_id,) = [i for i, s in expected.items() if s.get("state") == "completed" and "question_id" not in s]
    (snapshot,) = old_store.snapshots.get(old_store.get_run(run_id).id) if old_store.snapshots else []
    assert isinstance(snapshot, Snapshot)
    version_1 = {k: v for k, v in snapshot.state.items() if k not in V1_DEFAULTS}
    old = type(snapshot)(
        originator_id=snapshot.originator_id,
        originator_version=snapshot.originator_version,
        timestamp=snapshot.timestamp,
        topic=RUN_TOPIC_BEFORE_MOVE,
        state=version_1,
    )
    run = old.mutate(None)
    assert isinstance(run, Run)
    assert {name: getattr(run, name) for name in V1_DEFAULTS} == V1_DEFAULTS
    assert run.search_tallies is not V1_DEFAULTS["search_tallies"], "each run gets its own tallies"
    assert run.state == "completed" and run.version == expected[run_id]["_version"]
    # A snapshot taken now says which version it is, so it is not upcast again.
    assert Run.Snapshot.take(run).state["class_version"] == 3
    assert (run.agent_versions, run.rollouts) == ({}, {}), "a run from before agent versions used none"


def test_rebuilding_runs_from_an_old_log_finds_every_run_under_its_old_topics(old_store: Orchestrator) -> None:
    expected = json.loads(EXPECTED.read_text())["aggregates"]
    runs = {i: s for i, s in expected.items() if "review_plan" in s}
    rebuilt = fold_log(old_store, batch=7)
    assert rebuilt.keys() == runs.keys()
    assert {i: (r.state, r.version) for i, r in rebuilt.items()} == {
        i: (s["state"], s["_version"]) for i, s in runs.items()
    }
