"""The kernel of an event-sourced service: load, stage or save, commit in groups, then publish.

A service's application subclasses `EventSourcedApplication` and writes its use cases as verbs
that load aggregates with `_load`, change them and hand them to `_save`. While a bus event is
handled (`use_case_handler`), `_save` only stages: the group commit writes every aggregate the
concurrently handled events changed in one transaction, and the handler acknowledges its
message once that transaction holds what it staged. Outside a handler (a start-up task, a
test) `_save` commits at once. Either way `committed` runs after the commit (a subclass adds
snapshots there) and wakes the outbox relay, which publishes from the notification log:
a use case never publishes itself.

A use case that fails after loading an aggregate may have changed the object the aggregate
cache holds, so the handler drops the aggregates it loaded from the cache (the store is the
truth) and translates the service's own error base into `Rejected`, so the bus dead-letters
the message instead of retrying it. `NotReady` is raised before anything changed: it is
passed on as it is, and the bus redelivers the message later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from eventsourcing.application import AggregateNotFoundError

from quarry_runtime.errors import NotReady, Rejected
from quarry_runtime.groupcommit import GroupCommit
from quarry_runtime.outbox import OutboxApplication

log = logging.getLogger(__name__)
T = TypeVar("T")
Clock = Callable[[], datetime]
UseCase = Callable[[Any], None]
# How long a command that no bus event carries waits for its commit.
COMMAND_WAIT_S = 10.0


def utcnow() -> datetime:
    return datetime.now(UTC)


class EventSourcedApplication(OutboxApplication):
    """An eventsourcing Application whose saves go through a group commit and an outbox."""

    # Both set by the composition root (`group_commit`): the relay's wake-up, the group commit.
    on_saved: Callable[[], None] = staticmethod(lambda: None)
    group: GroupCommit | None = None
    # Injected by tests; every use case reads the time from here.
    clock: Clock = staticmethod(utcnow)
    # The aggregates the running use case loaded, to drop from the cache if it fails.
    _loaded: list[Any] | None = None

    def group_commit(self, on_saved: Callable[[], None]) -> GroupCommit:
        """Commit the saves of concurrently handled bus events together; `on_saved` after each
        commit (the outbox relay's wake-up). The caller runs the returned writer's `run`."""
        group = GroupCommit(self, after_commit=self.committed, on_drop=self.forget_aggregate)
        self.group = group
        self.on_saved = on_saved
        return group

    def committed(self, aggregates: Sequence[Any]) -> None:
        """After a commit of `aggregates`: extend it for work that follows a commit (snapshots)."""
        self.on_saved()

    def forget_aggregate(self, aggregate_id: Any) -> None:
        """Drop the cached aggregate; its next load replays the store."""
        cache = self.repository.cache
        if cache is not None:
            with contextlib.suppress(KeyError):
                cache.get(aggregate_id, evict=True)

    def _load(self, aggregate_id: Any) -> Any:
        """The aggregate as the current use case must see it: staged by an earlier unit of the
        group commit (its events not committed yet), else from the repository."""
        if self._loaded is not None:
            self._loaded.append(aggregate_id)
        staged = self.group.get(aggregate_id) if self.group is not None else None
        return staged if staged is not None else self.repository.get(aggregate_id)

    def _load_or_none(self, aggregate_id: Any) -> Any:
        """`_load`, or None when the aggregate was never stored."""
        try:
            return self._load(aggregate_id)
        except AggregateNotFoundError:
            return None

    def _save(self, aggregate: Any) -> None:
        """Stage the aggregate while a unit of the group commit runs, else commit it now."""
        if self.group is not None and self.group.active:
            self.group.stage(aggregate)
            return
        try:
            self.save(aggregate)
        except Exception:
            self.forget_aggregate(aggregate.id)  # e.g. another replica saved first: replay before retrying
            raise
        self.committed([aggregate])

    async def until_settled(self, aggregate_id: Any, timeout_s: float) -> None:
        """Wait (at most `timeout_s`) until the aggregate holds no staged, uncommitted change,
        so a query that reads it next, with no await in between, shows only what is stored."""
        if self.group is not None:
            await self.group.settled(aggregate_id, timeout_s=timeout_s)

    async def run_command(self, command: Callable[[], T], timeout_s: float = COMMAND_WAIT_S) -> T:
        """Run a command that no bus event carries (a webhook, an HTTP call) as a unit of the
        group commit: it continues from what the handlers staged instead of saving beside it.
        Returns once committed; with the writer stopped (shutting down) it fails after `timeout_s`."""
        if self.group is None:
            return command()
        with self.group.unit() as unit:
            result = command()
        await asyncio.wait_for(unit.committed(), timeout_s)
        return result

    async def run_command_retrying(
        self,
        command: Callable[[], T],
        touched: Sequence[Any],
        *,
        refusals: tuple[type[Exception], ...],
        attempts: int,
        what: str,
    ) -> T:
        """`run_command`, tried again (up to `attempts` in all) when it fails for anything but one of
        `refusals`: another replica may have stored one of the `touched` aggregates first, so they
        are forgotten (the store is the truth, replayed at the next load) before the next try."""
        for attempt in range(1, attempts + 1):
            try:
                return await self.run_command(command)
            except refusals:
                raise
            except Exception:
                for aggregate_id in touched:
                    self.forget_aggregate(aggregate_id)
                if attempt == attempts:
                    raise
                log.info("%s: attempt %d failed, reloading", what, attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def apply_use_case(self, use_case: UseCase, event: Any, rejected: tuple[type[Exception], ...]) -> None:
        """Run one use case on one bus event, translating its refusals for the bus."""
        self._loaded = []
        try:
            use_case(event)
        except NotReady:
            raise  # raised before anything changed
        except rejected as exc:
            self._forget_loaded()
            raise Rejected(str(exc)) from exc
        except Exception:
            self._forget_loaded()  # a cached aggregate may hold a half-applied command
            raise
        finally:
            self._loaded = None

    def _forget_loaded(self) -> None:
        for aggregate_id in self._loaded or ():
            self.forget_aggregate(aggregate_id)


def use_case_handler(
    app: EventSourcedApplication, use_case: UseCase, rejected: tuple[type[Exception], ...]
) -> Callable[[Any], Awaitable[None]]:
    """The bus handler of one use case: applied as a unit of the group commit, acknowledged
    once what it changed (or the staged state it found its work done in) is committed."""

    async def handle(event: Any) -> None:
        if app.group is None:
            app.apply_use_case(use_case, event, rejected)
            return
        with app.group.unit() as unit:
            app.apply_use_case(use_case, event, rejected)
        # The future itself, not `unit.committed()`: one coroutine less per handled event.
        if unit.future is not None:
            await unit.future

    return handle
