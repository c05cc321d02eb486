"""Rebuild the gateway's read models from the event log and compare them with the live ones.

The rebuild goes into prefixed tables beside the live ones (same database, same schema), fed the
stream's messages in order, batch by batch, up to the last one present when the replay started.
The read models are the gateway's runs (row, folded view, log), documents and monitors. A run's
log is written in bulk per batch (`GatewayStore.record_run_events`, the rows the live consumers'
`record_run_event` writes one event at a time); everything else goes through the same `project`
as the live consumers. Where the messages come from is the caller's: `quarry replay` reads them
through a throw-away consumer, the operators' console by direct gets as the `ops` user.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from contracts.envelope import Event
from quarry_runtime.store import SqlDatabase
from services.gateway.application.replay_compare import compare
from services.gateway.readmodels.catchup import readable
from services.gateway.readmodels.monitors import MonitorStore
from services.gateway.readmodels.projection import SUBJECT_PREFIXES, for_run_log, project
from services.gateway.readmodels.store import GatewayStore

# One stored message: its stream sequence, subject, headers and bytes.
Message = tuple[int, str, Mapping[str, str], bytes]


@dataclass
class Models:
    """The gateway's read models over one set of tables."""

    store: GatewayStore
    monitors: MonitorStore

    @classmethod
    def open(cls, db: SqlDatabase, prefix: str = "") -> Models:
        return cls(GatewayStore(db, prefix), MonitorStore(db, prefix))

    def drop(self) -> None:
        self.store.drop_read_models()
        self.monitors.drop()


@dataclass
class ReplayReport:
    messages: int = 0
    applied: int = 0
    unparsable: int = 0
    first_seq: int = 0
    last_seq: int = 0
    runs_live: int = 0
    runs_rebuilt: int = 0
    documents_live: int = 0
    documents_rebuilt: int = 0
    monitors_live: int = 0
    monitors_rebuilt: int = 0
    rebuild_s: float = 0.0
    compare_s: float = 0.0
    differences: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not self.differences

    @property
    def events_per_s(self) -> float:
        return self.messages / self.rebuild_s if self.rebuild_s > 0 else 0.0

    def as_dict(self, differences: int | None = None) -> dict[str, Any]:
        """The report as JSON-ready data, with at most `differences` of its differences (all when None)."""
        shown = self.differences if differences is None else self.differences[:differences]
        return {
            **asdict(self),
            "differences": shown,
            "difference_count": len(self.differences),
            "identical": self.identical,
        }


async def rebuild(
    db: SqlDatabase,
    messages: AsyncIterator[Sequence[Message]],
    report: ReplayReport,
    prefix: str,
    *,
    keep: bool = False,
) -> ReplayReport:
    """Rebuild every read model into `prefix`-ed tables from `messages` (batches, in stream order,
    none past `report.last_seq`), compare them with the live ones, then drop them unless `keep`."""
    if not prefix:
        raise ValueError("the rebuild needs a prefix: without one it would write into the live tables")
    # Leftovers of an earlier `--keep` would make the rebuild start from something other than nothing.
    rebuilt = await asyncio.to_thread(_fresh, db, prefix)
    started = time.monotonic()
    async for batch in messages:
        await asyncio.to_thread(_apply_batch, rebuilt, batch, report)
    report.rebuild_s = time.monotonic() - started
    started = time.monotonic()
    report.differences = await asyncio.to_thread(compare, Models.open(db), rebuilt, report)
    report.compare_s = time.monotonic() - started
    if not keep:
        await asyncio.to_thread(rebuilt.drop)
    return report


def _fresh(db: SqlDatabase, prefix: str) -> Models:
    Models.open(db, prefix).drop()
    return Models.open(db, prefix)


def _apply_batch(models: Models, batch: Sequence[Message], report: ReplayReport) -> None:
    run_log: list[Event] = []
    try:
        for _, subject, headers, data in batch:
            report.messages += 1
            _apply(models, subject, headers, data, report, run_log)
    finally:
        models.store.record_run_events(run_log)


def _apply(
    models: Models, subject: str, headers: Mapping[str, str], data: bytes, report: ReplayReport, run_log: list[Event]
) -> None:
    """Feed one message to the gateway's projection as its live consumers do; the events of a
    run's log are collected for `record_run_events`, which writes what `record_run_event` would."""
    if not subject.startswith(SUBJECT_PREFIXES):
        return
    event = readable(subject, headers, data)
    if event is None:
        # The live consumer dead-letters these (malformed, or fired by a schedule on a subject no
        # schedule may fire), so they are in neither model.
        report.unparsable += 1
        return
    report.applied += 1
    if for_run_log(event):
        run_log.append(event)
    else:
        project(models.store, models.monitors, event)
