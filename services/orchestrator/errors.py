"""The orchestrator's errors: one base. On the bus an `OrchestratorError` dead-letters the
message with its reason (`handlers`) instead of retrying it."""

from __future__ import annotations

from quarry_runtime.errors import QuarryError


class OrchestratorError(QuarryError):
    """A command that a run's, a question's or a monitor's current state refuses."""
