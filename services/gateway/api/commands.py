"""Publishing a command from a route: on the bus, then into the read models at once."""

from __future__ import annotations

import logging

from contracts.envelope import Event
from quarry_runtime.errors import Unavailable as StoreUnavailable
from services.gateway.api.deps import Components
from services.gateway.errors import Unavailable

log = logging.getLogger(__name__)


async def publish(parts: Components, event: Event) -> None:
    """Publish `event` (503 if the bus refuses it), then apply it to the read model that keeps it,
    so the caller's next read sees it; the projection's own copy from the bus is then a no-op.
    With the store away that step is left to the projection: the request itself was accepted."""
    try:
        await parts.bus.publish(event)
    except Exception as exc:
        raise Unavailable(f"the event bus did not accept the request: {exc}") from exc
    try:
        await parts.writes.apply(event)
    except StoreUnavailable as exc:
        # Accepted already: a 503 now would have the client send it again (a second run). The
        # read model's own consumer applies the event once its store takes writes again.
        log.warning("%s %s accepted; the read model applies it later: %s", event.type, event.event_id, exc)
