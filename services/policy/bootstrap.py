"""Composition root of the policy service."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from quarry_runtime.bus import Bus
from quarry_runtime.service import Service
from quarry_runtime.settings import RuntimeSettings
from services.policy.engine import DEFAULT_POLICY_DIR, PolicyEngine
from services.policy.handlers import subscriptions

NAME = "policy"


class PolicySettings(RuntimeSettings):
    policy_dir: Path = Field(default=DEFAULT_POLICY_DIR, description="Cedar schema and policies")


def build(settings: RuntimeSettings) -> Service:
    policy_dir = settings.policy_dir if isinstance(settings, PolicySettings) else DEFAULT_POLICY_DIR
    engine = PolicyEngine.load(policy_dir)  # refuses to start on an invalid policy set, saying why
    bus = Bus.from_settings(settings, NAME)
    for sub in subscriptions(bus, engine):
        bus.subscribe(sub)
    return Service(NAME, bus)
