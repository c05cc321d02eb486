"""Composition root of the analyst."""

from __future__ import annotations

from quarry_runtime.bus import Bus
from quarry_runtime.service import Service
from quarry_runtime.settings import RuntimeSettings
from services.analyst.handlers import subscriptions

NAME = "analyst"


class AnalystSettings(RuntimeSettings):
    """Settings of the analyst: offline extractive synthesis needs none."""


def build(settings: RuntimeSettings) -> Service:
    bus = Bus.from_settings(settings, NAME)
    for sub in subscriptions(bus):
        bus.subscribe(sub)
    return Service(NAME, bus)
