"""Composition root of the policy service."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from quarry_runtime.bus import Bus
from quarry_runtime.health import store_check
from quarry_runtime.service import Service
from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.store import SqlDatabase
from quarry_security.delegation import KeyDirectory
from quarry_security.ratelimit import shared_limiter
from services.policy.application.budget import BudgetBook
from services.policy.application.decider import Decider
from services.policy.application.events import delegation_check
from services.policy.application.versions import PolicyVersions, startup_engine
from services.policy.domain.engine import DEFAULT_POLICY_DIR
from services.policy.domain.policyset import PolicyFiles
from services.policy.domain.registry import DEFAULT_REGISTRY, load_registry
from services.policy.handlers import subscriptions
from services.policy.meters import DecisionMeter
from services.policy.replies import serve
from services.policy.store import PolicyStore

NAME = "policy"
# The longest window the registry allows (its schema's maximum `per_s`): a window's entry is
# rewritten by every call it counts, so one idle this long holds no live call.
RATE_LIMIT_TTL_S = 86_400


class PolicySettings(RuntimeSettings):
    policy_dir: Path = Field(default=DEFAULT_POLICY_DIR, description="Cedar schema, hard and soft/ policies")
    registry_file: Path = Field(default=DEFAULT_REGISTRY, description="the tool registry (YAML)")
    require_delegation: bool = Field(
        default=True, description="deny tool requests without a valid delegation token from the orchestrator"
    )


@dataclass
class PolicyParts:
    """What `build` wires, for tests and the benchmark that drive the service in-process."""

    service: Service
    decider: Decider
    versions: PolicyVersions
    store: PolicyStore


def build(settings: RuntimeSettings) -> Service:
    return assemble(settings).service


def assemble(settings: RuntimeSettings) -> PolicyParts:
    policy_dir, registry = DEFAULT_POLICY_DIR, DEFAULT_REGISTRY
    if isinstance(settings, PolicySettings):
        policy_dir, registry = settings.policy_dir, settings.registry_file
    # Refuses to start on an invalid shipped set, saying why, before touching anything else.
    shipped = PolicyFiles.from_directory(policy_dir, registry)
    store = PolicyStore(SqlDatabase(settings, NAME))
    try:
        engine = startup_engine(store, shipped)
    except BaseException:
        store.close()
        raise
    bus = Bus.from_settings(settings, NAME)
    limiter = shared_limiter(
        lambda: bus.broker.connection.jetstream(),
        "policy",
        replicas=settings.stream_replicas,
        max_bytes=settings.kv_max_bytes,
        longest_window_s=RATE_LIMIT_TTL_S,
    )
    decider = Decider(engine, limiter=limiter, budgets=BudgetBook(store))
    versions = PolicyVersions(store, decider)
    require = settings.require_delegation if isinstance(settings, PolicySettings) else True
    keys = KeyDirectory(
        lambda: bus.broker.connection, replicas=settings.stream_replicas, max_bytes=settings.kv_max_bytes
    )
    check = delegation_check(keys) if require else None
    meter = DecisionMeter(load_registry(registry))
    for sub in subscriptions(bus, decider, store=store, versions=versions, delegation=check, observe=meter):
        bus.subscribe(sub)
    service = Service(
        NAME,
        bus,
        background=[serve(bus, decider, store, versions)],
        checks={"store": store_check(lambda: store.db.one("SELECT 1"))},
        on_stop=[store.close],
    )
    return PolicyParts(service, decider, versions, store)
