"""Requests to the policy service as the orchestrator sends them."""

from __future__ import annotations

from contracts.tool import ToolRequestedPayload


def fetch_request(
    plan: str = "free", role: str = "owner", *, request_id: str = "r", task_id: str = "t", step: str = "s"
) -> ToolRequestedPayload:
    """A request to fetch one paper, by a task of a run whose caller has `role` on `plan`."""
    return ToolRequestedPayload(
        request_id=request_id,
        tool="fetch_url",
        task_id=task_id,
        step=step,
        plan=plan,
        roles=[role],
        arguments={"url": "https://arxiv.org/abs/1"},
    )
