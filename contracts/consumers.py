"""Who reads which events: every durable consumer of the event stream, by service. Plain data.

The services build their subscriptions from it (a subject missing here has no durable name, so
the service does not start), and quarry_security.natsauth turns it into each service's NATS
permissions: a service's user may create, inspect, fetch from and acknowledge only its own
consumers, each only with the filter subject listed here. Durable names start with the
service's name; renaming one starts a new consumer on a running deployment (from the first
event of the stream), so names stay as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts import subjects as s


@dataclass(frozen=True)
class Consumer:
    subject: str  # the consumer's filter subject
    durable: str


def _per_subject(service: str, *filters: str) -> tuple[Consumer, ...]:
    return tuple(Consumer(f, f"{service}-{f.replace('.', '-')}") for f in filters)


def lane(role: str) -> Consumer:
    """The work queue of one worker role, shared by the worker's replicas."""
    return Consumer(s.task_lane(role), f"{role}-lane")


CONSUMERS: dict[str, tuple[Consumer, ...]] = {
    # The gateway's read models see every event of a domain.
    "gateway": tuple(
        Consumer(f"{domain}.>", f"gateway-{name}")
        for domain, name in (
            ("run", "runs"),
            ("credits", "credits"),
            ("tool", "tools"),
            ("task", "tasks"),
            ("report", "reports"),
            ("approval", "approvals"),
            ("document", "documents"),
            ("monitor", "monitors"),
            ("guardrail", "guardrails"),
            ("question", "questions"),
            ("usage", "usage"),
        )
    ),
    "orchestrator": _per_subject(
        "orchestrator",
        s.RUN_REQUESTED,
        s.CREDITS_RESERVED,
        s.CREDITS_DENIED,
        s.CREDITS_SETTLED,
        s.TOOL_DECIDED,
        s.TASK_SUCCEEDED,
        s.TASK_FAILED,
        s.TIMER_FIRED,
        s.RUN_CANCEL_REQUESTED,
        s.APPROVAL_GIVEN,
        s.APPROVAL_REJECTED,
        s.RUN_PLAN_REVIEWED,
        s.MONITOR_CREATED,
        s.MONITOR_CHANGED,
        s.QUESTION_ASKED,
    ),
    "billing": _per_subject(
        "billing",
        s.RUN_REQUESTED,
        s.USAGE_RECORDED,
        s.RUN_COMPLETED,
        s.RUN_FAILED,
        s.RUN_CANCELLED,
        s.RUN_EXPIRED,
        s.RUN_REJECTED,
        s.QUESTION_ASKED,
        s.QUESTION_ANSWERED,
        s.QUESTION_FAILED,
    ),
    "policy": (
        Consumer(s.TOOL_REQUESTED, "policy-tool-requests"),
        Consumer(s.POLICY_PUBLISHED, "policy-versions"),
        Consumer("credits.>", "policy-budgets"),
    ),
    "retriever": (
        lane("retriever"),
        Consumer(s.DOCUMENT_UPLOADED, "retriever-documents"),
        Consumer(s.DATASET_DELETED, "retriever-datasets"),
    ),
    "analyst": (lane("analyst"),),
    "reporter": (lane("reporter"),),
}


def durable(service: str, subject: str) -> str:
    """The durable name under which `service` consumes `subject`; a KeyError when it does not."""
    for consumer in CONSUMERS[service]:
        if consumer.subject == subject:
            return consumer.durable
    raise KeyError(f"{service} has no consumer of {subject} in contracts.consumers")


def _catch_up(service: str) -> tuple[Consumer, ...]:
    return tuple(
        Consumer(c.subject, c.durable.replace(f"{service}-", f"{service}-catchup-", 1)) for c in CONSUMERS[service]
    )


# Consumers a service creates for a while and deletes again, beside its durable ones (the bus
# subscribes none of them): the gateway's catch-up reads each of its subjects again from the
# position its read models reached, to apply whatever its live consumers missed. Same filters,
# so they let the service read nothing it does not already read.
READERS: dict[str, tuple[Consumer, ...]] = {"gateway": _catch_up("gateway")}


def reader(service: str, subject: str) -> Consumer:
    """The catch-up reader of `service` on `subject`; a KeyError when it has none."""
    for consumer in READERS[service]:
        if consumer.subject == subject:
            return consumer
    raise KeyError(f"{service} has no reader of {subject} in contracts.consumers")
