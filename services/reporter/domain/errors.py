"""The reporter's errors under one base."""

from __future__ import annotations

from collections import Counter


class ReporterError(Exception):
    """Base of every error the reporter raises on its own account."""


class PiiBlocked(ReporterError):
    """The tenant's policy blocks a report that contains personal data; `found` counts it by kind."""

    def __init__(self, found: Counter[str]) -> None:
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(found.items()))
        super().__init__(f"guardrail pii blocked publishing: the report contains {kinds}")
        self.found = found
