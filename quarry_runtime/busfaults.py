"""Which failures of a NATS call are the bus being away, not the message being wrong.

A publish, a request or a key-value write can fail because the connection is down or
reconnecting, because nobody answers in time (a downstream service is away, a JetStream
stream has lost its leader), or because JetStream refuses to store anything more (its store,
or the account's share of it, is full). None of those is the fault of what was sent: the
caller raises `Unavailable`, so a bus handler waits the outage out instead of being counted
toward dead-lettering, and the gateway answers 503 with Retry-After instead of 500. Anything
else (a message too large, a subject it may not publish on, a malformed reply) stays what it is.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import nats.errors
import nats.js.errors

from quarry_runtime.errors import Unavailable

# The connection cannot carry the call right now; nats-py reconnects on its own.
_DISCONNECTED: tuple[type[Exception], ...] = (
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.ConnectionDrainingError,
    nats.errors.StaleConnectionError,
    nats.errors.NoServersError,
    # The client's buffer of what it could not send while reconnecting is full.
    nats.errors.OutboundBufferLimitError,
    nats.errors.FlushTimeoutError,
)
# Nobody answered: a service or a stream's leader is away (nats.errors.TimeoutError is also an
# asyncio TimeoutError, caught as the builtin one).
_NO_ANSWER: tuple[type[Exception], ...] = (
    TimeoutError,
    nats.errors.NoRespondersError,
    nats.js.errors.NoStreamResponseError,
)

# JetStream's own error codes (nats-server's errors.json) for a refusal that passes with time or
# space, whatever HTTP-like status the server gives it.
JS_RESOURCES_EXCEEDED = frozenset(
    {
        10002,  # the account's JetStream storage (or memory) limit is used up
        10023,  # insufficient resources: the server's max_file_store is used up (a full volume)
        10028,  # insufficient memory resources available
        10047,  # insufficient storage resources available
    }
)
JS_NOT_NOW = frozenset(
    {
        10005,  # no suitable peers for placement: cluster nodes are away
        10008,  # JetStream system temporarily unavailable (no meta leader)
        10039,  # JetStream not enabled for the account: the server turned it off on a write error
        10076,  # JetStream not enabled: idem, server-wide
        10077,  # the stream's store failed to write
        10118,  # the stream is offline (its peers are being recovered)
    }
)


def is_bus_outage(exc: BaseException) -> bool:
    """True when `exc`, raised by a NATS call, says the bus cannot take it now, not that it never will."""
    if isinstance(exc, _DISCONNECTED + _NO_ANSWER):
        return True
    if isinstance(exc, nats.js.errors.ServiceUnavailableError):
        return True  # 503: the server's own word for "not now"
    if isinstance(exc, nats.js.errors.APIError):
        return exc.err_code in JS_RESOURCES_EXCEEDED or exc.err_code in JS_NOT_NOW
    return False


def is_store_full(exc: BaseException) -> bool:
    """True when JetStream refused a write for lack of space (the server's or the account's)."""
    return isinstance(exc, nats.js.errors.APIError) and exc.err_code in JS_RESOURCES_EXCEEDED


def bus_unavailable(exc: BaseException, doing: str) -> Unavailable:
    """The `Unavailable` to raise from an outage `exc` met while `doing` something."""
    if is_store_full(exc):
        why = "JetStream refuses writes: its store is full"
    elif isinstance(exc, _NO_ANSWER):
        why = "no answer in time"
    else:
        why = "the bus is unreachable"
    detail = str(exc).replace("\n", " ")[:300] or type(exc).__name__
    return Unavailable(f"{doing}: {why} ({type(exc).__name__}: {detail})")


@contextlib.contextmanager
def nats_outage_is_unavailable(what: str) -> Iterator[None]:
    """Turn a failure of NATS itself inside (no connection, no answer in time, JetStream refusing
    writes for now or for lack of space) into `Unavailable`, as the bus does for its own calls;
    `Unavailable` from a lower layer and a failure the call causes itself pass as they are."""
    try:
        yield
    except Exception as exc:
        unavailable = outage_as_unavailable(exc, what)
        if unavailable is None:
            raise
        raise unavailable from exc


def outage_as_unavailable(exc: Exception, what: str) -> Unavailable | None:
    """`nats_outage_is_unavailable` for a caller's own `except`: the `Unavailable` to raise from
    `exc`, or None to re-raise `exc` itself (a context manager costs a hot path a microsecond)."""
    if isinstance(exc, Unavailable) or not is_bus_outage(exc):
        return None
    return bus_unavailable(exc, what)
