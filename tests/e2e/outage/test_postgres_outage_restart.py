"""PostgreSQL restarted under a whole stack with 50 runs in flight."""

from __future__ import annotations

import time

import pytest

from devtools.pgserver import EphemeralCluster
from devtools.stack import Stack
from tests.e2e.outage.postgres_outage import assert_healed, dead_letter_seq, in_flight, start_batch

# The stack's start (the retriever indexes its corpus first) counts toward the test's timeout;
# the case's own time is asserted against CASE_BUDGET_S.
pytestmark = [pytest.mark.e2e, pytest.mark.infra, pytest.mark.timeout(900)]


def test_a_postgres_restart_under_fifty_runs_heals_by_itself(pg_stack: Stack, pg_cluster: EphemeralCluster) -> None:
    stack = pg_stack
    dead_before = dead_letter_seq(stack)
    batch = start_batch(stack, "restart")
    try:
        in_flight(batch)
        pg_cluster.restart()
        print(f"restarted PostgreSQL {time.monotonic() - batch.started:.1f}s after the first run")
        assert_healed(stack, batch, dead_before, "a PostgreSQL restart")
    finally:
        batch.close()
