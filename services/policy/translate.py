"""The policy service's own types -> the contracts it answers with."""

from __future__ import annotations

from typing import Any

from contracts.policy import PolicyVerdict
from contracts.tool import ToolDecidedPayload, ToolRequestedPayload
from services.policy.domain.verdict import Verdict

DELEGATION_POLICY = "delegation-token"


def decided_payload(verdict: Verdict, request: ToolRequestedPayload) -> ToolDecidedPayload:
    """The `tool.decided` payload answering `request`."""
    return ToolDecidedPayload(
        request_id=request.request_id,
        task_id=request.task_id,
        tool=request.tool,
        **_verdict_fields(verdict),
        retry_after_s=verdict.retry_after_s,
    )


def delegation_refused(request: ToolRequestedPayload, why: str, version: str) -> ToolDecidedPayload:
    """The denial of a request whose delegation token proves nothing, before any policy runs."""
    return ToolDecidedPayload(
        request_id=request.request_id,
        task_id=request.task_id,
        tool=request.tool,
        decision="deny",
        reasons=[f"delegation: {why}"],
        policy_ids=[DELEGATION_POLICY],
        policy_version=version,
        evaluation_ms=0.0,
    )


def verdict_contract(verdict: Verdict) -> PolicyVerdict:
    """A verdict as a request/reply answer carries it."""
    return PolicyVerdict(**_verdict_fields(verdict))


def _verdict_fields(verdict: Verdict) -> dict[str, Any]:
    """The fields every contract that carries a verdict names alike."""
    return {
        "decision": verdict.decision,
        "reasons": verdict.reasons,
        "policy_ids": verdict.policy_ids,
        "policy_version": verdict.version,
        "evaluation_ms": verdict.evaluation_ms,
        "approval_rule_ids": verdict.approval_rule_ids,
        "approval_timeout_s": verdict.approval_timeout_s,
    }
