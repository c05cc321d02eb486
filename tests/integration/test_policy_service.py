"""The policy service on a real JetStream, driven through the gateway's API: simulate, the
decisions log, publishing a version without restart, and a 503 when nobody answers."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from nats.js.api import DeliverPolicy
from prometheus_client import REGISTRY

from contracts import subjects
from contracts.envelope import Actor
from contracts.policy import policy_set_version
from contracts.tool import ToolRequested, ToolRequestedPayload
from quarry_runtime.bus import Bus, wire_bytes
from quarry_security.delegation import KeyDirectory, SigningKey
from services.policy.application.decider import rate_key
from tests.support.policy_service import Api, member_of, policy_service, signup
from tests.support.polling import eventually

pytestmark = pytest.mark.infra

FETCH_FOR_ALL = (
    '@id("fetch-for-everyone")\n'
    'permit (principal, action == Quarry::Action::"invoke_tool", resource == Quarry::Tool::"fetch_url");\n'
)


def make_platform_admin(components: Any, who: Api) -> None:
    # What an operator does: the API never grants this role.
    components.store.db.execute(
        "UPDATE users SET roles = ? WHERE user_id = ?", (json.dumps(["owner", "platform_admin"]), who.user_id)
    )


async def test_simulate_answers_with_the_active_version_and_uses_nothing_up(
    nats_url: str, tmp_path: Path, gateway: httpx.AsyncClient
) -> None:
    http = gateway
    owner = await signup(http)
    async with policy_service(nats_url, tmp_path / "policy") as policy:
        allowed = await owner.post(
            "/v1/policy/simulate",
            {"resource": {"tool": "publish_report", "arguments": {"run_id": "r1"}}, "context": {"hour_utc": 12}},
        )
        assert allowed.status_code == 200, allowed.text
        verdict = allowed.json()
        assert verdict["decision"] == "allow" and verdict["policy_ids"] == ["plan-tier-access"]
        assert verdict["policy_version"] == policy.decider.version and verdict["evaluation_ms"] > 0

        approval = await owner.post(
            "/v1/policy/simulate",
            {
                "principal": {"plan": "pro", "roles": ["member"]},
                "resource": {"tool": "fetch_url", "arguments": {"url": "https://unknown.example.org/x"}},
                "context": {"hour_utc": 10, "budget_remaining_pct": 50},
            },
        )
        assert approval.json()["decision"] == "require_approval"
        assert approval.json()["approval_rule_ids"] == ["egress-review"]
        assert approval.json()["approval_timeout_s"] == 3600

        low_budget = await owner.post(
            "/v1/policy/simulate",
            {
                "principal": {"plan": "pro"},
                "resource": {"tool": "fetch_url", "arguments": {"url": "https://arxiv.org/abs/1"}},
                "context": {"hour_utc": 10, "budget_remaining_pct": 5},
            },
        )
        assert low_budget.json()["policy_ids"] == ["low-budget-non-essential"]

        # 35 simulations of a tool limited to 30 calls a minute: none is counted, none is logged.
        for _ in range(35):
            again = await owner.post(
                "/v1/policy/simulate", {"resource": {"tool": "publish_report", "arguments": {"run_id": "r"}}}
            )
            assert again.json()["decision"] == "allow"
        assert await policy.decider.limiter.used(rate_key(owner.tenant_id, "publish_report"), 60) == 0
        listed = await owner.get("/v1/policy/decisions")
        assert listed.status_code == 200 and listed.json() == {"decisions": []}


async def test_a_simulation_is_about_the_callers_own_tenant_and_for_admins_only(
    nats_url: str, tmp_path: Path, gateway: httpx.AsyncClient
) -> None:
    http = gateway
    owner = await signup(http)
    member = await member_of(owner)
    body = {"resource": {"tool": "web_search", "arguments": {"question": "q"}}}
    async with policy_service(nats_url, tmp_path / "policy"):
        other = await owner.post("/v1/policy/simulate", {**body, "principal": {"tenant_id": "someone-else"}})
        assert other.status_code == 403
        aimed = await owner.post(
            "/v1/policy/simulate",
            {"resource": {"tool": "web_search", "arguments": {"question": "q", "tenant": "someone-else"}}},
        )
        assert aimed.json()["decision"] == "deny" and aimed.json()["policy_ids"] == ["tenant-isolation"]
        assert (await member.post("/v1/policy/simulate", body)).status_code == 403
        assert (await member.get("/v1/policy/decisions")).status_code == 403
        assert (await member.get("/v1/policy/versions")).status_code == 403
        assert (await owner.get("/v1/policy/versions")).status_code == 200


async def test_real_decisions_are_logged_and_listed_for_the_tenants_admins(
    nats_url: str, tmp_path: Path, gateway: httpx.AsyncClient
) -> None:
    http = gateway
    owner, stranger = await signup(http), await signup(http)
    bus = Bus(nats_url, f"policy-it-{uuid.uuid4().hex[:6]}")
    await bus.broker.connect()
    requests = {
        "report": ("publish_report", {"run_id": "run-1"}, "free"),
        "fetch": ("fetch_url", {"url": "https://arxiv.org/abs/1"}, "free"),
        "dataset": ("read_dataset", {"dataset": "sales"}, "pro"),
    }
    key = SigningKey.load_or_create(tmp_path / "delegation.pem")
    await KeyDirectory(lambda: bus.broker.connection, replicas=1).publish(key)
    try:
        async with policy_service(nats_url, tmp_path / "policy") as policy:
            for tenant in (owner.tenant_id, stranger.tenant_id):
                for task_id, (tool, arguments, plan) in requests.items():
                    token = key.issue(
                        agent="quarry-orchestrator",
                        user_id=owner.user_id,
                        tenant_id=tenant,
                        run_id="run-1",
                        scopes={f"tool:{tool}"},
                    )
                    payload = ToolRequestedPayload(
                        delegation=token,
                        request_id=f"{task_id}:1",
                        tool=tool,
                        task_id=task_id,
                        step=task_id,
                        plan=plan,
                        roles=["owner"],
                        arguments=arguments,
                    )
                    actor = Actor(user_id=owner.user_id, agent="quarry-orchestrator", roles=["owner"])
                    await bus.publish(ToolRequested.create(payload, tenant_id=tenant, run_id="run-1", actor=actor))

            async def three() -> list[dict[str, Any]]:
                found: list[dict[str, Any]] = (await owner.get("/v1/policy/decisions", params={"limit": 10})).json()[
                    "decisions"
                ]
                return found if len(found) == 3 else []

            decisions = await eventually(three, 10, "the three decisions in the log")
            assert {d["task_id"]: d["decision"] for d in decisions} == {
                "report": "allow",
                "fetch": "deny",
                "dataset": "require_approval",
            }
            for d in decisions:
                assert d["policy_version"] == policy.decider.version and d["run_id"] == "run-1"
                assert d["agent"] == "quarry-policy" and d["user_id"] == owner.user_id and d["reasons"]
            dataset = next(d for d in decisions if d["task_id"] == "dataset")
            assert dataset["policy_ids"] == ["tool-approval-by-plan"]
            # Real decisions count against the rate limit; simulations do not.
            assert await policy.decider.limiter.used(rate_key(owner.tenant_id, "publish_report"), 60) == 1
            assert len((await owner.get("/v1/policy/decisions", params={"limit": 1})).json()["decisions"]) == 1
            assert (await owner.get("/v1/policy/decisions", params={"limit": 0})).status_code == 422
    finally:
        await bus.stop()


async def test_a_published_version_is_switched_in_refused_when_invalid_and_kept_across_a_restart(
    nats_url: str, tmp_path: Path, gateway: httpx.AsyncClient, gateway_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    http, components = gateway, gateway_app.state.components
    owner = await signup(http)
    async with policy_service(nats_url, tmp_path / "policy") as policy:
        shipped = policy.decider.engine.files.files
        files = {**shipped, "extra.cedar": FETCH_FOR_ALL}
        body = {"files": files, "comment": "let everyone fetch"}

        monkeypatch.delenv("QUARRY_ALLOW_POLICY_PUBLISH", raising=False)
        assert (await owner.post("/v1/policy/versions", body)).status_code == 403  # an owner is no platform admin
        make_platform_admin(components, owner)
        disabled = await owner.post("/v1/policy/versions", body)
        assert disabled.status_code == 403 and "QUARRY_ALLOW_POLICY_PUBLISH" in disabled.json()["detail"]
        monkeypatch.setenv("QUARRY_ALLOW_POLICY_PUBLISH", "true")

        published = await owner.post("/v1/policy/versions", body)
        assert published.status_code == 201, published.text
        new_version = published.json()["version"]
        assert new_version == policy_set_version(files) and published.json()["status"] == "active"
        assert policy.decider.version == new_version
        simulated = await owner.post(
            "/v1/policy/simulate",
            {"resource": {"tool": "fetch_url", "arguments": {"url": "https://arxiv.org/"}}, "context": {"hour_utc": 9}},
        )
        assert simulated.json()["decision"] == "allow"
        assert simulated.json()["policy_ids"] == ["fetch-for-everyone"]
        assert simulated.json()["policy_version"] == new_version

        broken = {
            **files,
            "broken.cedar": '@id("broken")\npermit (principal, action, resource) when { resource.teir };',
        }
        refused = await owner.post("/v1/policy/versions", {"files": broken})
        assert refused.status_code == 422 and "broken.cedar" in refused.json()["detail"]
        assert policy.decider.version == new_version

        listed = (await owner.get("/v1/policy/versions")).json()
        assert listed["active_version"] == new_version
        statuses = {v["version"]: v["status"] for v in listed["versions"]}
        assert statuses[new_version] == "active" and statuses[policy_set_version(broken)] == "rejected"
        read = await owner.get(f"/v1/policy/versions/{new_version}")
        assert read.status_code == 200 and read.json()["files"] == files
        assert (await owner.get("/v1/policy/versions/000000000000")).status_code == 404

    async with policy_service(nats_url, tmp_path / "policy") as restarted:
        assert restarted.decider.version == new_version

    # Nobody answers: the gateway says so instead of waiting or guessing.
    started = time.monotonic()
    down = await owner.post("/v1/policy/simulate", {"resource": {"tool": "web_search", "arguments": {"question": "q"}}})
    assert down.status_code == 503 and "did not answer" in down.json()["detail"]
    assert time.monotonic() - started < 5


def search_request(tenant: str, user: str, task_id: str, token: str | None) -> ToolRequested:
    """A member's web search of a run, as the orchestrator asks for it, with `token` as its delegation."""
    payload = ToolRequestedPayload(
        request_id=f"{task_id}:1",
        tool="web_search",
        task_id=task_id,
        step="search",
        plan="free",
        roles=["member"],
        arguments={"question": "q?"},
        delegation=token,
    )
    actor = Actor(user_id=user, agent="quarry-orchestrator", roles=["member"])
    return ToolRequested.create(payload, tenant_id=tenant, run_id=str(uuid.uuid4()), actor=actor)


