"""The agent configuration a task names, resolved for the worker that runs it.

A dispatched task may carry `agent` = {component, version}: the version of the component the
run recorded at admission (`contracts.task.TaskDispatchedPayload.agent`). The worker asks the
orchestrator, which keeps the versions, over core-NATS request/reply (`subjects.AGENT_VERSIONS`)
and runs that configuration. Versions are immutable, so an answer is cached (a bounded LRU) and
checked: the configuration must hash to the version asked for (`contracts.agents.agent_version`),
whatever the orchestrator says, so a worker never runs settings the run did not record.

A version that cannot be resolved (no answer, not registered, the orchestrator away) fails the
task as a retryable platform fault: falling back to the built-in settings would make the run's
log name a version that did not produce its report.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from contracts import subjects
from contracts.agents import (
    COMPONENT_OF_TASK,
    AgentConfig,
    AgentRef,
    AgentVersionsQuery,
    AgentVersionsReply,
    FaultNotAllowed,
    agent_version,
    ensure_allowed_in,
)
from contracts.task import TaskDispatched
from quarry_runtime.errors import Unavailable
from quarry_runtime.replies import Request, ask
from quarry_runtime.worker import TaskError

CACHE_SIZE = 256
ASK_TIMEOUT_S = 5.0
Sleep = Callable[[float], Awaitable[None]]


class AgentConfigs:
    """Resolves (component, version) to its configuration, asking the orchestrator once per version.

    `request` is a connection's `request(subject, data, timeout=...)`, or a callable giving it
    (the connection exists only once the service has started).
    """

    def __init__(
        self,
        request: Callable[[], Request],
        *,
        timeout_s: float = ASK_TIMEOUT_S,
        cache_size: int = CACHE_SIZE,
    ) -> None:
        self._request = request
        self.timeout_s = timeout_s
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str, str], AgentConfig] = OrderedDict()
        self.asked = 0  # questions put to the orchestrator (the cache's misses)

    async def resolve(self, ref: AgentRef) -> AgentConfig:
        """The configuration of `ref`; `TaskError` when it cannot be had or does not match."""
        key = (ref.component, ref.version)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        config = await self._ask(ref)
        self._cache[key] = config
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return config

    async def _ask(self, ref: AgentRef) -> AgentConfig:
        what = f"{ref.component} version {ref.version[:12]}"
        query = AgentVersionsQuery(component=ref.component, version=ref.version)
        self.asked += 1
        try:
            reply = await ask(
                self._request(),
                subjects.AGENT_VERSIONS,
                query,
                AgentVersionsReply,
                who="the orchestrator",
                timeout_s=self.timeout_s,
            )
        except Unavailable as exc:
            raise TaskError(f"the {what} could not be resolved: {exc}", retryable=True) from exc
        if reply.error:
            raise TaskError(f"the {what} could not be resolved: {reply.error}", retryable=True)
        # The orchestrator filters by version too; a worker does not depend on it.
        found = [v for v in reply.versions if v.component == ref.component and v.version == ref.version]
        if not found:
            raise TaskError(f"the {what} is not registered with the orchestrator", retryable=True)
        config = found[0].config
        if agent_version(ref.component, config) != ref.version:
            # Corrupt or forged: another attempt would read the same store.
            raise TaskError(f"the configuration given for the {what} does not hash to that version", retryable=False)
        return config


async def config_for(
    task: TaskDispatched, agents: AgentConfigs | None, environment: str, *, sleep: Sleep = asyncio.sleep
) -> AgentConfig | None:
    """The configuration `task` runs (None: the worker's built-in settings), its faults injected.

    Checks that the version is of the component the task's kind runs, refuses a configuration
    with faults outside development, then sleeps `extra_latency_ms` and fails the chosen share of
    tasks (see `fails`) as a non-retryable platform fault, so the run fails and is refunded.
    """
    ref = task.payload.agent
    if ref is None:
        return None
    expected = COMPONENT_OF_TASK.get(task.payload.kind)
    if ref.component != expected:
        raise TaskError(f"a {task.payload.kind} task cannot run a {ref.component} version", retryable=False)
    if agents is None:
        raise TaskError("this worker cannot resolve agent versions (no connection to ask)", retryable=True)
    config = await agents.resolve(ref)
    try:
        ensure_allowed_in(environment, config)
    except FaultNotAllowed as exc:
        raise TaskError(f"a configuration with faults is refused in {environment}: {exc}", retryable=False) from exc
    fault = config.fault
    if fault is not None:
        if fault.extra_latency_ms:
            await sleep(fault.extra_latency_ms / 1000)
        if fails(fault.fail_rate, task.payload.task_id, task.payload.attempt):
            raise TaskError(
                f"injected fault: the {ref.component} version {ref.version[:12]} fails "
                f"{fault.fail_rate:.0%} of its tasks (fault.fail_rate)",
                retryable=False,
                fault="platform",
            )
    return config


def fails(rate: float, task_id: str, attempt: int) -> bool:
    """Whether an injected `rate` fails this attempt: the first 8 bytes of SHA-256 of
    `task_id:attempt`, as a fraction of 2**64, below `rate`. Deterministic, so a test (and a
    redelivered dispatch) sees the same outcome; uniform over task ids, so the share is `rate`."""
    if rate <= 0:
        return False
    digest = hashlib.sha256(f"{task_id}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate
