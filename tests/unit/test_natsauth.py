"""The table of who may say what on the bus (quarry_security.natsauth), against the contracts."""

from __future__ import annotations

from contracts import consumers, subjects
from contracts.ops import HEARTBEATS_BUCKET
from contracts.registry import EVENT_TYPES
from quarry_security import natsauth
from services.retriever import tombstones


def matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` is one token, `>` the rest (one token or more)."""
    want, have = pattern.split("."), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or (token != "*" and token != have[i]):
            return False
    return len(want) == len(have)


def publishers(subject: str) -> list[str]:
    return [s for s in natsauth.SERVICES if any(matches(p, subject) for p in natsauth.permissions(s).publish)]


def test_only_the_orchestrator_announces_agent_versions_and_rollout_decisions() -> None:
    for subject in subjects.PROGRESSIVE_DELIVERY_EVENTS:
        assert publishers(subject) == ["orchestrator"], subject
        assert subject in subjects.STREAM_SUBJECTS
    # Its request subjects are answered, never captured by the stream (which would ack each request).
    for request in (subjects.AGENT_REGISTER, subjects.AGENT_VERSIONS):
        assert not any(matches(pattern, request) for pattern in subjects.STREAM_SUBJECTS)


def test_only_policy_decides_and_only_billing_moves_credits() -> None:
    assert publishers(subjects.TOOL_DECIDED) == ["policy"]
    for subject in (subjects.CREDITS_REFUNDED, subjects.CREDITS_GRANTED, subjects.CREDITS_ADJUSTED):
        assert publishers(subject) == ["billing"]
    assert publishers(subjects.RUN_COMPLETED) == ["orchestrator"]
    assert publishers(subjects.deadletter("billing")) == ["billing"]


def test_every_event_of_the_contracts_has_a_publisher() -> None:
    """A new event (or a renamed subject) fails here until natsauth says which service sends it:
    otherwise that service's publishes would be refused on every deployment with users."""
    # A dispatched task goes out on its worker's lane, `task.v1.dispatched.<role>`, never bare.
    orphans = [t.SUBJECT for t in EVENT_TYPES if t.SUBJECT != subjects.TASK_DISPATCHED and not publishers(t.SUBJECT)]
    assert orphans == []
    assert publishers(subjects.task_lane("analyst")) == ["orchestrator"]


def test_requests_are_made_by_the_gateway_and_answered_by_their_owner() -> None:
    for request, owner in (
        (subjects.BILLING_CHECKOUT, "billing"),
        (subjects.BILLING_WEBHOOK, "billing"),
        (subjects.POLICY_SIMULATE, "policy"),
        *((request, "orchestrator") for request in subjects.ORCHESTRATOR_REQUESTS),
    ):
        # Workers resolve the agent version a task names; every other request is the gateway's.
        askers = ["analyst", "gateway", "retriever"] if request == subjects.AGENT_VERSIONS else ["gateway"]
        assert sorted(publishers(request)) == askers
        listeners = [s for s in natsauth.SERVICES if request in natsauth.permissions(s).subscribe]
        assert listeners == [owner] and natsauth.permissions(owner).responds


def test_each_service_listens_only_on_its_own_inbox() -> None:
    for service in natsauth.SERVICES:
        inboxes = [p for p in natsauth.permissions(service).subscribe if p.startswith("_INBOX")]
        assert inboxes == [f"_INBOX_{service}.>"]


def test_the_buckets_are_the_ones_the_services_open() -> None:
    assert natsauth.DELETED_DATASETS_BUCKET == tombstones.BUCKET
    assert publishers(f"$KV.{tombstones.BUCKET}.k") == ["retriever"]
    assert publishers("$KV.quarry_delegation_keys.kid") == ["orchestrator"]


def test_a_service_runs_only_its_own_consumers_with_their_own_filters() -> None:
    """Consumers read events: who may create, fetch from or delete one is who reads its events."""
    create = f"$JS.API.CONSUMER.CREATE.{subjects.STREAM}"
    assert publishers(f"{create}.reporter-lane.{subjects.task_lane('reporter')}") == ["reporter"]
    assert publishers(f"{create}.reporter-lane.credits.>") == []
    assert publishers(f"{create}.reporter-lane") == []  # no filter in the subject: any in the body
    assert publishers(create) == []  # ephemeral: the filter is in the body only
    assert publishers(f"$JS.API.CONSUMER.DURABLE.CREATE.{subjects.STREAM}.billing-run-v1-completed") == []
    assert publishers(f"{create}.policy-budgets.credits.>") == ["policy"]
    for verb in ("INFO", "DELETE", "MSG.NEXT"):
        assert publishers(f"$JS.API.CONSUMER.{verb}.{subjects.STREAM}.billing-run-v1-completed") == ["billing"]
    assert publishers(f"$JS.ACK.{subjects.STREAM}.gateway-runs.1.2.3.4.5") == ["gateway"]
    # Nor any message of the event stream or the dead letters read by sequence.
    for stream in (subjects.STREAM, subjects.DEADLETTER_STREAM):
        assert publishers(f"$JS.API.STREAM.MSG.GET.{stream}") == []
        assert publishers(f"$JS.API.DIRECT.GET.{stream}") == []


def test_the_consumer_permissions_are_the_services_subscriptions() -> None:
    """Each service's permissions come from contracts.consumers, which its subscriptions use."""
    for service, wanted in consumers.CONSUMERS.items():
        for c in wanted:
            assert c.durable.startswith(f"{service}-")
            create = f"$JS.API.CONSUMER.CREATE.{subjects.STREAM}.{c.durable}.{c.subject}"
            assert publishers(create) == [service]
    durables = [c.durable for wanted in consumers.CONSUMERS.values() for c in wanted]
    assert len(durables) == len(set(durables))


def test_a_bucket_is_read_by_the_services_that_use_it() -> None:
    kv = "$JS.API.DIRECT.GET.KV_quarry_tenant_models"
    assert publishers(kv) == ["gateway", "analyst"]
    assert publishers("$JS.API.CONSUMER.CREATE.OBJ_quarry_uploads") == ["gateway", "retriever"]
    assert publishers("$JS.API.CONSUMER.CREATE.KV_quarry_task_journal") == ["retriever", "analyst", "reporter"]
    # Nor list the keys of a bucket it does not use (a stream's description, with a filter, does).
    assert publishers("$JS.API.STREAM.INFO.OBJ_quarry_uploads") == ["gateway", "retriever"]
    # A watcher reads its ephemeral consumer's description.
    assert publishers("$JS.API.CONSUMER.INFO.KV_quarry_tenant_models.Wf6ROnF3") == ["gateway", "analyst"]


def test_only_the_orchestrator_reads_the_event_stream_by_subject_and_only_its_pending_timers() -> None:
    """Its timer sweep reads a schedule message by subject; any other read of the event stream
    (a run's request, another tenant's report) stays a consumer's, with its filter pinned."""
    direct = f"$JS.API.DIRECT.GET.{subjects.STREAM}"
    assert publishers(f"{direct}.{subjects.timer_schedule('0b7a')}") == ["orchestrator"]
    for other in (subjects.RUN_REQUESTED, subjects.TIMER_FIRED, subjects.REPORT_PUBLISHED):
        assert publishers(f"{direct}.{other}") == []
    # The batch form names its subjects in the body, where no permission can see them.
    assert publishers(direct) == []
    assert publishers(f"$JS.API.STREAM.MSG.GET.{subjects.STREAM}") == []


def test_each_service_writes_only_its_own_instances_heartbeats() -> None:
    for service in natsauth.SERVICES:
        assert publishers(f"$KV.{HEARTBEATS_BUCKET}.{service}.0f3a") == [service]
    assert publishers(f"$KV.{HEARTBEATS_BUCKET}.intruder.0f3a") == []
    # The operators' console's user reads the bus; it writes no heartbeat and no sample.
    console = natsauth.permissions(natsauth.OPS).publish
    assert not any(matches(p, f"$KV.{HEARTBEATS_BUCKET}.gateway.0f3a") for p in console)
    assert not any(matches(p, subjects.lag_sample(subjects.STREAM, "gateway-runs")) for p in console)


def test_only_the_gateway_samples_the_consumers_lag_and_reads_the_samples() -> None:
    assert publishers(subjects.lag_sample(subjects.STREAM, "billing-run-v1-completed")) == ["gateway"]
    assert publishers(f"$JS.API.STREAM.CREATE.{subjects.LAG_STREAM}") == ["gateway"]
    assert publishers(f"$JS.API.DIRECT.GET.{subjects.LAG_STREAM}") == ["gateway"]
    # The samples' stream captures none of the event stream's subjects, nor they its.
    assert not set(subjects.LAG_SUBJECTS) & set(subjects.STREAM_SUBJECTS)
    assert not any(s.startswith("ops.") for s in subjects.STREAM_SUBJECTS)
