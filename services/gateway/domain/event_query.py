"""What an operator asks of the event stream, and what of each event they are shown.

Pure: a query's filters, whether one stored event matches them, the envelope an operator sees
(ids, type, times, sizes, headers, never the payload unless they may read payloads), and the
gaps between the events of a run. The subject filter is the one JetStream applies itself; a
type names a subject, so it narrows on the server too. The rest is matched here on the parsed
envelope.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from contracts import subjects
from contracts.registry import EVENT_TYPES

ALL: Final = ">"
# Headers an operator is shown: de-duplication and trace, and the bus's own (`Quarry-*`).
SHOWN_HEADERS: Final = ("Nats-Msg-Id", "traceparent", "tracestate")
_SUBJECT_OF_TYPE: Final = {cls.TYPE: cls.SUBJECT for cls in EVENT_TYPES}


def subject_of_type(event_type: str) -> str | None:
    """The subject events of `event_type` are published on (a task's on every worker's lane)."""
    subject = _SUBJECT_OF_TYPE.get(event_type)
    if subject == subjects.TASK_DISPATCHED:
        return f"{subject}.>"
    return subject


def parsed(data: bytes) -> dict[str, Any] | None:
    """The message as an envelope, or None when it is not a JSON object (a malformed event)."""
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


_MISSING: Final = object()


def _field(value: Any, path: list[str]) -> Any:
    for name in path:
        if not isinstance(value, dict) or name not in value:
            return _MISSING  # never equal to a value asked for, `null` included
        value = value[name]
    return value


def _as_text(value: Any) -> str:
    """A JSON scalar as a query string spells it (`true`, `3`, `fetch_url`)."""
    return value if isinstance(value, str) else json.dumps(value)


@dataclass(frozen=True)
class EventQuery:
    """`run` matches the run an event belongs to or the question it is about; `payload` holds
    (dotted path below the payload, expected value) pairs, each of which must hold."""

    subject: str | None = None
    tenant: str | None = None
    run: str | None = None
    type: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    payload: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def filter_subject(self) -> str:
        """The subject filter JetStream applies: the one asked, else the type's, else all."""
        if self.subject:
            return self.subject
        return (subject_of_type(self.type) if self.type else None) or ALL

    def reads_envelopes(self) -> bool:
        """Whether matching needs each message parsed (else the subject and time decide)."""
        return bool(self.tenant or self.run or self.type or self.payload)

    def matches(self, envelope: dict[str, Any] | None, at: datetime) -> bool:
        if (self.since and at < self.since) or (self.until and at >= self.until):
            return False
        if not self.reads_envelopes():
            return True
        if envelope is None:
            return False
        if self.tenant and envelope.get("tenant_id") != self.tenant:
            return False
        if self.type and envelope.get("type") != self.type:
            return False
        payload = envelope.get("payload")
        if self.run and self.run not in (envelope.get("run_id"), _field(payload, ["question_id"])):
            return False
        found = [(_field(payload, path.split(".")), expected) for path, expected in self.payload]
        return all(value is not _MISSING and _as_text(value) == expected for value, expected in found)


def payload_filters(params: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """The `payload.<path>=<value>` pairs among a request's query parameters."""
    return tuple((name.removeprefix("payload."), value) for name, value in params if name.startswith("payload."))


def envelope_view(data: bytes, headers: dict[str, str], *, with_payload: bool) -> dict[str, Any]:
    """What an operator sees of one message: its envelope and sizes, the payload only if allowed."""
    envelope = parsed(data)
    shown = {k: v for k, v in headers.items() if k in SHOWN_HEADERS or k.startswith("Quarry-")}
    view: dict[str, Any] = {"size": len(data), "headers": shown, "malformed": envelope is None}
    if envelope is None:
        view["payload"] = data.decode(errors="replace") if with_payload else None
        return view
    payload = envelope.get("payload")
    actor = envelope.get("actor") if isinstance(envelope.get("actor"), dict) else {}
    view |= {
        "event_id": envelope.get("event_id"),
        "type": envelope.get("type"),
        "schema_version": envelope.get("schema_version"),
        "occurred_at": envelope.get("occurred_at"),
        "tenant_id": envelope.get("tenant_id"),
        "run_id": envelope.get("run_id"),
        "causation_id": envelope.get("causation_id"),
        "actor_user_id": actor.get("user_id") if isinstance(actor, dict) else None,
        "actor_agent": actor.get("agent") if isinstance(actor, dict) else None,
        "payload_size": len(json.dumps(payload, separators=(",", ":")).encode()),
        "payload": payload if with_payload else None,
    }
    return view


def gaps_s(times: list[datetime]) -> list[float | None]:
    """Seconds from each moment to the one before it (None for the first)."""
    return [None if i == 0 else max(0.0, (at - times[i - 1]).total_seconds()) for i, at in enumerate(times)]
