"""What every orchestrator aggregate is: a user's, in a tenant, and applying each bus event once."""

from __future__ import annotations

import inspect
import uuid
from typing import TYPE_CHECKING, Any

from eventsourcing.domain import Aggregate


def id_from(field: str) -> staticmethod[[str], uuid.UUID]:
    """An aggregate's `create_id`: the UUID its created event carries in `field`. eventsourcing
    reads which of the created event's arguments to pass from the signature, and passes it by name."""

    def create_id(*args: Any, **kwargs: Any) -> uuid.UUID:
        (value,) = (*args, *kwargs.values())
        return uuid.UUID(value)

    create_id.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(field, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str)]
    )
    return staticmethod(create_id)


class Owned(Aggregate):
    """An aggregate that acts for one user of one tenant (with their roles at the time it was
    opened), and holds the ids of the bus events already applied to it, so a redelivered event
    changes nothing."""

    if TYPE_CHECKING:  # set by each aggregate's created event; annotations here would become its fields
        tenant_id: str
        user_id: str | None
        roles: list[str]
        bus_events: set[str]

    def _own(self, tenant_id: str, user_id: str | None, roles: list[str], cause: str) -> None:
        """Whose the aggregate is, for good, and the bus event that opened it."""
        self.tenant_id = tenant_id
        self.user_id = user_id
        self.roles = list(roles)
        self.bus_events = {cause}

    def has_seen(self, bus_event_id: str) -> bool:
        return bus_event_id in self.bus_events
