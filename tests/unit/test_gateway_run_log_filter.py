"""Which events go to a run's log: the shortcut for payloads that cannot mark a question's or a
shadow's event decides as the full predicates do, for every event type the contracts define."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from contracts.envelope import Event
from contracts.question import is_question_event
from contracts.registry import EVENT_TYPES
from contracts.run import RunRequested, RunRequestedPayload
from contracts.tool import ToolRequested
from services.gateway.readmodels.projection import MARKS, _may_be_marked, for_run_log, is_shadow
from services.gateway.readmodels.runs import run_log_of


def _payload_type(cls: type[Event]) -> type[BaseModel] | None:
    annotation = cls.model_fields["payload"].annotation
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _full_answer(ev: Event) -> bool:
    if ev.type.startswith(("document.", "monitor.", "question.")):
        return False
    return run_log_of(ev) is not None and not is_question_event(ev) and not is_shadow(ev)


@pytest.mark.parametrize("cls", [cls for cls in EVENT_TYPES if _payload_type(cls) is not None], ids=lambda c: c.TYPE)
def test_every_event_type_is_filed_as_the_full_predicates_file_it(cls: type[Event]) -> None:
    payload_type = _payload_type(cls)
    assert payload_type is not None
    # Each field at its default, then each set (unvalidated) to True: a predicate that came to read
    # a field the shortcut does not know of would then disagree with it.
    for payload in (
        payload_type.model_construct(),
        payload_type.model_construct(None, **dict.fromkeys(payload_type.model_fields, True)),
    ):
        ev = cls.model_construct(type=cls.TYPE, tenant_id="t1", run_id="r1", payload=payload)
        assert for_run_log(ev) == _full_answer(ev), payload


def test_a_run_request_skips_the_attribute_misses_and_a_marked_payload_does_not() -> None:
    assert not _may_be_marked(RunRequestedPayload)
    ev = RunRequested.create(
        RunRequestedPayload(question="Why is the sky blue?", depth=1, max_sources=1), tenant_id="t1", run_id="r1"
    )
    assert for_run_log(ev)
    tool_payload = _payload_type(ToolRequested)
    assert tool_payload is not None and "tool" in MARKS and _may_be_marked(tool_payload)


def test_a_payload_that_keeps_extra_fields_or_is_no_model_is_asked_in_full() -> None:
    class Open(BaseModel, extra="allow"):
        note: str = ""

    assert _may_be_marked(Open)
    assert _may_be_marked(dict)
