"""rebuild_runs (latest snapshots + the events after them, two queries) equals repository.get, on both stores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import StoredEvent

from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.store import eventstore_env
from services.orchestrator.application import Orchestrator
from services.orchestrator.runs.domain import Run
from services.orchestrator.runs.rebuild import fold_log, rebuild_runs
from tests.support.runs_fixture import generate

pytestmark = pytest.mark.infra


@pytest.fixture(params=["sqlite", "postgres"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Orchestrator:
    url = request.getfixturevalue("database_url") if request.param == "postgres" else None
    settings = RuntimeSettings(data_dir=tmp_path, database_url=url, db_schema_prefix="rebuild")
    return Orchestrator(env=eventstore_env(settings, "orchestrator"))


def test_rebuilt_runs_equal_what_the_repository_folds(app: Orchestrator) -> None:
    fixture = generate(5, seed=3)
    notes = fixture.app.recorder.select_notifications(start=1, limit=fixture.event_count() + 1)
    app.recorder.insert_events([StoredEvent(n.originator_id, n.originator_version, n.topic, n.state) for n in notes])
    ids = {run_id: Run.create_id(run_id) for run_id in fixture.run_ids}
    untouched, middle, twice, ended, _ = fixture.run_ids
    # One run without a snapshot, one snapshotted half-way, one twice, one at its last version.
    app.take_snapshot(ids[middle], version=20)
    app.take_snapshot(ids[twice], version=10)
    app.take_snapshot(ids[twice], version=40)
    app.take_snapshot(ids[ended], version=app.repository.get(ids[ended]).version)
    try:
        expected: dict[str, dict[str, Any]] = {
            run_id: app.repository.get(aggregate_id).__dict__ for run_id, aggregate_id in ids.items()
        }
        rebuilt = rebuild_runs(app)
        assert {run_id: run.__dict__ for run_id, run in rebuilt.items()} == expected
        assert {run_id: run.__dict__ for run_id, run in fold_log(app, batch=7).items()} == expected
        some = rebuild_runs(app, [middle, untouched])
        assert set(some) == {middle, untouched}
        assert some[middle].__dict__ == expected[middle]
        assert rebuilt[untouched].version > 40, "a run's whole history folds when it has no snapshot"
    finally:
        app.close()
