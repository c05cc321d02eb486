"""Log lines as JSON objects that name their trace, tenant and run, one a line whatever the message holds."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider

from quarry_runtime.logs import JsonLines, bind, scoped


@pytest.fixture
def lines() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonLines("retriever"))
    logger = logging.getLogger("test.log_lines")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, out
    logger.removeHandler(handler)


def _read(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_line_names_service_level_logger_and_message(lines: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = lines
    logger.warning("indexed %d chunks", 3)
    (line,) = _read(out)
    assert line["service"] == "retriever" and line["level"] == "WARNING" and line["logger"] == "test.log_lines"
    assert line["message"] == "indexed 3 chunks"
    assert str(line["time"]).endswith("+00:00")
    assert "trace_id" not in line and "tenant_id" not in line and "run_id" not in line


def test_a_hostile_message_stays_one_line(lines: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = lines
    forged = 'title\n{"level": "INFO", "message": "forged"}\r\n\u2028\u2029\x85\x1c\x00'
    logger.info("fetched %s", forged)
    assert out.getvalue().count("\n") == 1
    (line,) = _read(out)
    assert line["message"] == f"fetched {forged}"


def test_the_scope_and_the_span_are_on_the_line(lines: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = lines
    tracer = TracerProvider().get_tracer("test")
    with scoped("tenant-a", "run-1"), tracer.start_as_current_span("handle") as span:
        logger.info("inside")
    logger.info("after")
    inside, after = _read(out)
    context = span.get_span_context()
    assert inside["tenant_id"] == "tenant-a" and inside["run_id"] == "run-1"
    assert inside["trace_id"] == format(context.trace_id, "032x")
    assert inside["span_id"] == format(context.span_id, "016x")
    assert "tenant_id" not in after and "trace_id" not in after


def test_an_exception_travels_inside_the_line(lines: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = lines
    try:
        raise ValueError("bad\npage")
    except ValueError:
        logger.exception("parsing failed")
    (line,) = _read(out)
    assert "ValueError: bad\npage" in str(line["exception"])


async def test_a_bound_tenant_stays_in_its_own_task(lines: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = lines

    async def request(tenant: str) -> None:
        bind(tenant)
        await asyncio.sleep(0)
        logger.info("served")

    await asyncio.gather(request("tenant-a"), request("tenant-b"))
    logger.info("outside")
    assert [line.get("tenant_id") for line in _read(out)] == ["tenant-a", "tenant-b", None]


def test_outside_any_span_the_handled_events_trace_is_on_the_line(lines: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = lines
    with scoped("tenant-a", "run-1", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"):
        logger.info("handled")
    with scoped("tenant-a", "run-1", "00-not-a-trace"):
        logger.info("malformed")
    handled, malformed = _read(out)
    assert handled["trace_id"] == "0af7651916cd43dd8448eb211c80319c" and handled["span_id"] == "b7ad6b7169203331"
    assert "trace_id" not in malformed and malformed["run_id"] == "run-1"
