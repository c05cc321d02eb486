"""How each kind of task runs: which worker lane, which tool, how often, how long. Plain data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class TaskPolicy:
    role: str
    tool: str
    max_attempts: int
    timeout_s: float
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0

    def backoff(self, failed_attempt: int) -> timedelta:
        """Exponential backoff before the attempt after `failed_attempt`."""
        return timedelta(seconds=min(self.backoff_base_s * 2 ** (failed_attempt - 1), self.backoff_max_s))


POLICIES: dict[str, TaskPolicy] = {
    "plan": TaskPolicy("analyst", "llm_generate", max_attempts=3, timeout_s=180),
    "search": TaskPolicy("retriever", "web_search", max_attempts=3, timeout_s=120),
    # One host's pages: the tool whose allow-list, time box, approval and rate limit govern egress.
    "fetch": TaskPolicy("retriever", "fetch_url", max_attempts=2, timeout_s=120),
    # One of the tenant's datasets (or all of them) searched for every sub-question.
    "read": TaskPolicy("retriever", "read_dataset", max_attempts=3, timeout_s=120),
    "collect": TaskPolicy("analyst", "llm_generate", max_attempts=2, timeout_s=60),
    "synthesise": TaskPolicy("analyst", "llm_generate", max_attempts=3, timeout_s=300),
    "verify": TaskPolicy("analyst", "llm_generate", max_attempts=2, timeout_s=120),
    "index": TaskPolicy("retriever", "index_memory", max_attempts=3, timeout_s=120),
    "report": TaskPolicy("reporter", "publish_report", max_attempts=3, timeout_s=120),
}

# Steps a run can do without: refused by policy or failed for good, such a task is dropped (its
# pages are not fetched, its dataset not read) and the run goes on with what the other steps found.
OPTIONAL = frozenset({"fetch", "read"})
