"""Asking over request/reply: a reply model back, or `Unavailable` when no readable answer comes."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import nats.errors
import pytest

from contracts.billing import EntitlementsQuery, EntitlementsReply
from quarry_runtime.errors import Unavailable
from quarry_runtime.replies import ask

QUESTION = EntitlementsQuery(tenant_id="t1")


def answering(data: bytes | Exception) -> Any:
    asked: list[tuple[str, bytes, float]] = []

    async def request(subject: str, payload: bytes, *, timeout: float) -> SimpleNamespace:  # noqa: ASYNC109 - nats-py's signature
        asked.append((subject, payload, timeout))
        if isinstance(data, Exception):
            raise data
        return SimpleNamespace(data=data)

    request.asked = asked  # type: ignore[attr-defined]
    return request


async def test_the_reply_comes_back_as_its_model() -> None:
    request = answering(EntitlementsReply(error="no plan").model_dump_json().encode())
    reply = await ask(request, "billing.ask", QUESTION, EntitlementsReply, who="billing", timeout_s=2.0)
    assert reply.error == "no plan"
    assert request.asked == [("billing.ask", QUESTION.model_dump_json().encode(), 2.0)]


async def test_no_answer_in_time_is_the_service_being_away() -> None:
    request = answering(nats.errors.TimeoutError())
    with pytest.raises(Unavailable, match=r"^billing did not answer \(TimeoutError\)$"):
        await ask(request, "billing.ask", QUESTION, EntitlementsReply, who="billing", timeout_s=0.1)


async def test_an_unreadable_answer_is_the_service_being_away() -> None:
    with pytest.raises(Unavailable, match=r"^billing answered something unreadable$"):
        await ask(answering(b"<html>"), "billing.ask", QUESTION, EntitlementsReply, who="billing", timeout_s=1.0)


async def test_a_question_the_bus_refuses_is_not_an_outage() -> None:
    with pytest.raises(nats.errors.BadSubjectError):
        await ask(answering(nats.errors.BadSubjectError()), "", QUESTION, EntitlementsReply, who="b", timeout_s=1.0)
