"""A real consumer of `policy.v1.activated` on the stack's bus (no service of the stack reads that
subject) that refuses the events it is told to refuse until it is fixed, so the bus dead-letters
them with its reason; the browser tests then find, redrive or leave them through the console.

Playwright's sync API holds the test's thread, so the consumer's bus lives on an event loop of
its own thread."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Coroutine
from typing import Any, TypeVar

from contracts import subjects
from contracts.policy import PolicyActivated, PolicyActivatedPayload
from quarry_runtime.bus import Bus, Subscription
from quarry_runtime.errors import Rejected

T = TypeVar("T")
CALL_S = 60.0


def refusal(version: str) -> str:
    """The reason the probe gives up with, as the console shows it."""
    return f"cannot apply policy version {version}: no such version here"


class PolicyProbe:
    """A service named `service` on the bus at `nats_url`, consuming `policy.v1.activated`."""

    def __init__(self, nats_url: str, service: str) -> None:
        self.service = service
        self.refused: set[str] = set()  # event ids it refuses while not fixed
        self.fixed = False
        self.handled: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"{service}-bus", daemon=True)
        self._bus = Bus(nats_url, service)
        durable = f"{service}-{uuid.uuid4().hex[:6]}"
        self._bus.subscribe(Subscription(subjects.POLICY_ACTIVATED, durable, self._handle))

    async def _handle(self, event: PolicyActivated) -> None:
        if event.event_id in self.refused and not self.fixed:
            raise Rejected(refusal(event.payload.version))
        self.handled.append(event.event_id)

    def _call(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(CALL_S)

    def __enter__(self) -> PolicyProbe:
        self._thread.start()
        self._call(self._bus.start())
        return self

    def __exit__(self, *_: object) -> None:
        try:
            self._call(self._bus.stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(CALL_S)

    def publish(self, version: str, *, refuse: bool) -> PolicyActivated:
        """Publish an activation of `version` (its tenant: the platform); refused if asked."""
        event = PolicyActivated.create(PolicyActivatedPayload(version=version), tenant_id="platform")
        if refuse:
            self.refused.add(event.event_id)
        self._call(self._bus.publish(event))
        return event