async def test_a_tool_request_without_a_valid_delegation_is_denied(nats_url: str, tmp_path: Path) -> None:
    bus = Bus(nats_url, f"policy-dg-{uuid.uuid4().hex[:6]}")
    await bus.start()  # the streams too: the decisions are read before the service starts
    tenant, user = uuid.uuid4().hex, uuid.uuid4().hex
    key = SigningKey.load_or_create(tmp_path / "k.pem")
    await KeyDirectory(lambda: bus.broker.connection, replicas=1).publish(key)
    forger = SigningKey.load_or_create(tmp_path / "forger.pem")  # never published
    seen: dict[str, Any] = {}
    js = bus.broker.connection.jetstream()
    sub = await js.subscribe(subjects.TOOL_DECIDED, ordered_consumer=True, deliver_policy=DeliverPolicy.NEW)

    def issue(k: SigningKey, **over: Any) -> str:
        args: dict[str, Any] = {
            "agent": "quarry-orchestrator",
            "user_id": user,
            "tenant_id": tenant,
            "run_id": "r",
            "scopes": {"tool:web_search"},
        }
        return k.issue(**(args | over))

    cases = {
        "valid": issue(key),
        "missing": None,
        "forged": issue(forger),
        "expired": issue(key, now=time.time() - 3600),
        "other-user": issue(key, user_id="someone-else"),
    }
    try:
        async with policy_service(nats_url, tmp_path / "policy"):
            for task_id, token in cases.items():
                await bus.publish(search_request(tenant, user, task_id, token))
            deadline = time.monotonic() + 10
            while len(seen) < len(cases) and time.monotonic() < deadline:
                with contextlib.suppress(Exception):
                    msg = await sub.next_msg(timeout=1)
                    body = json.loads(msg.data)
                    if body["tenant_id"] == tenant:
                        seen[body["payload"]["task_id"]] = body["payload"]
    finally:
        await sub.unsubscribe()
        await bus.stop()
    assert seen["valid"]["decision"] == "allow"
    for case in ("missing", "forged", "expired", "other-user"):
        assert seen[case]["decision"] == "deny", case
        assert seen[case]["policy_ids"] == ["delegation-token"], case
    assert "no delegation token" in seen["missing"]["reasons"][0]
    assert "unknown signing key" in seen["forged"]["reasons"][0]
    assert "expired" in seen["expired"]["reasons"][0]
    assert "another user" in seen["other-user"]["reasons"][0]


