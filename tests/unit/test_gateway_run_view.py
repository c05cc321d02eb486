"""The run view kept by the gateway: one step per event when events arrive in order, a refold when
one overtook others, the same view either way as folding the whole log."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.store import SqlDatabase
from services.gateway.readmodels.run_view import fold_run
from services.gateway.readmodels.store import GatewayStore
from tests.support.runs_fixture import gateway_events, generate


@pytest.mark.parametrize("order", ["in order", "shuffled", "reversed"])
def test_the_stored_view_equals_a_fold_of_the_whole_log(tmp_path: Path, order: str) -> None:
    envelopes = gateway_events(generate(3, seed=11))
    if order == "shuffled":
        random.Random(5).shuffle(envelopes)
    elif order == "reversed":
        envelopes.reverse()
    db = SqlDatabase(RuntimeSettings(data_dir=tmp_path), "gateway")
    store = GatewayStore(db, prefix="t_")
    try:
        for envelope in envelopes:
            store.record_run_event(envelope)
        rows = store.run_rows()
        by_run: dict[str, list[dict[str, object]]] = {}
        for envelope in envelopes:
            if envelope.run_id:
                by_run.setdefault(envelope.run_id, []).append(json.loads(envelope.model_dump_json()))
        assert rows.keys() == by_run.keys()
        for run_id, events in by_run.items():
            assert rows[run_id]["view"] == fold_run(events), run_id
            assert rows[run_id]["state"] == "completed"
    finally:
        store.drop_read_models()
        db.close()


def test_the_bulk_rebuild_writes_the_rows_the_live_path_writes(tmp_path: Path) -> None:
    """`record_run_events` (what `quarry replay` rebuilds with) against `record_run_event` one by
    one: the same rows and logs, whatever the batches, and a batch replayed again changes nothing."""
    envelopes = gateway_events(generate(4, seed=13))
    db = SqlDatabase(RuntimeSettings(data_dir=tmp_path), "gateway")
    live, bulk = GatewayStore(db, prefix="live_"), GatewayStore(db, prefix="bulk_")
    try:
        for envelope in envelopes:
            live.record_run_event(envelope)
        shuffled = list(envelopes)
        random.Random(3).shuffle(shuffled)
        half = len(shuffled) // 2
        new = bulk.record_run_events(shuffled[:half]) + bulk.record_run_events(shuffled[half:])
        assert bulk.record_run_events(shuffled[: half // 2]) == 0, "events already logged are skipped"
        assert new == sum(1 for rows in live.run_event_ids().values() for _ in rows)
        assert bulk.run_event_ids() == live.run_event_ids()
        assert bulk.run_rows() == live.run_rows()
        assert {row["state"] for row in bulk.run_rows().values()} == {"completed"}
    finally:
        live.drop_read_models()
        bulk.drop_read_models()
        db.close()
