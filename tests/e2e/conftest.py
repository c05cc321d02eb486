"""End-to-end stacks: every service as its own process, on SQLite or on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devtools import natsserver
from devtools.stack import Stack, StackConfig
from tests.support.stack import ClientFactory, clients_of, running


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    database_url = None
    if request.param == "postgres":
        database_url = request.getfixturevalue("database_url_module")
    # Each stack gets its own nats-server so two stacks never share durable consumers.
    config = StackConfig(
        data_dir=tmp_path_factory.mktemp(f"e2e-{request.param}"),
        http_port=natsserver.free_port(),
        database_url=database_url,
    )
    with running(config) as s:
        yield s


@pytest.fixture(scope="module")
def database_url_module(pg_server: str) -> Iterator[str]:
    from devtools import pgserver

    url = pgserver.create_database(pg_server, prefix="quarry_e2e")
    yield url
    pgserver.drop_database(pg_server, url)


@pytest.fixture
def client_factory(stack: Stack) -> Iterator[ClientFactory]:
    with clients_of(stack) as bound:
        yield bound
