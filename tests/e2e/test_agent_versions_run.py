"""Agent versions on the real stack (development, every service its own process): a platform
admin registers a planner and a ranker version, they become the stable ones, and the next run
records them at admission and is planned and ranked by them: the planner's cap of one
sub-question is the plan the run researches, and the run's view names the versions."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from contracts.agents import AgentConfig, agent_version
from devtools import natsserver
from devtools.client import QuarryClient
from devtools.stack import Stack, StackConfig
from tests.support.operators import quarry_operator
from tests.support.stack import ask, clients_of, new_tenant, running, until_settled

pytestmark = [pytest.mark.e2e, pytest.mark.infra]

PLANNER = {"mode": "offline", "parameters": {"max_sub_questions": 1}}
RANKER = {"mode": "offline", "parameters": {"expansion": False, "related_weight": 0.2}}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig(data_dir=tmp_path_factory.mktemp("e2e-agents"), http_port=natsserver.free_port())
    with running(config) as s:
        yield s


def signed_up(factory: Callable[[], QuarryClient]) -> tuple[QuarryClient, str]:
    """A new tenant's owner, and the email `quarry operator grant` names it by."""
    client, email = factory(), f"ops-{uuid.uuid4().hex[:6]}@example.com"
    client.signup(email, "correct-horse-battery", "ops")
    return client, email


def test_a_run_is_planned_and_ranked_by_the_stable_versions(stack: Stack, tmp_path: Path) -> None:
    with clients_of(stack) as factory:
        admin, email = signed_up(factory)
        granted = asyncio.run(
            quarry_operator("grant", email, "--role", "platform_admin", data_dir=stack.config.data_dir, cwd=tmp_path)
        )
        assert granted.returncode == 0, granted.stderr + granted.stdout
        versions: dict[str, str] = {}
        for component, config in (("planner", PLANNER), ("ranker", RANKER)):
            r = admin.request("POST", "/v1/ops/agents", json={"component": component, "config": config})
            assert r.status_code == 201, r.text
            versions[component] = r.json()["version"]
            assert versions[component] == agent_version(component, AgentConfig.model_validate(config))
        time.sleep(1.5)  # admission reads the assignment table at most once a second

        owner = new_tenant(factory, "researcher")
        run_id = ask(owner, question="How does the with statement work and what are context managers?", depth=2)
        view = until_settled({run_id: owner})[run_id]
    assert view["state"] == "completed", view.get("error")
    assert view["agent_versions"]["planner"] == versions["planner"]
    assert view["agent_versions"]["ranker"] == versions["ranker"]
    assert len(view["sub_questions"]) == 1  # the planner version's cap, not the depth's three or four
