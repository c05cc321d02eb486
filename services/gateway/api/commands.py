"""Publishing a command from a route: on the bus, then into the read models at once."""

from __future__ import annotations

from contracts.envelope import Event
from services.gateway.api.deps import Components
from services.gateway.api.errors import Unavailable
from services.gateway.projection import project


async def publish(parts: Components, event: Event) -> None:
    """Publish `event` (503 if the bus refuses it), then apply it to the read model that keeps it,
    so the caller's next read sees it; the projection's own copy from the bus is then a no-op."""
    try:
        await parts.bus.publish(event)
    except Exception as exc:
        raise Unavailable(f"the event bus did not accept the request: {exc}") from exc
    project(parts.store, parts.monitors, event)
