"""`quarry operator evaluate` on the real gateway and orchestrator (private JetStream): the version's
configuration is read through `GET /v1/ops/agents/{component}` and checked against its hash, the
offline evaluation runs with it, and the whole split's metrics are stored with the version through
`POST /v1/ops/agents/{component}/{version}/evaluations`, which answers the gate's verdict."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from contracts.agents import EVAL_TARGETS, EVAL_ZERO, AgentConfig, agent_version, eval_failures
from devtools.agent_eval import EvaluationFailed, evaluate_version
from services.gateway.settings import GatewaySettings
from tests.servers import PrivateNats
from tests.support.control_plane import gateway_outside_development, orchestrator, running
from tests.support.people import granted

pytestmark = pytest.mark.infra

TERSE: dict[str, object] = {"mode": "offline", "parameters": {"claims_per_section": 1}}
METRICS = set(EVAL_TARGETS) | set(EVAL_ZERO)


gateway_settings = gateway_outside_development


async def registered(admin: httpx.AsyncClient, config: dict[str, object]) -> str:
    r = await admin.post("/v1/ops/agents", json={"component": "synthesiser", "config": config})
    assert r.status_code in (200, 201), r.text
    version: str = r.json()["version"]
    assert version == agent_version("synthesiser", AgentConfig.model_validate(config))
    return version


@pytest.fixture
async def operator(
    gateway: httpx.AsyncClient, gateway_settings: GatewaySettings, server: PrivateNats, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway as a platform admin sees it (as `quarry operator` calls it), with the
    orchestrator (on SQLite) answering its agent routes."""
    admin = await granted(gateway, gateway_settings, tmp_path, "platform_admin")
    gateway.headers.update(admin.headers)
    async with running(server, orchestrator(server, tmp_path / "orchestrator", None)):
        yield gateway


async def test_a_look_at_a_few_questions_reads_the_version_and_posts_nothing(operator: httpx.AsyncClient) -> None:
    version = await registered(operator, TERSE)
    done = await evaluate_version(operator, "synthesiser", version, questions=3)
    assert set(done.metrics) == METRICS and done.judged is None and done.notes
    with pytest.raises(EvaluationFailed, match="no synthesiser version"):
        await evaluate_version(operator, "synthesiser", "f" * 64, questions=1)
    listed = (await operator.get("/v1/ops/agents/synthesiser")).json()["versions"]
    assert [v["evaluation"] for v in listed] == [None]


async def test_the_whole_split_s_metrics_are_stored_with_the_version_and_judged(operator: httpx.AsyncClient) -> None:
    """Needs the gateway's evaluation route and the orchestrator's `agent.v1.evaluation` answer."""
    version = await registered(operator, TERSE)
    done = await evaluate_version(operator, "synthesiser", version)
    assert done.judged is not None and set(done.metrics) == METRICS
    # The first version is the stable one: judged against the targets alone.
    assert done.judged["failures"] == eval_failures(done.metrics, None)
    assert done.judged["passed"] == (not done.judged["failures"])
    listed = (await operator.get("/v1/ops/agents/synthesiser")).json()["versions"]
    stored = listed[0]["evaluation"]
    assert stored["metrics"] == done.metrics and stored["split"] == "test"
