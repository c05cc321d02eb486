"""Every subject on the bus: `<domain>.v<major>.<name>`. Nobody types a subject string elsewhere."""

from __future__ import annotations

STREAM = "QUARRY"
STREAM_SUBJECTS = [
    "run.>",
    "credits.>",
    "tool.>",
    "task.>",
    "usage.>",
    "report.>",
    "document.>",
    "approval.>",
    "timer.>",
    "monitor.>",
    "guardrail.>",
    "question.>",
    # Only the policy events: `policy.v1.simulate` and friends are core-NATS request/reply, and a
    # stream capturing them would answer each request with its publish ack.
    "policy.v1.published",
    "policy.v1.activated",
    "policy.v1.rejected",
    # Only events again: `agent.v1.register` and `agent.v1.versions` are request/reply, and
    # rollouts' commands may be too (PROGRESSIVE_DELIVERY_EVENTS below lists the same).
    "agent.v1.version_registered",
    "agent.v1.version_evaluated",
    "rollout.v1.started",
    "rollout.v1.stage_advanced",
    "rollout.v1.rolled_back",
    "rollout.v1.paused",
    "rollout.v1.resumed",
    "rollout.v1.aborted",
    "rollout.v1.held",
    "rollout.v1.tenants_rerandomised",
]
DEADLETTER_STREAM = "QUARRY_DEADLETTER"
DEADLETTER_SUBJECTS = ["deadletter.>"]

RUN_REQUESTED = "run.v1.requested"
RUN_ADMITTED = "run.v1.admitted"
RUN_PLANNED = "run.v1.planned"
RUN_STEP_CHANGED = "run.v1.step_changed"
RUN_COMPLETED = "run.v1.completed"
RUN_FAILED = "run.v1.failed"
RUN_REJECTED = "run.v1.rejected"
RUN_CANCEL_REQUESTED = "run.v1.cancel_requested"
RUN_CANCELLED = "run.v1.cancelled"
RUN_WAITING_APPROVAL = "run.v1.waiting_approval"
RUN_RESUMED = "run.v1.resumed"
RUN_EXPIRED = "run.v1.expired"
RUN_AWAITING_PLAN_REVIEW = "run.v1.awaiting_plan_review"
RUN_PLAN_REVIEWED = "run.v1.plan_reviewed"
RUN_PLAN_REVISED = "run.v1.plan_revised"

APPROVAL_GIVEN = "approval.v1.given"
APPROVAL_REJECTED = "approval.v1.rejected"

TIMER_FIRED = "timer.v1.fired"

GUARDRAIL_TRIPPED = "guardrail.v1.tripped"

MONITOR_CREATED = "monitor.v1.created"
MONITOR_CHANGED = "monitor.v1.changed"
MONITOR_SCHEDULED = "monitor.v1.scheduled"
MONITOR_FIRED = "monitor.v1.fired"

CREDITS_GRANTED = "credits.v1.granted"
CREDITS_RESERVED = "credits.v1.reserved"
CREDITS_DENIED = "credits.v1.denied"
CREDITS_SETTLED = "credits.v1.settled"
CREDITS_REFUNDED = "credits.v1.refunded"
CREDITS_PURCHASED = "credits.v1.purchased"
CREDITS_EXPIRED = "credits.v1.expired"
CREDITS_ADJUSTED = "credits.v1.adjusted"
CREDITS_TIER_CHANGED = "credits.v1.tier_changed"
CREDITS_PLAN_CHANGED = "credits.v1.plan_changed"
# Core-NATS request/reply subjects of billing (answered by one replica: queue group).
BILLING_SUMMARY = "billing.v1.summary"
BILLING_LEDGER = "billing.v1.ledger"
BILLING_CHECKOUT = "billing.v1.checkout"
BILLING_PORTAL = "billing.v1.portal"
BILLING_WEBHOOK = "billing.v1.webhook"
BILLING_ENTITLEMENTS = "billing.v1.entitlements"
BILLING_RUN_CREDITS = "billing.v1.run_credits"

TOOL_REQUESTED = "tool.v1.requested"
TOOL_DECIDED = "tool.v1.decided"

POLICY_PUBLISHED = "policy.v1.published"
POLICY_ACTIVATED = "policy.v1.activated"
POLICY_REJECTED = "policy.v1.rejected"
# Core-NATS request/reply subjects of the policy service (answered by one replica: queue group).
POLICY_SIMULATE = "policy.v1.simulate"
POLICY_DECISIONS = "policy.v1.decisions"
POLICY_VERSIONS = "policy.v1.versions"
POLICY_PLAN_REVIEW = "policy.v1.plan_review"

