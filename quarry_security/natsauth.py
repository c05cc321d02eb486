"""Who may say what on the bus: one NATS user per service, allowed only its own subjects.

Without this, any process that reaches NATS can publish `tool.v1.decided` (an "allow" policy
never gave) or `credits.v1.refunded` (a refund billing never made). Each service gets a user
whose publish permissions cover the events it produces, the requests it makes, the buckets it
writes and the JetStream API it needs; whose subscribe permissions cover only its own inboxes
(every JetStream delivery and reply arrives there) and the request subjects it answers. On the
event stream a service may create, inspect, fetch from and acknowledge only its own durable
consumers (contracts.consumers), each with its own filter subject: one filtered on `>` would read
every tenant's events. The table is plain data, rendered as a nats-server `authorization` block
by `server_config` and kept in step with `infra/k8s/nats/configmap.yaml` by a test.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from contracts import subjects as s
from contracts.consumers import CONSUMERS, READERS
from contracts.document import UPLOADS_BUCKET
from quarry_runtime.bus import inbox_prefix
from quarry_runtime.inflight import bucket_of as inflight_bucket
from quarry_runtime.tenant_models import BUCKET as TENANT_MODELS_BUCKET
from quarry_runtime.worker import JOURNAL_BUCKET
from quarry_security.bucket_permissions import LAG_SAMPLES, heartbeats, kv, kv_read, objects
from quarry_security.delegation import KEY_BUCKET
from quarry_security.ratelimit import bucket_of as rate_limit_bucket

SERVICES = ("gateway", "orchestrator", "retriever", "analyst", "billing", "policy", "reporter")
OPERATOR = "operator"  # without limits, for operators' tools (`python -m devtools.cli streams`)
# The operators' console's user (the gateway's `/v1/ops/` routes open a connection as it): it may
# list the streams with their descriptions (the list never names a bucket's keys, as a
# description asked with a subject filter would), list each stream's consumers, and get single
# messages of the event and dead-letter streams by sequence (one, or a batch from a sequence or
# a time), to measure a consumer's lag and browse events. It may not create a consumer,
# acknowledge, or change a stream. It may publish on the event stream's subjects for one thing:
# a platform admin's redrive of a dead letter to the subject it came from, the only publish the
# gateway makes through it (services.gateway.application.dead_letters). Reading any tenant's event by
# sequence is what no service's own user may do; this one is given to the gateway apart from
# its service user, and the gateway lets only platform operators ask (services.gateway.api.ops_access).
OPS = "ops"
OPS_READS = (
    "$JS.API.STREAM.LIST",
    "$JS.API.CONSUMER.LIST.*",
    f"$JS.API.DIRECT.GET.{s.STREAM}",
    f"$JS.API.STREAM.MSG.GET.{s.DEADLETTER_STREAM}",
)
OPS_REDRIVES = tuple(s.STREAM_SUBJECTS)
DELETED_DATASETS_BUCKET = "retriever_deleted_datasets"  # services.retriever.tombstones.BUCKET (a test checks)


def _consumes(service: str) -> tuple[str, ...]:
    """Run the service's durable consumers of the event stream, and none other.

    A durable is created by name with its filter in the API subject (nats-py does so for a
    single filter subject, and the server refuses a request whose configuration has another
    filter or name), so the permission pins both; the legacy `CONSUMER.DURABLE.CREATE` and
    ephemeral `CONSUMER.CREATE.<stream>` carry the filter only in the body and are not allowed.
    Pull requests (`MSG.NEXT`) and acknowledgements name the consumer too: without them pinned, a
    service could take another's messages from its queue or acknowledge them unhandled. Its
    short-lived readers (contracts.consumers.READERS) are pinned the same way.
    """
    allowed: list[str] = []
    for consumer in (*CONSUMERS.get(service, ()), *READERS.get(service, ())):
        name = f"{s.STREAM}.{consumer.durable}"
        allowed += [
            f"$JS.API.CONSUMER.CREATE.{name}.{consumer.subject}",
            f"$JS.API.CONSUMER.INFO.{name}",
            f"$JS.API.CONSUMER.DELETE.{name}",
            f"$JS.API.CONSUMER.MSG.NEXT.{name}",
            f"$JS.ACK.{name}.>",
        ]
    return tuple(allowed)


# Every service reads the event streams' descriptions and creates them when they are missing
# (flow control answers keep its ordered consumers going); the buckets it reads or creates and
# the consumers it runs are in its own lists. A bucket's description is not everyone's: asked
# with a subject filter, it lists the bucket's keys (an object store's object names). No service
# may create any other stream (one capturing a request subject would read and break those
# requests), update a stream (a subject transform, a source or a republish added to one would
# forge any subject), delete one, or drop the event history; an operator's user applies changes
# (`python -m devtools.cli streams`).
_JETSTREAM = (
    "$JS.API.INFO",
    "$JS.API.STREAM.NAMES",
    f"$JS.API.STREAM.INFO.{s.STREAM}",
    f"$JS.API.STREAM.INFO.{s.DEADLETTER_STREAM}",
    f"$JS.API.STREAM.CREATE.{s.STREAM}",
    f"$JS.API.STREAM.CREATE.{s.DEADLETTER_STREAM}",
    "$JS.FC.>",
)
DENIED = (
    "$JS.API.STREAM.UPDATE.>",
    "$JS.API.STREAM.DELETE.>",
    *(
        f"$JS.API.STREAM.{verb}.{stream}"
        for stream in (s.STREAM, s.DEADLETTER_STREAM)
        for verb in ("PURGE", "MSG.DELETE")
    ),
)

# What each service produces: its events, the requests it makes, the buckets it writes or opens.
_PUBLISHES: dict[str, tuple[str, ...]] = {
    "gateway": (
        s.RUN_REQUESTED,
        s.RUN_CANCEL_REQUESTED,
        s.APPROVAL_GIVEN,
        s.APPROVAL_REJECTED,
        s.RUN_PLAN_REVIEWED,
        s.DOCUMENT_UPLOADED,
        s.DATASET_CREATED,
        s.DATASET_DELETED,
        s.MONITOR_CREATED,
        s.MONITOR_CHANGED,
        s.POLICY_PUBLISHED,
        s.QUESTION_ASKED,
        *s.ORCHESTRATOR_REQUESTS,
        s.BILLING_SUMMARY,
        s.BILLING_LEDGER,
        s.BILLING_CHECKOUT,
        s.BILLING_PORTAL,
        s.BILLING_WEBHOOK,
        s.POLICY_SIMULATE,
        s.POLICY_DECISIONS,
        s.POLICY_VERSIONS,
        s.POLICY_PLAN_REVIEW,
        s.BILLING_ENTITLEMENTS,
        s.BILLING_RUN_CREDITS,
        *kv(TENANT_MODELS_BUCKET),
        *kv(rate_limit_bucket("gateway")),
        *objects(UPLOADS_BUCKET),
        *LAG_SAMPLES,
    ),
    "orchestrator": (
        s.RUN_REQUESTED,  # a monitor's scheduled run
        s.RUN_ADMITTED,
        s.RUN_PLANNED,
        s.RUN_STEP_CHANGED,
        s.RUN_COMPLETED,
        s.RUN_FAILED,
        s.RUN_REJECTED,
        s.RUN_CANCELLED,
        s.RUN_WAITING_APPROVAL,
        s.RUN_RESUMED,
        s.RUN_EXPIRED,
        s.RUN_AWAITING_PLAN_REVIEW,
        s.RUN_PLAN_REVISED,
        f"{s.TASK_DISPATCHED}.>",
        s.TOOL_REQUESTED,
        s.timer_schedule(">"),
        # Its timer sweep reads a pending schedule by subject (quarry_runtime.timersweep): only
        # those, never another event of the stream.
        f"$JS.API.DIRECT.GET.{s.STREAM}.{s.timer_schedule('>')}",
        s.TIMER_FIRED,
        s.MONITOR_SCHEDULED,
        s.MONITOR_FIRED,
        s.GUARDRAIL_TRIPPED,
        s.QUESTION_ANSWERED,
        s.QUESTION_FAILED,
        *s.PROGRESSIVE_DELIVERY_EVENTS,
        *kv(KEY_BUCKET),
    ),
    "policy": (
        s.TOOL_DECIDED,
        s.POLICY_ACTIVATED,
        s.POLICY_REJECTED,
        *kv_read(KEY_BUCKET),
        *kv(rate_limit_bucket("policy")),
    ),
    "billing": ("credits.>",),
    "retriever": (
        s.TASK_SUCCEEDED,
        s.TASK_FAILED,
        s.USAGE_RECORDED,
        s.GUARDRAIL_TRIPPED,
        s.DOCUMENT_INDEXED,
        s.DOCUMENT_REJECTED,
        s.DOCUMENT_PROGRESS,
        s.AGENT_VERSIONS,  # resolving the version a task names (contracts.task.TaskDispatched.agent)
        *kv(JOURNAL_BUCKET),
        *kv(DELETED_DATASETS_BUCKET),
        *objects(UPLOADS_BUCKET),
    ),
    "analyst": (
        s.TASK_SUCCEEDED,
        s.TASK_FAILED,
        s.USAGE_RECORDED,
        s.GUARDRAIL_TRIPPED,
        s.QUESTION_ANSWER_PART,
        s.AGENT_VERSIONS,  # resolving the version a task names (contracts.task.TaskDispatched.agent)
        *kv(JOURNAL_BUCKET),
        *kv_read(TENANT_MODELS_BUCKET),
    ),
    "reporter": (
        s.TASK_SUCCEEDED,
        s.TASK_FAILED,
        s.USAGE_RECORDED,
        s.GUARDRAIL_TRIPPED,
        s.REPORT_PUBLISHED,
        *kv(JOURNAL_BUCKET),
    ),
}

_ANSWERS: dict[str, tuple[str, ...]] = {  # core-NATS subjects beyond its inboxes: the requests it answers
    "billing": (
        s.BILLING_SUMMARY,
        s.BILLING_LEDGER,
        s.BILLING_CHECKOUT,
        s.BILLING_PORTAL,
        s.BILLING_WEBHOOK,
        s.BILLING_ENTITLEMENTS,
        s.BILLING_RUN_CREDITS,
    ),
    # policy.v1.activated: every replica switches to a policy set another replica activated.
    "policy": (s.POLICY_SIMULATE, s.POLICY_DECISIONS, s.POLICY_VERSIONS, s.POLICY_PLAN_REVIEW, s.POLICY_ACTIVATED),
    "orchestrator": (*s.ORCHESTRATOR_REQUESTS,),
}


@dataclass(frozen=True)
class Permissions:
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    responds: bool  # may answer a request it received (publish once to its reply subject)


def permissions(service: str) -> Permissions:
    """What `service`'s user (or the operators' console's, `OPS`) may publish and subscribe to."""
    if service == OPS:
        return Permissions(publish=(*OPS_READS, *OPS_REDRIVES), subscribe=(f"{inbox_prefix(OPS)}.>",), responds=False)
    answers = _ANSWERS.get(service, ())
    return Permissions(
        publish=(
            *_PUBLISHES[service],
            s.deadletter(service),
            *kv(inflight_bucket(service)),
            *heartbeats(service),
            *_consumes(service),
            *_JETSTREAM,
        ),
        subscribe=(f"{inbox_prefix(service)}.>", *answers),
        responds=bool(answers),
    )


def user_entry(service: str, password: str) -> dict[str, object]:
    """One user of the `authorization` block: `password` is the value or an unquoted `$VARIABLE`."""
    p = permissions(service)
    allowed: dict[str, object] = {
        "publish": {"allow": list(p.publish), "deny": list(DENIED)},
        "subscribe": {"allow": list(p.subscribe)},
    }
    if p.responds:
        allowed["allow_responses"] = True
    return {"user": service, "password": password, "permissions": allowed}


def authorization_block(passwords: Mapping[str, str], *, admin: tuple[str, str] | None = None) -> str:
    """The `authorization { users = [...] }` of nats.conf for `passwords` (service or `OPS` -> password).

    A password starting with `$` is written unquoted: nats-server reads it from its environment
    (how the Kubernetes manifests keep passwords in Secrets). `admin` (user, password) is a user
    without limits, for tests and operator tools; production configurations have none.
    """
    entries = [user_entry(user, passwords[user]) for user in (*SERVICES, OPS) if user in passwords]
    if admin is not None:
        entries.append({"user": admin[0], "password": admin[1]})
    body = ",\n".join(_render(entry) for entry in entries)
    indented = "\n".join(f"    {line}" for line in body.splitlines())
    return f"authorization {{\n  users = [\n{indented}\n  ]\n}}\n"


