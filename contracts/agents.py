"""Agent configurations: the settings of each component whose behaviour can change, versioned.

A component (the analyst's `planner`, `synthesiser` and `answerer`, the retriever's `ranker`)
runs from one immutable configuration: a mode, a model, prompt templates and parameters. Its
version is the content hash `agent_version(component, config)`:

    sha256( canonical JSON of {"component": <component>, "config": <config>} ).hexdigest()

where the config is dumped in JSON mode leaving out every field at its default, and canonical
JSON is `json.dumps(..., sort_keys=True, separators=(",", ":"), ensure_ascii=False)` in UTF-8.
Leaving defaults out means a field added later (with a default) does not change the version
of any configuration registered before it; the component is in the hash so the same settings
for two components are two versions. Anyone (the gateway before it publishes, an auditor with
the stored JSON) can recompute a version from the configuration it names.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from contracts import subjects
from contracts.envelope import Actor, Contract, Event
from contracts.numbers import MAX_SAFE_INTEGER

Component = Literal["planner", "synthesiser", "answerer", "ranker"]
# The service whose workers run each component (it is told the version of each at dispatch).
SERVICE_OF_COMPONENT: dict[str, str] = {
    "planner": "analyst",
    "synthesiser": "analyst",
    "answerer": "analyst",
    "ranker": "retriever",
}
# The component each kind of task runs, as the orchestrator names it in `TaskDispatched.agent`;
# the other kinds (collect, verify, index, recall, report) have no versioned behaviour.
COMPONENT_OF_TASK: dict[str, str] = {
    "plan": "planner",
    "synthesise": "synthesiser",
    "answer": "answerer",
    "search": "ranker",
    "fetch": "ranker",
    "read": "ranker",
}
# The only environment in which a configuration may inject faults (QUARRY_ENVIRONMENT).
FAULTS_ALLOWED_IN = "development"

AgentVersion = Annotated[str, Field(min_length=64, max_length=64, pattern="^[0-9a-f]{64}$")]
# Bounds of a configuration: it travels in every registration event and is read by every worker,
# so a hostile or mistaken one must not be megabytes. A prompt template is text, not a corpus.
MAX_PROMPTS = 20
MAX_PROMPT_CHARS = 20_000
MAX_PARAMETERS = 50
MAX_NAME_CHARS = 100
MAX_PARAMETER_CHARS = 2_000
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS, pattern=r"^[A-Za-z0-9_.\-]+$")]
Metric = Annotated[float, Field(ge=-1e9, le=1e9)]
ParameterValue = (
    Annotated[str, Field(max_length=MAX_PARAMETER_CHARS)]
    | Annotated[int, Field(ge=-MAX_SAFE_INTEGER, le=MAX_SAFE_INTEGER)]
    | Annotated[float, Field(ge=-1e15, le=1e15)]
    | bool
    | None
)


class InjectedFault(Contract):
    """For tests and demos: live runs of this version fail at `fail_rate` and take longer."""

    fail_rate: float = Field(default=0.0, ge=0.0, le=1.0, description="share of the component's tasks that fail")
    extra_latency_ms: int = Field(default=0, ge=0, le=600_000, description="added to every task of the component")


class AgentConfig(Contract):
    """What a component does: immutable; any change is a new version."""

    mode: str = Field(min_length=1, max_length=60, description="the implementation, e.g. `offline` or `llm`")
    model: str | None = Field(default=None, max_length=200, description="the model it asks; None: no model")
    prompts: dict[Name, Annotated[str, Field(max_length=MAX_PROMPT_CHARS)]] = Field(
        default_factory=dict, max_length=MAX_PROMPTS, description="prompt template name -> text"
    )
    parameters: dict[Name, ParameterValue] = Field(
        default_factory=dict, max_length=MAX_PARAMETERS, description="knobs, e.g. temperature"
    )
    fault: InjectedFault | None = Field(default=None, description="injected faults; refused outside development")


def canonical_json(value: object) -> bytes:
    """The one byte form a version is hashed from: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def agent_version(component: str, config: AgentConfig) -> str:
    """The content hash naming `config` as a version of `component` (see the module docstring)."""
    document = {"component": component, "config": config.model_dump(mode="json", exclude_defaults=True)}
    return hashlib.sha256(canonical_json(document)).hexdigest()


class FaultNotAllowed(ValueError):
    """A configuration injecting faults, outside the development environment."""


def ensure_allowed_in(environment: str, config: AgentConfig) -> None:
    """Refuse a configuration with faults unless `environment` is development: production never
    runs a version made to fail."""
    if config.fault is not None and environment != FAULTS_ALLOWED_IN:
        raise FaultNotAllowed(f"an agent configuration with `fault` is refused in {environment!r}")


class AgentRef(Contract):
    """One component's version, as a run records it at admission and a task carries it."""

    component: Component
    version: AgentVersion


