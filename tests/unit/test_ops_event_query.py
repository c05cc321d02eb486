"""What an operator's event query matches, and what of an event they are shown."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from contracts import subjects
from services.gateway.domain.event_query import (
    EventQuery,
    envelope_view,
    gaps_s,
    parsed,
    payload_filters,
    subject_of_type,
)

AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
EVENT = {
    "event_id": "e1",
    "type": "tool.decided",
    "tenant_id": "t1",
    "run_id": "r1",
    "actor": {"user_id": "u1", "agent": "analyst"},
    "payload": {"tool": "fetch_url", "allowed": True, "limits": {"pages": 3}, "question_id": "q1"},
}


def test_a_type_narrows_the_subject_jetstream_filters_on_and_a_task_goes_to_every_lane() -> None:
    assert EventQuery(type="tool.decided").filter_subject() == subjects.TOOL_DECIDED
    assert EventQuery(type="task.dispatched").filter_subject() == f"{subjects.TASK_DISPATCHED}.>"
    assert EventQuery(subject="run.>", type="run.failed").filter_subject() == "run.>"
    assert EventQuery(type="no.such").filter_subject() == ">" and EventQuery().filter_subject() == ">"
    assert subject_of_type("no.such") is None


def test_each_filter_must_hold_and_payload_values_compare_as_the_query_spells_them() -> None:
    assert EventQuery(tenant="t1", type="tool.decided").matches(EVENT, AT)
    assert not EventQuery(tenant="t2").matches(EVENT, AT)
    assert EventQuery(run="r1").matches(EVENT, AT) and EventQuery(run="q1").matches(EVENT, AT)
    assert not EventQuery(run="r2").matches(EVENT, AT)
    wanted = payload_filters([("payload.tool", "fetch_url"), ("payload.allowed", "true"), ("limit", "5")])
    assert wanted == (("tool", "fetch_url"), ("allowed", "true"))
    assert EventQuery(payload=wanted).matches(EVENT, AT)
    assert EventQuery(payload=(("limits.pages", "3"),)).matches(EVENT, AT)
    assert not EventQuery(payload=(("tool", "web_search"),)).matches(EVENT, AT)
    assert not EventQuery(payload=(("missing", "null"),)).matches(EVENT, AT)  # absent is not null
    assert not EventQuery(payload=(("tool", "fetch_url"),)).matches({**EVENT, "payload": "text"}, AT)


def test_times_bound_the_query_and_a_malformed_message_matches_only_queries_on_subject_and_time() -> None:
    assert EventQuery(since=AT, until=AT + timedelta(seconds=1)).matches(EVENT, AT)
    assert not EventQuery(since=AT + timedelta(seconds=1)).matches(EVENT, AT)
    assert not EventQuery(until=AT).matches(EVENT, AT)
    assert parsed(b"{not json") is None and parsed(b"[1]") is None
    assert EventQuery(since=AT).matches(None, AT) and not EventQuery(tenant="t1").matches(None, AT)


def test_an_operator_sees_the_envelope_and_sizes_and_the_payload_only_when_allowed() -> None:
    data = json.dumps(EVENT).encode()
    headers = {"Nats-Msg-Id": "e1", "traceparent": "00-abc-def-01", "Quarry-Type": "tool.decided", "Other": "x"}
    seen = envelope_view(data, headers, with_payload=False)
    assert seen["payload"] is None and seen["size"] == len(data) and seen["payload_size"] > 0
    assert (seen["event_id"], seen["tenant_id"], seen["run_id"], seen["actor_agent"]) == ("e1", "t1", "r1", "analyst")
    assert seen["headers"] == {"Nats-Msg-Id": "e1", "traceparent": "00-abc-def-01", "Quarry-Type": "tool.decided"}
    assert envelope_view(data, headers, with_payload=True)["payload"] == EVENT["payload"]
    broken = envelope_view(b"{oops", {}, with_payload=False)
    assert broken["malformed"] and broken["payload"] is None and "event_id" not in broken
    assert envelope_view(b"{oops", {}, with_payload=True)["payload"] == "{oops"


def test_the_gap_before_each_event_is_the_time_since_the_one_before() -> None:
    assert gaps_s([AT, AT + timedelta(seconds=2), AT + timedelta(seconds=2.5)]) == [None, 2.0, 0.5]
    assert gaps_s([]) == []
