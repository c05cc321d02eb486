"""Who a new run, question or monitor acts for."""

from __future__ import annotations

from typing import Any

from contracts.envelope import Event


def asked_by(ev: Event) -> dict[str, Any]:
    """The tenant, user and roles of the bus event that asks for it: the aggregate's own, for good."""
    return {"tenant_id": ev.tenant_id, "user_id": ev.actor.user_id, "roles": list(ev.actor.roles)}
