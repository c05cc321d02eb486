"""Core-NATS request/reply of the policy service: simulate, list decisions, list versions.

Requests go to a queue group, so with several replicas exactly one answers each. Every replica
also listens (outside the group) to `policy.v1.activated`, so a switch made by one replica is
followed by all; a slow poll of the shared store covers an announcement missed while
disconnected. Nothing here has side effects: a simulation uses no rate limit and logs nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Final

from pydantic import BaseModel, ValidationError

from contracts import subjects
from contracts.policy import (
    DecisionsQuery,
    DecisionsReply,
    SimulateReply,
    SimulateRequest,
    VersionsQuery,
    VersionsReply,
)
from quarry_runtime.bus import Bus
from services.policy.decider import Decider
from services.policy.store import PolicyStore
from services.policy.versions import PolicyVersions

log = logging.getLogger(__name__)
QUEUE: Final = "policy"
RELOAD_POLL_S: Final = 15.0

Respond = Callable[[bytes], Awaitable[BaseModel]]


def responders(decider: Decider, store: PolicyStore, versions: PolicyVersions) -> dict[str, Respond]:
    """Reply builders by request subject; each takes the raw request and returns the reply model."""

    async def simulate(data: bytes) -> BaseModel:
        try:
            query = SimulateRequest.model_validate_json(data)
        except ValidationError as exc:
            return SimulateReply(error=f"malformed simulation request: {_short(exc)}")
        return SimulateReply(verdict=decider.simulate(query).to_contract())

    async def decisions(data: bytes) -> BaseModel:
        try:
            query = DecisionsQuery.model_validate_json(data)
        except ValidationError as exc:
            return DecisionsReply(error=f"malformed decisions query: {_short(exc)}")
        rows = await asyncio.to_thread(store.recent_decisions, query.tenant_id, query.limit)
        return DecisionsReply(decisions=rows)

    async def list_versions(data: bytes) -> BaseModel:
        try:
            query = VersionsQuery.model_validate_json(data)
        except ValidationError as exc:
            return VersionsReply(error=f"malformed versions query: {_short(exc)}")
        found = await asyncio.to_thread(store.versions, query.version)
        return VersionsReply(active_version=decider.version, versions=found)

    return {
        subjects.POLICY_SIMULATE: simulate,
        subjects.POLICY_DECISIONS: decisions,
        subjects.POLICY_VERSIONS: list_versions,
    }


def serve(
    bus: Bus, decider: Decider, store: PolicyStore, versions: PolicyVersions
) -> Callable[[], Coroutine[Any, Any, None]]:
    """A background job for `Service`: answer requests and follow switches until cancelled."""
    table = responders(decider, store, versions)

    async def job() -> None:
        nc = bus.broker.connection
        subscriptions = []
        for subject, respond in table.items():
            subscriptions.append(await nc.subscribe(subject, queue=QUEUE, cb=_answering(subject, respond)))

        async def on_activated(_: Any) -> None:
            await asyncio.to_thread(versions.reload)

        subscriptions.append(await nc.subscribe(subjects.POLICY_ACTIVATED, cb=on_activated))
        try:
            while True:
                await asyncio.sleep(RELOAD_POLL_S)
                await asyncio.to_thread(versions.reload)
        finally:
            for sub in subscriptions:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()

    return job


def _answering(subject: str, respond: Respond) -> Callable[[Any], Awaitable[None]]:
    async def on_request(msg: Any) -> None:
        if not msg.reply:
            return  # a publish, not a request: nobody to answer
        try:
            body = (await respond(msg.data)).model_dump_json().encode()
        except Exception:  # the caller gets an answer, not a time-out
            log.exception("answering %s failed", subject)
            # Every reply model has an `error` field, so any of them parses this.
            body = json.dumps({"error": "the policy service failed to answer; see its log"}).encode()
        await msg.respond(body)

    return on_request


def _short(exc: Exception) -> str:
    return str(exc).replace("\n", " ")[:500]
