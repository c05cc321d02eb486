"""The run view kept by the gateway: one step per event when events arrive in order, a refold when
one overtook others, the same view either way as folding the whole log."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from bench.runs_fixture import gateway_events, generate
from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.store import SqlDatabase
from services.gateway.readmodel import fold_run
from services.gateway.store import GatewayStore


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
