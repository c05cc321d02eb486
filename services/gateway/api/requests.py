"""Asking another service over NATS request/reply (policy simulations, billing's summary, Stripe
checkouts): what the gateway needs answered now, not eventually."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel

from quarry_runtime import replies
from quarry_runtime.errors import Unavailable as NoAnswer
from services.gateway.api.deps import ComponentsDep
from services.gateway.errors import Unavailable

R = TypeVar("R", bound=BaseModel)


async def ask(
    parts: ComponentsDep, subject: str, request: BaseModel, reply_model: type[R], *, who: str, timeout_s: float
) -> R:
    """`who`'s reply to `request` on `subject`; 503 (`Unavailable`) when none comes or it is unreadable."""
    try:
        return await replies.ask(
            parts.bus.broker.connection.request, subject, request, reply_model, who=who, timeout_s=timeout_s
        )
    except NoAnswer as exc:
        raise Unavailable(str(exc)) from exc


@dataclass(frozen=True, slots=True)
class Peer:
    """A service the routes ask, named for a 503's detail, with how long its answers may take."""

    who: str
    timeout_s: float

    async def ask(self, parts: ComponentsDep, subject: str, request: BaseModel, reply_model: type[R]) -> R:
        """Its reply to `request` on `subject`; 503 (`Unavailable`) when none comes or it is unreadable."""
        return await ask(parts, subject, request, reply_model, who=self.who, timeout_s=self.timeout_s)