def _render(entry: Mapping[str, object]) -> str:
    # JSON is valid nats.conf; only a `$VARIABLE` password must stay unquoted to be expanded.
    text = json.dumps(entry, indent=2)
    password = entry.get("password")
    if isinstance(password, str) and password.startswith("$"):
        text = text.replace(json.dumps(password), password, 1)
    return text


def write_server_config(path: Path, passwords: Mapping[str, str], *, admin: tuple[str, str] | None = None) -> Path:
    """A nats.conf (mode 0600: it holds the passwords) with the services' users."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(authorization_block(passwords, admin=admin))
    return path


@dataclass(frozen=True)
class StackCredentials:
    """The passwords of a local stack's services, one file each (mode 0600) under `directory`."""

    directory: Path

    def password_file(self, service: str) -> Path:
        return self.directory / f"{service}.password"

    def ensure(self, names: tuple[str, ...] = (*SERVICES, OPS, OPERATOR)) -> dict[str, str]:
        """Each name's password, made on first use and kept across restarts of the stack."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        passwords: dict[str, str] = {}
        for name in names:
            path = self.password_file(name)
            if not path.exists():
                path.touch(mode=0o600)
                path.write_text(secrets.token_urlsafe(32))
            passwords[name] = path.read_text().strip()
        return passwords
