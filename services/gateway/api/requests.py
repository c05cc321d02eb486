"""Asking another service over NATS request/reply (policy simulations, billing's summary, Stripe
checkouts): what the gateway needs answered now, not eventually."""

from __future__ import annotations

from typing import Any, TypeVar

import nats.errors
from pydantic import BaseModel, ValidationError

from quarry_runtime.busfaults import is_bus_outage
from services.gateway.api.deps import ComponentsDep
from services.gateway.errors import Unavailable

R = TypeVar("R", bound=BaseModel)


async def ask(
    parts: ComponentsDep, subject: str, request: BaseModel, reply_model: type[R], *, who: str, timeout_s: float
) -> R:
    """`who`'s reply to `request` on `subject`; 503 (`Unavailable`) when none comes or it is unreadable."""
    try:
        msg: Any = await parts.bus.broker.connection.request(
            subject, request.model_dump_json().encode(), timeout=timeout_s
        )
    except nats.errors.Error as exc:
        if not is_bus_outage(exc):
            raise
        raise Unavailable(f"{who} did not answer ({type(exc).__name__})") from exc
    try:
        return reply_model.model_validate_json(msg.data)
    except ValidationError as exc:
        raise Unavailable(f"{who} answered something unreadable") from exc
