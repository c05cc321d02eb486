"""Which failures are outages (waited out, 503) and which are the message's or the request's own."""

from __future__ import annotations

import json
from typing import Any

import eventsourcing.persistence
import nats.errors
import nats.js.errors
import psycopg.errors
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from quarry_runtime import recorders
from quarry_runtime.busfaults import bus_unavailable, is_bus_outage, is_store_full
from quarry_runtime.errors import Unavailable
from quarry_runtime.inflight import RETRY_AFTER_FAILURE_S, InFlight
from quarry_runtime.replies import _answer
from services.gateway.api import errors as gateway_errors
from services.gateway.errors import Unavailable as GatewayUnavailable

STORE_FULL = nats.js.errors.ServiceUnavailableError(code=503, err_code=10023, description="insufficient resources")
ACCOUNT_FULL = nats.js.errors.BadRequestError(
    code=400, err_code=10002, description="resource limits exceeded for account"
)

OUTAGES = [
    TimeoutError(),
    nats.errors.TimeoutError(),
    nats.errors.NoRespondersError(),
    nats.js.errors.NoStreamResponseError(),
    nats.errors.ConnectionClosedError(),
    nats.errors.ConnectionReconnectingError(),
    nats.errors.OutboundBufferLimitError(),
    nats.errors.StaleConnectionError(),
    nats.errors.NoServersError(),
    STORE_FULL,
    ACCOUNT_FULL,
    nats.js.errors.ServiceUnavailableError(),  # a 503 status without a body
    nats.js.errors.ServerError(code=500, err_code=10118, description="stream is offline"),
    nats.js.errors.BadRequestError(code=400, err_code=10005, description="no suitable peers for placement"),
]
OWN_FAULTS = [
    nats.js.errors.BadRequestError(code=400, err_code=10054, description="message size exceeds maximum allowed"),
    nats.js.errors.BadRequestError(code=400, err_code=10060, description="expected stream does not match"),
    nats.js.errors.NotFoundError(code=404, err_code=10059, description="stream not found"),
    nats.errors.MaxPayloadError(),
    nats.errors.BadSubjectError(),
    ValueError("not NATS at all"),
]


@pytest.mark.parametrize("exc", OUTAGES, ids=lambda e: f"{type(e).__name__}-{getattr(e, 'err_code', '')}")
def test_an_outage_of_the_bus_is_known_as_one(exc: Exception) -> None:
    assert is_bus_outage(exc)


@pytest.mark.parametrize("exc", OWN_FAULTS, ids=lambda e: f"{type(e).__name__}-{getattr(e, 'err_code', '')}")
def test_a_failure_of_the_call_s_own_is_not_an_outage(exc: Exception) -> None:
    assert not is_bus_outage(exc)


def test_the_unavailable_says_what_was_refused_and_why() -> None:
    assert is_store_full(STORE_FULL) and is_store_full(ACCOUNT_FULL)
    assert not is_store_full(nats.errors.TimeoutError())
    full = bus_unavailable(STORE_FULL, "publishing run.requested 1")
    assert str(full).startswith("publishing run.requested 1: JetStream refuses writes: its store is full")
    assert "no answer in time" in str(bus_unavailable(nats.errors.NoRespondersError(), "asking billing"))
    assert "unreachable" in str(bus_unavailable(nats.errors.ConnectionClosedError(), "publishing"))


@pytest.mark.parametrize("sqlstate", ["53000", "53100", "53200", "53300", "53400"])
def test_postgres_insufficient_resources_and_disk_full_are_outages(sqlstate: str) -> None:
    """Class 53 (disk full, out of memory, too many connections): the database cannot take the
    work now, not the work is wrong; psycopg raises them as OperationalError, which the stores
    and the event stores turn into Unavailable."""
    error = psycopg.errors.lookup(sqlstate)("could not extend file: No space left on device")
    assert isinstance(error, psycopg.OperationalError)
    assert recorders.is_outage(error)
    with pytest.raises(Unavailable), recorders.outage_is_unavailable():
        raise error


def gateway_raising(exc: Exception) -> TestClient:
    app = FastAPI()
    gateway_errors.install(app)

    @app.get("/fails")
    async def fails() -> None:
        raise exc

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(
    "exc",
    [
        nats.errors.TimeoutError(),
        nats.errors.ConnectionReconnectingError(),
        STORE_FULL,
        Unavailable("the database cannot be reached"),
        GatewayUnavailable("billing did not answer"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_the_gateway_answers_503_with_retry_after_for_an_outage(exc: Exception) -> None:
    answer = gateway_raising(exc).get("/fails")
    assert answer.status_code == 503, answer.text
    assert int(answer.headers["Retry-After"]) >= 1


def test_the_gateway_answers_500_for_a_nats_failure_that_is_no_outage() -> None:
    assert gateway_raising(nats.errors.BadSubjectError()).get("/fails").status_code == 500


class Reply(BaseModel):
    ok: bool = True


class Request:
    """What nats-py hands a subscription callback: the request's data and where to reply."""

    def __init__(self) -> None:
        self.reply = "_INBOX.1"
        self.data = b"{}"
        self.answers: list[bytes] = []

    async def respond(self, body: bytes) -> None:
        self.answers.append(body)


async def test_a_responder_whose_dependency_is_away_answers_503_not_500() -> None:
    async def away(_: bytes) -> Reply:
        raise Unavailable("the decision store cannot be reached")

    async def store_away(_: bytes) -> Reply:
        # What an event-sourced responder (billing's entitlements) meets while PostgreSQL is down.
        raise eventsourcing.persistence.OperationalError("couldn't get a connection after 0.20 sec")

    async def broken(_: bytes) -> Reply:
        raise KeyError("bug")

    for respond, status in ((away, 503), (store_away, 503), (broken, 500)):
        request = Request()
        await _answer("policy.v1.decisions", respond, "the policy service")(request)
        assert json.loads(request.answers[0])["status"] == status


async def test_a_reply_that_cannot_be_sent_does_not_raise_into_the_client() -> None:
    class Gone(Request):
        async def respond(self, body: bytes) -> None:
            raise nats.errors.ConnectionClosedError()

    async def fine(_: bytes) -> Reply:
        return Reply()

    await _answer("billing.v1.ledger", fine, "billing")(Gone())


async def test_in_flight_marks_the_bus_cannot_write_let_the_message_through_and_are_not_retried_at_once() -> None:
    now = [0.0]
    calls: list[str] = []

    def jetstream() -> Any:
        calls.append("jetstream")
        raise nats.errors.ConnectionClosedError()

    marks = InFlight(jetstream, "svc", clock=lambda: now[0])
    assert await marks.begin("QUARRY.svc-runs.1") is None  # unmarked: handled all the same
    assert await marks.begin("QUARRY.svc-runs.2") is None
    assert len(calls) == 1, "the bucket was tried again within the interval after a failure"
    now[0] += RETRY_AFTER_FAILURE_S + 0.1
    assert await marks.begin("QUARRY.svc-runs.3") is None
    assert len(calls) == 2
    await marks.end("QUARRY.svc-runs.1")  # a removal that fails is remembered, not raised
