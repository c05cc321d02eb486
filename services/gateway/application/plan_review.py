"""The review of a run's plan: continue with the sub-questions (edited or not), or cancel."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from contracts import subjects
from contracts.policy import PlanReviewQuery, PlanReviewReply
from contracts.run import MAX_SUB_QUESTIONS, RunPlanReviewed, RunPlanReviewedPayload
from quarry_security.guardrails import injection_findings
from services.gateway.api.commands import publish
from services.gateway.api.models.runs import PlanReviewCreate
from services.gateway.api.requests import ask
from services.gateway.application.requested import requested
from services.gateway.application.runs import found_run
from services.gateway.errors import BadRequest, Conflict, Forbidden, Unavailable
from services.gateway.security import Principal

if TYPE_CHECKING:
    from services.gateway.api.deps import AuditTrail, Components


def _checked_sub_questions(body: PlanReviewCreate, review: dict[str, Any], most: int) -> list[str]:
    if body.action == "cancel":
        if body.sub_questions:
            raise BadRequest("a cancelled plan takes no sub-questions")
        return []
    sub_questions = list(review.get("sub_questions") or []) if body.sub_questions is None else body.sub_questions
    if body.sub_questions is not None and not 1 <= len(sub_questions) <= most:
        raise BadRequest(f"the plan of this run holds 1 to {most} sub-questions, not {len(sub_questions)}")
    if len({" ".join(q.split()).casefold() for q in sub_questions}) != len(sub_questions):
        raise BadRequest("the sub-questions must differ from each other")
    # Screened as the question is: a sub-question becomes a search query and a model prompt.
    for i, sub_question in enumerate(sub_questions, 1):
        if injection_findings(sub_question):
            raise BadRequest(f"sub-question {i} reads as instructions to the model (prompt injection)")
    return sub_questions


async def review_plan(
    parts: Components, who: Principal, run_id: str, body: PlanReviewCreate, audit: AuditTrail
) -> dict[str, Any]:
    """Continue or cancel a run waiting for its plan's review, if policy lets the caller; recorded
    in the run's log and the audit log."""
    view = await found_run(parts, who.tenant_id, run_id)
    review = view.get("plan_review") or {}
    most = int(review.get("max_sub_questions") or MAX_SUB_QUESTIONS.get(view.get("depth") or 3, 6))
    sub_questions = _checked_sub_questions(body, review, most)
    query = PlanReviewQuery(
        tenant_id=who.tenant_id,
        user_id=who.user_id,
        roles=list(who.roles),
        run_id=run_id,
        run_tenant_id=who.tenant_id,  # `found_run` found the run in the caller's tenant
        requester_id=view.get("user_id"),
        sub_questions=len(sub_questions),
        max_sub_questions=most,
    )
    reply = await ask(
        parts, subjects.POLICY_PLAN_REVIEW, query, PlanReviewReply, who="the policy service", timeout_s=2.0
    )
    if reply.verdict is None:
        raise Unavailable(f"the policy service could not decide: {reply.error}")
    if reply.verdict.decision != "allow":
        raise Forbidden(f"policy {reply.verdict.policy_version}: " + "; ".join(reply.verdict.reasons))
    if view["state"] != "awaiting_plan_review" or review.get("status") != "pending":
        raise Conflict(f"the run is not waiting for a review of its plan (state: {view['state']})")
    if body.action == "continue" and not sub_questions:
        raise BadRequest("continuing needs at least one sub-question")
    reviewed = RunPlanReviewedPayload(
        action=body.action, sub_questions=sub_questions, comment=body.comment, review_id=review.get("review_id")
    )
    event = requested(RunPlanReviewed, reviewed, who, run_id=run_id)
    await publish(parts, event)
    await audit(
        "run.plan_reviewed",
        run_id,
        action=body.action,
        sub_questions=sub_questions,
        planned=review.get("sub_questions") or [],
        comment=body.comment,
        event_id=event.event_id,
    )
    return {
        "run_id": run_id,
        "review_id": review.get("review_id"),
        "action": body.action,
        "sub_questions": sub_questions,
    }
