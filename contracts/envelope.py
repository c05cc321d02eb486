"""The one envelope every Quarry event travels in."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from contracts.ids import derived_id, new_id


class Contract(BaseModel):
    """Base of every wire model: immutable, and tolerant of fields added by newer producers."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Actor(Contract):
    """Who caused an event: the user, and the agent acting on their behalf if any."""

    user_id: str | None = None
    agent: str | None = None
    roles: list[str] = Field(default_factory=list, description="the user's roles in the tenant")


class TraceContext(Contract):
    """W3C trace context carried across the bus."""

    traceparent: str | None = None
    tracestate: str | None = None


class Event(Contract):
    """Envelope fields shared by all events; subclasses fix `type` and `payload`."""

    SUBJECT: ClassVar[str] = ""
    TYPE: ClassVar[str] = ""

    event_id: str = Field(default_factory=new_id, description="UUIDv7, unique and time-sortable")
    type: str
    schema_version: int = 1
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    tenant_id: str = Field(min_length=1)
    run_id: str | None = Field(default=None, description="the run (correlation id) it belongs to")
    causation_id: str | None = Field(default=None, description="the event that caused this one")
    actor: Actor = Field(default_factory=Actor)
    trace: TraceContext = Field(default_factory=TraceContext)
    payload: Any

    def __init_subclass__(cls, *, subject: str = "", type: str = "", **kwargs: Any) -> None:
        """`class RunRequested(Event, subject=..., type="run.requested")` fixes its subject and type.

        The `type` field becomes `Literal[type]` with that default, so the JSON Schema states it
        as a constant and a message of another type does not parse as this event.
        """
        super().__init_subclass__(**kwargs)
        if not type:
            return
        cls.SUBJECT = subject
        cls.TYPE = type
        cls.__annotations__ = {**inspect.get_annotations(cls), "type": Literal[type]}
        cls.type = type

    @classmethod
    def create(
        cls,
        payload: Any,
        *,
        tenant_id: str,
        run_id: str | None = None,
        actor: Actor | None = None,
        causation_id: str | None = None,
        event_id: str | None = None,
        trace: TraceContext | None = None,
    ) -> Self:
        """A new event of this type, stamped with a fresh id unless one is given."""
        return cls(
            event_id=event_id or new_id(),
            type=cls.TYPE,
            tenant_id=tenant_id,
            run_id=run_id,
            actor=actor or Actor(),
            causation_id=causation_id,
            trace=trace or TraceContext(),
            payload=payload,
        )

    @classmethod
    def caused_by(cls, cause: Event, payload: Any, *, name: str = "") -> Self:
        """The reaction to `cause`: same tenant, run, actor and trace, with an id derived from it.

        Deriving the id makes a redelivered cause produce a byte-identical reaction, which
        JetStream then de-duplicates.
        """
        return cls.create(
            payload,
            tenant_id=cause.tenant_id,
            run_id=cause.run_id,
            actor=cause.actor,
            causation_id=cause.event_id,
            event_id=derived_id(cause.event_id, name or cls.TYPE),
            trace=cause.trace,
        )

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()
