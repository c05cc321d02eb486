"""Events a request publishes, stamped with who asked and the request's trace."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel

from contracts.envelope import Event, TraceContext
from quarry_runtime.telemetry import current_traceparent
from services.gateway.security import Principal

E = TypeVar("E", bound=Event)


def requested(kind: type[E], payload: BaseModel, who: Principal, *, run_id: str) -> E:
    """A `kind` event on behalf of `who`: their tenant, user and roles, and the current trace."""
    return kind.create(
        payload,
        tenant_id=who.tenant_id,
        run_id=run_id,
        actor=who.actor(),
        trace=TraceContext(traceparent=current_traceparent()),
    )