TASK_DISPATCHED = "task.v1.dispatched"
TASK_SUCCEEDED = "task.v1.succeeded"
TASK_FAILED = "task.v1.failed"

USAGE_RECORDED = "usage.v1.recorded"

REPORT_PUBLISHED = "report.v1.published"

DOCUMENT_UPLOADED = "document.v1.uploaded"
DOCUMENT_INDEXED = "document.v1.indexed"
DOCUMENT_REJECTED = "document.v1.rejected"
DOCUMENT_PROGRESS = "document.v1.progress"
DATASET_CREATED = "document.v1.dataset_created"
DATASET_DELETED = "document.v1.dataset_deleted"

QUESTION_ASKED = "question.v1.asked"
QUESTION_ANSWER_PART = "question.v1.answer_part"
QUESTION_ANSWERED = "question.v1.answered"
QUESTION_FAILED = "question.v1.failed"

# Progressive delivery (contracts.agents, contracts.rollouts): the orchestrator keeps agent
# versions and rollouts, and publishes their events.
AGENT_VERSION_REGISTERED = "agent.v1.version_registered"
AGENT_VERSION_EVALUATED = "agent.v1.version_evaluated"
# Core-NATS request/reply subjects of the orchestrator (answered by one replica: queue group).
AGENT_REGISTER = "agent.v1.register"
AGENT_VERSIONS = "agent.v1.versions"
AGENT_EVALUATION = "agent.v1.evaluation"
ROLLOUT_START = "rollout.v1.start"
ROLLOUT_COMMAND = "rollout.v1.command"
ROLLOUT_QUERY = "rollout.v1.query"
ORCHESTRATOR_REQUESTS = (
    AGENT_REGISTER,
    AGENT_VERSIONS,
    AGENT_EVALUATION,
    ROLLOUT_START,
    ROLLOUT_COMMAND,
    ROLLOUT_QUERY,
)

ROLLOUT_STARTED = "rollout.v1.started"
ROLLOUT_STAGE_ADVANCED = "rollout.v1.stage_advanced"
ROLLOUT_ROLLED_BACK = "rollout.v1.rolled_back"
ROLLOUT_PAUSED = "rollout.v1.paused"
ROLLOUT_RESUMED = "rollout.v1.resumed"
ROLLOUT_ABORTED = "rollout.v1.aborted"
ROLLOUT_HELD = "rollout.v1.held"
ROLLOUT_TENANTS_RERANDOMISED = "rollout.v1.tenants_rerandomised"
# Every event of progressive delivery, for the permissions of their one publisher.
PROGRESSIVE_DELIVERY_EVENTS = (
    AGENT_VERSION_REGISTERED,
    AGENT_VERSION_EVALUATED,
    ROLLOUT_STARTED,
    ROLLOUT_STAGE_ADVANCED,
    ROLLOUT_ROLLED_BACK,
    ROLLOUT_PAUSED,
    ROLLOUT_RESUMED,
    ROLLOUT_ABORTED,
    ROLLOUT_HELD,
    ROLLOUT_TENANTS_RERANDOMISED,
)


def task_lane(role: str) -> str:
    """The work-queue subject of one worker role, e.g. `task.v1.dispatched.analyst`."""
    return f"{TASK_DISPATCHED}.{role}"


def timer_schedule(timer_id: str) -> str:
    """The subject holding one durable timer (a JetStream scheduled message) until it fires."""
    return f"timer.v1.schedule.{timer_id}"


def deadletter(service: str) -> str:
    """Where a service puts messages it cannot process, with the reason in the headers."""
    return f"deadletter.v1.{service}"


def health(service: str) -> str:
    """Core-NATS request subject a service answers with its health (not captured by a stream)."""
    return f"_quarry.health.{service}"


# Operational records beside the event stream (contracts.ops): not events of the platform, no
# tenant's data, kept for a day. The gateway samples every durable consumer's lag onto
# `ops.v1.lag.<stream>.<consumer>` (stream and consumer names are single tokens by JetStream's rules).
LAG_STREAM = "QUARRY_LAG"
LAG_SUBJECTS = ["ops.v1.lag.>"]


def lag_sample(stream: str, consumer: str) -> str:
    return f"ops.v1.lag.{stream}.{consumer}"
