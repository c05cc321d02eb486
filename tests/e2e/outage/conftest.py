"""The stacks the outage tests take the broker or the database away from, one per test file.

Each outage test has a file (and so an xdist worker) of its own: together they are the longest
part of the suite, and one after another on a single worker they would set its wall time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools import natsserver, pgserver
from devtools.pgserver import EphemeralCluster
from devtools.stack import Stack, StackConfig
from tests.e2e.outage.nats_outage import config
from tests.support.stack import running


@pytest.fixture
def nats_cluster_stack(tmp_path: Path) -> Iterator[Stack]:
    with running(config(tmp_path, nats_nodes=3)) as stack:
        yield stack


@pytest.fixture
def nats_single_stack(tmp_path: Path) -> Iterator[Stack]:
    with running(config(tmp_path, nats_nodes=1)) as stack:
        yield stack


@pytest.fixture(scope="module")
def pg_cluster() -> Iterator[EphemeralCluster]:
    """A server of this module's own: restarting the shared one would break every other test."""
    try:
        own = EphemeralCluster()
    except (RuntimeError, OSError) as exc:
        pytest.fail(f"cannot start a PostgreSQL cluster to restart and stop: {exc}")
    yield own
    own.stop()


@pytest.fixture(scope="module")
def pg_stack(tmp_path_factory: pytest.TempPathFactory, pg_cluster: EphemeralCluster) -> Iterator[Stack]:
    database_url = pgserver.create_database(pg_cluster.url, prefix="quarry_outage")
    stack_config = StackConfig(
        data_dir=tmp_path_factory.mktemp("pg-outage"),
        http_port=natsserver.free_port(),
        database_url=database_url,
    )
    with running(stack_config) as stack:
        yield stack