async def test_a_redelivered_tool_request_is_decided_and_counted_once(nats_url: str, tmp_path: Path) -> None:
    """The same request stored twice on the stream (as a redelivery hands it over again): one
    decision in the log and on the bus, and the decisions metric counts it once."""
    bus = Bus(nats_url, f"policy-rd-{uuid.uuid4().hex[:6]}")
    await bus.broker.connect()
    key = SigningKey.load_or_create(tmp_path / "k.pem")
    await KeyDirectory(lambda: bus.broker.connection, replicas=1).publish(key)
    tenant, user = uuid.uuid4().hex, uuid.uuid4().hex
    token = key.issue(
        agent="quarry-orchestrator", user_id=user, tenant_id=tenant, run_id="r", scopes={"tool:web_search"}
    )
    request = search_request(tenant, user, "search", token)
    js = bus.broker.connection.jetstream()
    counted = ("quarry_policy_decisions_total", {"outcome": "allow", "tool": "web_search"})
    before = REGISTRY.get_sample_value(*counted) or 0.0
    try:
        async with policy_service(nats_url, tmp_path / "policy") as policy:
            for _ in range(2):
                # Stored twice: each copy under a message id of its own, so JetStream keeps both.
                await js.publish(
                    subjects.TOOL_REQUESTED, wire_bytes(request), headers={"Nats-Msg-Id": uuid.uuid4().hex}
                )

            def decided(task_id: str) -> Callable[[], Awaitable[bool]]:
                async def check() -> bool:
                    return any(d.task_id == task_id for d in policy.store.recent_decisions(tenant, limit=10))

                return check

            # A later request, published once the first copy is decided: the service fetches its next
            # batch only when the whole batch before it is handled, so the later request's decision
            # stands after both copies. (The consumer's ack floor is no signal: other tests' requests
            # on the shared stream can hold it back.)
            await eventually(decided("search"), 15, "the request decided")
            await js.publish(subjects.TOOL_REQUESTED, wire_bytes(search_request(tenant, user, "sentinel", token)))
            await eventually(decided("sentinel"), 15, "the request stored after both copies decided")
            kept = policy.store.recent_decisions(tenant, limit=10)
            assert sorted(d.task_id for d in kept) == ["search", "sentinel"], kept
            assert (REGISTRY.get_sample_value(*counted) or 0.0) == before + 2
    finally:
        await bus.stop()
