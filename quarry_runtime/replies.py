"""Core-NATS request/reply: what the gateway needs answered now, not eventually.

`ask` is the one way to put a question: a request model out, a reply model back, and
`Unavailable` when no answer comes (the bus is away, nobody answers in time) or the answer is
unreadable, since neither is the fault of the question.

A service serves a table of responders, one per subject, each taking the raw request and
returning its reply model. They listen in a queue group, so with several replicas exactly one
answers each request. A responder that raises still answers (an `error` and a 500 `status`,
which every reply model reads or ignores) rather than leaving the caller to time out; one that
raises `Unavailable` (its store or the bus is away) answers a 503 `status`, so the caller can
say "try again" rather than "failed". An answer that cannot be sent (the connection is down) is
logged: the caller's request times out, which it reads as the service being away.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from typing import Any, TypeVar

import nats.errors
from pydantic import BaseModel, ValidationError

from quarry_runtime.broker import unsubscribe_all
from quarry_runtime.bus import Bus
from quarry_runtime.busfaults import is_bus_outage
from quarry_runtime.errors import Unavailable
from quarry_runtime.recorders import outage_is_unavailable

log = logging.getLogger(__name__)

Respond = Callable[[bytes], Awaitable[BaseModel]]
# A connection's `request(subject, data, timeout=...)`.
Request = Callable[..., Awaitable[Any]]
R = TypeVar("R", bound=BaseModel)
Q = TypeVar("Q", bound=BaseModel)


async def ask(
    request: Request, subject: str, question: BaseModel, reply_model: type[R], *, who: str, timeout_s: float
) -> R:
    """`who`'s reply to `question` on `subject`; `Unavailable` when none comes or it is unreadable."""
    try:
        msg = await request(subject, question.model_dump_json().encode(), timeout=timeout_s)
    except nats.errors.Error as exc:
        if not is_bus_outage(exc):
            raise
        raise Unavailable(f"{who} did not answer ({type(exc).__name__})") from exc
    try:
        return reply_model.model_validate_json(msg.data)
    except ValidationError as exc:
        raise Unavailable(f"{who} answered something unreadable") from exc


@contextlib.asynccontextmanager
async def answering(bus: Bus, responders: Mapping[str, Respond], *, queue: str, who: str) -> AsyncIterator[list[Any]]:
    """Answer requests on every subject of `responders` while the block runs. The subscriptions
    are yielded: any the caller adds to the list are ended with them."""
    nc = bus.broker.connection
    subscriptions = [await nc.subscribe(s, queue=queue, cb=_answer(s, r, who)) for s, r in responders.items()]
    try:
        yield subscriptions
    finally:
        await unsubscribe_all(subscriptions)


def serving(
    bus: Bus, responders: Mapping[str, Respond], *, queue: str, who: str
) -> Callable[[], Coroutine[Any, Any, None]]:
    """A background job for `Service`: answer requests on every subject of `responders` until
    cancelled."""

    async def job() -> None:
        async with answering(bus, responders, queue=queue, who=who):
            await asyncio.Event().wait()

    return job


def _answer(subject: str, respond: Respond, who: str) -> Callable[[Any], Awaitable[None]]:
    async def on_request(msg: Any) -> None:
        if not msg.reply:
            return  # a publish, not a request: nobody to answer
        try:
            # A store that is away answers 503 like any other dependency, not 500 with a traceback.
            with outage_is_unavailable():
                body = (await respond(msg.data)).model_dump_json().encode()
        except Unavailable as exc:
            log.warning("answering %s: %s", subject, exc)
            body = json.dumps({"error": f"{who} is briefly unavailable: {short(exc)}", "status": 503}).encode()
        except Exception:  # the caller gets an answer (Stripe retries a 500), not a time-out
            log.exception("answering %s failed", subject)
            body = json.dumps({"error": f"{who} failed to answer; see its log", "status": 500}).encode()
        try:
            await msg.respond(body)
        except Exception as exc:  # noqa: BLE001 - a callback's error would only reach nats-py's error handler
            log.warning("answering %s: the reply could not be sent (%s: %s)", subject, type(exc).__name__, exc)

    return on_request


def parsed(
    query: type[Q],
    reply: type[BaseModel],
    what: str,
    use: Callable[[Q], Awaitable[BaseModel]],
    *,
    status: int | None = None,
) -> Respond:
    """A responder for one subject: the request parsed as `query` and handed to `use`; a malformed
    one answered with `reply(error=...)`, and `status` when the reply model carries one."""

    async def respond(data: bytes) -> BaseModel:
        try:
            request = query.model_validate_json(data)
        except ValidationError as exc:
            error = f"malformed {what}: {short(exc)}"
            return reply(error=error) if status is None else reply(error=error, status=status)
        return await use(request)

    return respond


def short(exc: Exception) -> str:
    """An exception as one line of at most 500 characters, for a reply's `error`."""
    return str(exc).replace("\n", " ")[:500]
