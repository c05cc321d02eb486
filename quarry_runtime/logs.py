"""Log lines that say where they belong: the trace, the tenant and the run.

In production a line is one JSON object (`JsonLines`), so a collector parses it without a
pattern and a message cannot forge a second line: a newline in it, from a hostile document or
header, is escaped like any other character. The tenant and run come from `scoped`, which the
bus sets around each event's handler and the gateway around each authenticated request; the
trace and span ids from OpenTelemetry's current span, else from the trace context the handled
event carries in its envelope (an event the outbox published outside any span still names the
run's trace, so its handler's lines do too).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

from opentelemetry import trace

# JSON escapes control characters but not these, which many readers (Python's splitlines among
# them) also take for the end of a line.
_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})

# (tenant, run, the handled event's W3C traceparent): one tuple, one ContextVar set per handler.
_scope: ContextVar[tuple[str | None, str | None, str | None]] = ContextVar(
    "quarry_log_scope", default=(None, None, None)
)
_TRACEPARENT_LENGTH = 55  # "00-" 32 hex "-" 16 hex "-" 2 hex


@contextmanager
def scoped(tenant_id: str | None, run_id: str | None, traceparent: str | None = None) -> Iterator[None]:
    """Lines logged inside name this tenant and run (and the trace of `traceparent` when no span is current)."""
    token = _scope.set((tenant_id, run_id, traceparent))
    try:
        yield
    finally:
        _scope.reset(token)


def bind(tenant_id: str | None, run_id: str | None = None) -> None:
    """Name the tenant and run for the rest of the current task (a request's own task)."""
    _scope.set((tenant_id, run_id, None))


def current_scope() -> tuple[str | None, str | None]:
    """The tenant and run the current code works for, when a handler or request named them."""
    tenant_id, run_id, _ = _scope.get()
    return tenant_id, run_id


def _ids_of(traceparent: str | None) -> tuple[str, str] | None:
    """The trace and parent span ids of a well-formed W3C traceparent; None otherwise."""
    if traceparent is None or len(traceparent) != _TRACEPARENT_LENGTH or traceparent[2] != "-":
        return None
    trace_id, span_id = traceparent[3:35], traceparent[36:52]
    if trace_id == "0" * 32 or any(c not in "0123456789abcdef" for c in trace_id + span_id):
        return None
    return trace_id, span_id


class JsonLines(logging.Formatter):
    """One JSON object a line: time, level, service, logger, message; the trace and span ids when
    a span is current; the tenant and run when scoped; the exception's traceback when there is one."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = trace.get_current_span().get_span_context()
        tenant_id, run_id, traceparent = _scope.get()
        if context.is_valid:
            line["trace_id"] = format(context.trace_id, "032x")
            line["span_id"] = format(context.span_id, "016x")
        elif (ids := _ids_of(traceparent)) is not None:
            line["trace_id"], line["span_id"] = ids
        if tenant_id is not None:
            line["tenant_id"] = tenant_id
        if run_id is not None:
            line["run_id"] = run_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str).translate(_LINE_BREAKS)


def text_format(service: str) -> logging.Formatter:
    """For a terminal: the service's name on every line, as a local stack interleaves seven."""
    return logging.Formatter(f"%(asctime)s {service:<12} %(levelname)-7s %(name)s: %(message)s")
