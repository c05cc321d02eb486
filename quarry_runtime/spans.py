"""Spans of Quarry's own work (a task, a policy decision, a billing entry, a model call), recorded
only when an exporter is configured (`quarry_runtime.telemetry.configure` turns them on).

Not recording, `span()` hands back one shared no-op context: no span object, no context switch,
so code on a hot path (admission, metering) pays a function call and a flag read for it.
Every recorded span carries the run and tenant it works for (`ScopeAttributes`), read from the
same scope the log lines name (`quarry_runtime.logs`), so a trace is searchable by either.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from importlib.metadata import PackageNotFoundError, version
from typing import Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind
from opentelemetry.util.types import AttributeValue

from quarry_runtime.logs import current_scope


def _installed_version() -> str:
    try:
        return version("quarry")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


# What `service.version`, a model call's `gen_ai.agent.version` and a heartbeat's version say.
QUARRY_VERSION: Final = _installed_version()
RUN_ID: Final = "quarry.run.id"
TENANT_ID: Final = "quarry.tenant.id"

Attributes = Mapping[str, AttributeValue]

_tracer = trace.get_tracer("quarry")
_NOT_RECORDED: AbstractContextManager[Span] = nullcontext(INVALID_SPAN)


class _Switch:
    """Whether spans are recorded in this process: set once, by `configure`, before any work."""

    recording = False


_switch = _Switch()


def recording() -> bool:
    return _switch.recording


def record_spans(on: bool) -> None:
    _switch.recording = on


def span(
    name: str, attributes: Attributes | None = None, kind: SpanKind = SpanKind.INTERNAL
) -> AbstractContextManager[Span]:
    """A span around a block, current inside it; a no-op (yielding a non-recording span, whose
    setters do nothing) when spans are not recorded."""
    if not _switch.recording:
        return _NOT_RECORDED
    return _tracer.start_as_current_span(name, kind=kind, attributes=attributes)


def span_in(
    parent: otel_context.Context, name: str, attributes: Attributes, kind: SpanKind
) -> AbstractContextManager[Span]:
    """A recorded span under `parent` (a context read from a message or an envelope), current inside."""
    return _tracer.start_as_current_span(name, context=parent, kind=kind, attributes=attributes)


def scope_attributes(tenant_id: str | None, run_id: str | None) -> dict[str, AttributeValue]:
    out: dict[str, AttributeValue] = {}
    if tenant_id is not None:
        out[TENANT_ID] = tenant_id
    if run_id is not None:
        out[RUN_ID] = run_id
    return out


class ScopeAttributes(SpanProcessor):
    """Stamps each span, as it starts, with the tenant and run of the scope it starts in (a
    handler's event, an authenticated request): a span that names them itself keeps its own."""

    def on_start(self, span: SdkSpan, parent_context: otel_context.Context | None = None) -> None:
        tenant_id, run_id = current_scope()
        if tenant_id is not None and (span.attributes is None or TENANT_ID not in span.attributes):
            span.set_attribute(TENANT_ID, tenant_id)
        if run_id is not None and (span.attributes is None or RUN_ID not in span.attributes):
            span.set_attribute(RUN_ID, run_id)


def name_scope(tenant_id: str | None, run_id: str | None = None) -> None:
    """Name the tenant and run on the current span too, when it started before they were known
    (a request's server span, started before its token was read)."""
    if not _switch.recording:
        return
    current = trace.get_current_span()
    if current.is_recording():
        current.set_attributes(scope_attributes(tenant_id, run_id))
