"""Quarry's recorders (binary inserts on PostgreSQL, many rows a statement on SQLite) store and
number events exactly as eventsourcing's own recorders do."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, TypedDict

import pytest
from eventsourcing.persistence import ApplicationRecorder, InfrastructureFactory, IntegrityError, StoredEvent, Tracking

from quarry_runtime import recorders
from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.store import EVENT_PAGE_SIZE, eventstore_env
from services.orchestrator.application import Orchestrator
from tests.support.runs_fixture import generate

pytestmark = pytest.mark.infra

STOCK = {"sqlite": "eventsourcing.sqlite", "postgres": "eventsourcing.postgres"}


class EventsQuery(TypedDict, total=False):
    """The keyword arguments of a recorder's `select_events`."""

    gt: int
    lte: int
    desc: bool
    limit: int


def _app(backend: str, tmp_path: Path, database_url: str | None, tag: str, stock: bool) -> Orchestrator:
    settings = RuntimeSettings(data_dir=tmp_path / tag, database_url=database_url, db_schema_prefix=f"rec_{tag}")
    env = eventstore_env(settings, "orchestrator")
    if stock:
        env = {**env, "PERSISTENCE_MODULE": STOCK[backend]}
        env.pop("TRANSCODER_TOPIC")
    return Orchestrator(env=env)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    url = request.getfixturevalue("database_url") if request.param == "postgres" else None
    return request.param, url


def _rows(recorder: ApplicationRecorder) -> list[tuple[Any, ...]]:
    last = recorder.max_notification_id() or 0
    return [
        (n.id, str(n.originator_id), n.originator_version, n.topic, bytes(n.state))
        for n in recorder.select_notifications(start=1, limit=last + 1)
    ]


def test_the_notification_log_and_ids_are_the_stock_recorders(backend: tuple[str, str | None], tmp_path: Path) -> None:
    name, url = backend
    fixture = generate(12, seed=5)
    notes = fixture.app.recorder.select_notifications(start=1, limit=fixture.event_count() + 1)
    stored = [StoredEvent(n.originator_id, n.originator_version, n.topic, n.state) for n in notes]
    # Batches that interleave runs, one larger than a SQLite statement takes, and single events.
    big = recorders.SQLITE_ROWS_PER_INSERT + 37
    assert len(stored) > big + 40
    batches = [stored[:big], *[[one] for one in stored[big : big + 5]], stored[big + 5 :]]
    ours = _app(name, tmp_path, url, "ours", stock=False)
    stock = _app(name, tmp_path, url, "stock", stock=True)
    try:
        assert type(ours.recorder).__module__ == recorders.__name__
        for batch in batches:
            ids = ours.recorder.insert_events(batch)
            assert ids == stock.recorder.insert_events(batch)
            assert ids is not None and len(ids) == len(batch)
            # Each id names its own event, in the order given.
            found = ours.recorder.select_notifications(start=ids[0], limit=len(batch))
            by_id = {n.id: (n.originator_id, n.originator_version) for n in found}
            assert [by_id[i] for i in ids] == [(e.originator_id, e.originator_version) for e in batch]
        assert _rows(ours.recorder) == _rows(stock.recorder)
        with pytest.raises(IntegrityError):
            ours.recorder.insert_events([*stored[-3:], stored[0]])
        assert _rows(ours.recorder) == _rows(stock.recorder), "a refused batch leaves nothing behind"
        # An aggregate's events read back as the stock recorder reads them (SQLite: one statement).
        run = stored[big].originator_id
        queries: list[EventsQuery] = [
            {},
            {"gt": 2},
            {"lte": 3},
            {"gt": 1, "lte": 5, "desc": True, "limit": 2},
            {"gt": 10_000},
        ]
        for query in queries:
            events = ours.recorder.select_events(run, **query)
            assert events == stock.recorder.select_events(run, **query), query
        assert len(ours.recorder.select_events(run)) > 5
    finally:
        ours.close()
        stock.close()


def test_snapshots_go_through_the_binary_recorder_too(backend: tuple[str, str | None], tmp_path: Path) -> None:
    name, url = backend
    fixture = generate(2, seed=9)
    app = _app(name, tmp_path, url, "snap", stock=False)
    try:
        for save in fixture.saves:
            app.save(*save)
        run_id = next(iter({e.originator_id for save in fixture.saves for e in save}))
        app.take_snapshot(run_id)
        assert app.snapshots is not None
        assert app.repository.get(run_id).__dict__ == fixture.app.repository.get(run_id).__dict__
        assert list(app.snapshots.get(run_id, desc=True, limit=1))
        if name == "postgres":
            assert isinstance(app.snapshots.recorder, recorders.BinaryAggregateRecorder)
    finally:
        app.close()


def test_a_new_sqlite_event_store_has_large_pages_and_an_old_one_keeps_its_own(tmp_path: Path) -> None:
    settings = RuntimeSettings(data_dir=tmp_path / "new")
    app = Orchestrator(env=eventstore_env(settings, "orchestrator"))
    app.close()
    path = settings.service_dir("orchestrator") / "events.sqlite3"
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA page_size").fetchone()[0] == EVENT_PAGE_SIZE
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    old = RuntimeSettings(data_dir=tmp_path / "old")
    old_path = old.service_dir("orchestrator") / "events.sqlite3"
    old_path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(old_path) as conn:
        conn.execute("CREATE TABLE kept (x INTEGER)")
    Orchestrator(env=eventstore_env(old, "orchestrator")).close()
    with sqlite3.connect(old_path) as conn:
        assert conn.execute("PRAGMA page_size").fetchone()[0] == 4096
        assert conn.execute("SELECT COUNT(*) FROM kept").fetchone()[0] == 0


def test_the_process_recorders_insert_events_and_their_tracking_row(
    backend: tuple[str, str | None], tmp_path: Path
) -> None:
    _, url = backend
    settings = RuntimeSettings(data_dir=tmp_path / "proc", database_url=url, db_schema_prefix="rec_proc")
    factory = InfrastructureFactory.construct(env=eventstore_env(settings, "orchestrator"))
    recorder = factory.process_recorder()
    try:
        assert type(recorder).__module__ == recorders.__name__
        fixture = generate(1, seed=4)
        stored = [
            StoredEvent(n.originator_id, n.originator_version, n.topic, n.state)
            for n in fixture.app.recorder.select_notifications(start=1, limit=recorders.SQLITE_ROWS_PER_INSERT + 1)
        ][:12]
        ids = recorder.insert_events(stored, tracking=Tracking(notification_id=7, application_name="upstream"))
        assert ids is not None and len(ids) == len(stored)
        found = recorder.select_notifications(start=ids[0], limit=len(stored))
        assert [(n.originator_id, n.originator_version) for n in found] == [
            (e.originator_id, e.originator_version) for e in stored
        ]
        assert recorder.max_tracking_id("upstream") == 7
    finally:
        factory.close()
