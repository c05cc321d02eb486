"""What the end-to-end tests share: waiting with a deadline, new tenants, a running stack."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from devtools.client import QuarryClient
from devtools.stack import Stack, StackConfig

T = TypeVar("T")


def wait_for(check: Callable[[], T], timeout_s: float = 60.0, what: str = "condition") -> T:
    """Poll `check` until it returns something truthy; fail after the deadline, never sleep-and-hope."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def new_tenant(factory: Callable[[], QuarryClient], name: str) -> QuarryClient:
    """A client signed up as the owner of a new tenant."""
    client = factory()
    client.signup(f"{name}-{uuid.uuid4().hex[:6]}@example.com", "correct-horse-battery", name)
    return client


@contextmanager
def running(config: StackConfig, timeout_s: float = 240) -> Iterator[Stack]:
    """A whole stack, healthy, stopped (every process) however the block ends."""
    stack = Stack(config)
    try:
        stack.start()
        stack.wait_healthy(timeout_s=timeout_s)
        yield stack
    finally:
        stack.stop()


def ask(client: QuarryClient, **body: Any) -> str:
    """POST /v1/runs with any fields; the run id."""
    r = client.http.post("/v1/runs", json=body, headers={"Authorization": f"Bearer {client.token}"})
    assert r.status_code == 202, r.text
    return str(r.json()["run_id"])