# -- events ----------------------------------------------------------------------------------


class AgentVersionRegisteredPayload(Contract):
    component: Component
    version: AgentVersion = Field(description="agent_version(component, config)")
    config: AgentConfig
    note: str = Field(default="", max_length=2000)


class AgentVersionRegistered(Event, subject=subjects.AGENT_VERSION_REGISTERED, type="agent.version_registered"):
    """A new configuration of a component; registering the same one again names the same version."""

    payload: AgentVersionRegisteredPayload


class AgentVersionEvaluatedPayload(Contract):
    component: Component
    version: AgentVersion
    split: Literal["dev", "test"] = "test"
    passed: bool = Field(description="every metric met its target: the gate a rollout needs")
    metrics: dict[Name, Metric] = Field(
        default_factory=dict, max_length=MAX_PARAMETERS, description="`make eval`'s metrics, by name"
    )
    failures: list[str] = Field(default_factory=list, description="the metrics that missed, with their targets")


class AgentVersionEvaluated(Event, subject=subjects.AGENT_VERSION_EVALUATED, type="agent.version_evaluated"):
    """The offline evaluation of a version (faults are not injected there), stored with it."""

    payload: AgentVersionEvaluatedPayload


# -- requests to the orchestrator, which keeps the versions (core-NATS request/reply) -----------


class RegisterAgentRequest(Contract):
    """Register `config` as a version of `component`; the same configuration again changes nothing."""

    component: Component
    config: AgentConfig
    note: str = Field(default="", max_length=2000)
    tenant_id: str = Field(description="the registering operator's tenant (the event's envelope names it)")
    actor: Actor = Field(default_factory=Actor)


class RegisterAgentReply(Contract):
    version: str | None = None
    created: bool = Field(default=False, description="False: the version was registered before")
    error: str | None = None
    status: int | None = Field(default=None, description="an HTTP status for `error`")


class AgentVersionInfo(Contract):
    component: Component
    version: AgentVersion
    config: AgentConfig
    note: str = ""
    registered_at: datetime
    registered_by: str | None = Field(default=None, description="the user id of the operator")
    stable: bool = Field(default=False, description="the version runs take unless a rollout assigns another")
    evaluation: AgentVersionEvaluatedPayload | None = Field(
        default=None, description="the latest offline evaluation stored with the version"
    )


class AgentVersionsQuery(Contract):
    component: Component | None = Field(default=None, description="None: every component")
    version: AgentVersion | None = Field(
        default=None, description="only this version (a worker resolving what a task names)"
    )


class AgentVersionsReply(Contract):
    """Registered versions, oldest first per component."""

    versions: list[AgentVersionInfo] = Field(default_factory=list)
    error: str | None = None
    status: int | None = None


# -- the eval gate --------------------------------------------------------------------------

# The test split's targets (evals.summary.TEST_TARGETS reads them from here), by metric name.
EVAL_TARGETS: dict[str, float] = {
    "recall_at_10": 0.9,
    "key_in_report": 0.9,
    "key_in_summary": 0.7,
    "citation_support": 0.98,
}
# Metrics that must be exactly zero whatever the stable version scored.
EVAL_ZERO: tuple[str, ...] = ("fabricated_citations",)


def eval_failures(metrics: dict[str, float], stable: dict[str, float] | None) -> list[str]:
    """What keeps a candidate with `metrics` from passing the eval gate, against the stable
    version's stored metrics (None: it has none).

    Each metric must meet its target, or, where the stable version itself misses that target,
    be no worse than the stable version: the gate refuses regressions without refusing every
    candidate while the platform as a whole is short of a target. A missing metric fails.
    """
    failures: list[str] = []
    for name, target in EVAL_TARGETS.items():
        value = metrics.get(name)
        if value is None:
            failures.append(f"{name} missing")
            continue
        floor = target if stable is None or name not in stable else min(target, stable[name])
        if value < floor:
            failures.append(f"{name} {value:.3f} < {floor:.3f}")
    for name in EVAL_ZERO:
        if metrics.get(name, 1.0) != 0:
            failures.append(f"{name} {metrics.get(name)} != 0")
    return failures


class RecordEvaluationRequest(Contract):
    """Store the offline evaluation of a registered version (`quarry operator evaluate` computes
    it with `make eval`'s pipeline and that configuration, faults left out); the orchestrator
    judges it against the gate (`eval_failures`) and answers whether it passed."""

    component: Component
    version: AgentVersion
    split: Literal["dev", "test"] = "test"
    metrics: dict[Name, Metric] = Field(max_length=MAX_PARAMETERS)
    tenant_id: str
    actor: Actor = Field(default_factory=Actor)


class RecordEvaluationReply(Contract):
    evaluation: AgentVersionEvaluatedPayload | None = None
    error: str | None = None
    status: int | None = None
