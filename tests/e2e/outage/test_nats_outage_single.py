"""The single NATS server restarted under 50 runs in flight."""

from __future__ import annotations

import pytest

from devtools.stack import Stack
from tests.e2e.outage.nats_outage import Load, assert_healed, mid_flight

pytestmark = [pytest.mark.e2e, pytest.mark.infra, pytest.mark.timeout(1200)]


def test_runs_complete_when_the_single_nats_server_restarts(nats_single_stack: Stack) -> None:
    stack = nats_single_stack
    load = Load(stack)

    def restart() -> str:
        stack.restart_nats()
        return "a restart of the single nats-server"

    try:
        outage = mid_flight(load, restart)
        assert_healed(stack, load, outage)
    finally:
        load.close()
