"""A policy that forbids a step ends the run with the reason, and billing refunds it."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.client import QuarryClient
from devtools.stack import Stack, StackConfig
from quarry_runtime import natsserver
from services.policy.domain.engine import DEFAULT_POLICY_DIR
from tests.e2e.helpers import running

pytestmark = [pytest.mark.e2e, pytest.mark.infra]

FORBID_PUBLISHING = """
@id("no-publishing-this-week")
forbid (principal, action == Quarry::Action::"invoke_tool", resource is Quarry::Tool)
when { resource.name == "publish_report" };
"""


@pytest.fixture(scope="module")
def strict_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("strict")
    policies = root / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, policies)
    (policies / "freeze.cedar").write_text(FORBID_PUBLISHING)
    config = StackConfig(
        data_dir=root / "data",
        http_port=natsserver.free_port(),
        extra_env={"QUARRY_POLICY_DIR": str(policies)},
    )
    with running(config) as stack:
        yield stack


def test_a_denied_tool_fails_the_run_with_the_policy_reason_and_charges_its_usage(strict_stack: Stack) -> None:
    client = QuarryClient(f"http://127.0.0.1:{strict_stack.config.http_port}")
    client.signup(f"erin-{uuid.uuid4().hex[:6]}@example.com", "correct-horse-battery", "erin")
    run_id = client.create_run("What is a context manager in Python?", depth=1, max_sources=3)
    events = list(client.events(run_id))
    decided = [e.json()["payload"] for e in events if e.event == "tool.decided"]
    # A free tenant's default sources include its datasets, whose read (read_dataset) is denied
    # too, by plan, and dropped; publishing is what ends the run.
    denial = [d for d in decided if d["decision"] == "deny" and d["tool"] != "read_dataset"]
    assert denial and denial[0]["tool"] == "publish_report"
    assert denial[0]["policy_ids"] == ["no-publishing-this-week"]
    view = client.run(run_id)
    assert view["state"] == "failed"
    assert "denied by policy" in view["error"] and "no-publishing-this-week" in view["error"]
    assert any(s["step"] == "report" and s["status"] == "denied" for s in view["steps"])
    # The tenant's own policy refused the tool: the work done before is charged, not refunded.
    cost = view["cost"]
    assert cost["settled"] > 0 and cost["settled"] + cost["refunded"] == cost["reserved"], cost
    assert client.get(f"/v1/runs/{run_id}/report.pdf").status_code == 404
    client.close()


def test_an_invalid_policy_set_stops_the_policy_service_from_starting(tmp_path: Path) -> None:
    from quarry_runtime.settings import RuntimeSettings
    from services.policy.bootstrap import PolicySettings, build
    from services.policy.domain.engine import PolicyError

    bad = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, bad)
    (bad / "broken.cedar").write_text(
        '@id("broken")\npermit (principal, action, resource) when { resource.teir == "x" };'
    )
    settings: RuntimeSettings = PolicySettings(policy_dir=bad, data_dir=tmp_path)
    with pytest.raises(PolicyError, match="broken"):
        build(settings)
