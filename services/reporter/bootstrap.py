"""Composition root of the reporter."""

from __future__ import annotations

from quarry_runtime.artifacts import ArtifactStore
from quarry_runtime.bus import Bus
from quarry_runtime.service import Service
from quarry_runtime.settings import RuntimeSettings
from services.reporter.handlers import subscriptions

NAME = "reporter"


class ReporterSettings(RuntimeSettings):
    """Settings of the reporter (artifacts live under the data directory)."""


def build(settings: RuntimeSettings) -> Service:
    bus = Bus.from_settings(settings, NAME)
    artifacts = ArtifactStore(settings.data_dir / "artifacts")
    for sub in subscriptions(bus, artifacts):
        bus.subscribe(sub)
    return Service(NAME, bus)
