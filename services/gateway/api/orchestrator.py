"""Asking the orchestrator, which keeps agent versions and rollouts (the control plane), and its
refusals as the gateway's errors: the routes of `/v1/ops/agents` and `/v1/ops/rollouts` share both."""

from __future__ import annotations

from typing import Final, NoReturn, Protocol, TypeVar

from services.gateway.api.requests import Peer
from services.gateway.errors import BadRequest, Conflict, NotFound, Unavailable, Unprocessable

ORCHESTRATOR: Final = Peer("the orchestrator", timeout_s=5.0)
T = TypeVar("T")


class Reply(Protocol):
    """What every reply of the orchestrator carries beside its answer."""

    @property
    def error(self) -> str | None: ...

    @property
    def status(self) -> int | None: ...


def refused(error: str, status: int | None) -> NoReturn:
    """The orchestrator's refusal as the gateway's error: its 4xx as ours, anything else a 503
    (a status it should not have sent is its fault, not the caller's)."""
    if status == 404:
        raise NotFound(f"the orchestrator has no such thing: {error}")
    if status == 409:
        raise Conflict(f"the orchestrator refused it: {error}")
    if status == 422:
        raise Unprocessable(f"the orchestrator refused it: {error}")
    if status == 400:
        raise BadRequest(f"the orchestrator could not read it: {error}")
    raise Unavailable(f"the orchestrator could not answer: {error}")


def answer(reply: Reply, found: T | None, what: str) -> T:
    """`found`, the answer `reply` carries, unless the orchestrator refused (or left it out)."""
    if reply.error or found is None:
        refused(reply.error or f"no {what} in the answer", reply.status)
    return found
