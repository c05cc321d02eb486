"""The orjson transcoder writes what eventsourcing's JSONTranscoder writes, and reads it back the same."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime
from typing import Any

import pytest
from eventsourcing.domain import Aggregate, Snapshot
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, Mapper, TranscodingNotRegisteredError

from bench.runs_fixture import generate
from quarry_runtime.eventcodec import FastJSONTranscoder
from services.billing.domain import Ledger
from services.orchestrator.application import Orchestrator
from services.orchestrator.monitors.domain import Monitor
from services.orchestrator.questions.domain import Question
from services.orchestrator.runs.domain import Run

AGGREGATES: tuple[type[Aggregate], ...] = (Run, Question, Monitor, Ledger)


def _mappers(app: Orchestrator) -> tuple[Mapper[Any], Mapper[Any]]:
    stock, fast = JSONTranscoder(), FastJSONTranscoder()
    app.register_transcodings(stock)
    app.register_transcodings(fast)
    return Mapper(transcoder=stock), Mapper(transcoder=fast)


def test_every_event_and_snapshot_of_generated_runs_encodes_to_the_same_bytes() -> None:
    fixture = generate(4, seed=11)
    stock, fast = _mappers(fixture.app)
    events = [event for save in fixture.saves for event in save]
    snapshots = [Snapshot.take(fixture.app.repository.get(Run.create_id(run_id))) for run_id in fixture.run_ids]
    assert len(events) > 150
    for item in [*events, *snapshots]:
        expected = stock.to_stored_event(item)
        found = fast.to_stored_event(item)
        assert found.state == expected.state, type(item).__qualname__
        decoded = fast.to_domain_event(found)
        assert decoded.__dict__ == item.__dict__


def test_values_orjson_refuses_fall_back_to_the_standard_encoder() -> None:
    stock, fast = JSONTranscoder(), FastJSONTranscoder()
    for transcoder in (stock, fast):
        transcoder.register(DatetimeAsISO())
    value = {"big": 2**70, "when": datetime(2026, 12, 5, tzinfo=UTC), "ok": [1, "é"]}
    assert fast.encode(value) == stock.encode(value)
    assert fast.decode(fast.encode(value)) == value


def test_an_unregistered_type_is_refused_as_the_stock_transcoder_refuses_it() -> None:
    class Opaque:
        pass

    with pytest.raises(TranscodingNotRegisteredError):
        FastJSONTranscoder().encode({"x": Opaque()})


@pytest.mark.parametrize("aggregate", AGGREGATES, ids=lambda a: a.__name__)
def test_no_stored_event_declares_a_uuid_field(aggregate: type[Aggregate]) -> None:
    """orjson writes a UUID as its string, which would come back as a str: events carry ids as str."""
    event_classes = [
        member for member in vars(aggregate).values() if inspect.isclass(member) and issubclass(member, aggregate.Event)
    ]
    assert event_classes, f"{aggregate.__name__} has no event classes?"
    for cls in event_classes:
        for klass in cls.__mro__:
            if not klass.__module__.startswith("services."):
                continue  # eventsourcing's own fields: the mapper takes the originator id out of the state
            for name, annotation in inspect.get_annotations(klass).items():
                assert "UUID" not in str(annotation), f"{cls.__qualname__}.{name}: {annotation}"


def test_what_orjson_cannot_parse_is_read_by_the_standard_decoder() -> None:
    stock, fast = JSONTranscoder(), FastJSONTranscoder()
    for transcoder in (stock, fast):
        transcoder.register(DatetimeAsISO())
    written = stock.encode({"score": float("nan"), "big": 2**70, "when": datetime(2026, 12, 5, tzinfo=UTC)})
    read = fast.decode(written)
    assert read["big"] == 2**70 and read["score"] != read["score"] and read["when"] == datetime(2026, 12, 5, tzinfo=UTC)


def test_objects_are_revived_inside_out_as_the_object_hook_revives_them() -> None:
    stock, fast = JSONTranscoder(), FastJSONTranscoder()
    for transcoder in (stock, fast):
        transcoder.register(DatetimeAsISO())
    value = {
        "at": [datetime(2026, 1, 1, tzinfo=UTC), {"nested": {"deeper": datetime(2026, 2, 2, tzinfo=UTC)}}],
        "look_alike": {"_type_": "x", "other": 1},
        "empty": {},
        "lists": [[], [[1, 2], {"_data_": 3}]],
    }
    data = stock.encode(value)
    assert fast.decode(data) == stock.decode(data) == value


def test_small_floats_are_spelled_otherwise_and_read_back_the_same() -> None:
    stock, fast = JSONTranscoder(), FastJSONTranscoder()
    value = {"scores": [1.5e-05, 1e-06, 2.5e-07, 0.1, 1e16, -0.0, 123.456]}
    for written in (stock.encode(value), fast.encode(value)):
        assert stock.decode(written) == fast.decode(written) == value
