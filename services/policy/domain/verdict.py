"""The outcome of one policy decision."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from contracts.tool import Decision


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of one decision and the policies that determined it."""

    decision: Decision
    reasons: list[str]
    policy_ids: list[str]
    version: str
    evaluation_ms: float
    approval_rule_ids: list[str] = field(default_factory=list)
    approval_timeout_s: int | None = None
    retry_after_s: float | None = None

    def denied(self, reason: str, started: float, retry_after_s: float | None = None) -> Verdict:
        """This verdict overruled by a check made after Cedar (the rate limit, which lifts by
        itself after `retry_after_s`)."""
        return replace(
            self,
            decision="deny",
            reasons=[reason],
            policy_ids=[],
            approval_rule_ids=[],
            approval_timeout_s=None,
            retry_after_s=retry_after_s,
            evaluation_ms=self.evaluation_ms + (time.perf_counter() - started) * 1000,
        )
