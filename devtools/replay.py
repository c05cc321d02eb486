"""`quarry replay`: rebuild the gateway's read models from the event log and compare them with the live ones.

The rebuild goes into prefixed tables beside the live ones (same database, same schema), fed by a
throw-away consumer that reads the QUARRY stream from its first message up to the last one present
when the replay started. The read models are the gateway's runs (row, folded view, log) and documents.
A run's log is written in bulk per fetched batch (`GatewayStore.record_run_events`, the rows the
live consumers' `record_run_event` writes one event at a time); everything else goes through the
same `project` as the live consumers.
"""

from __future__ import annotations

import json
import ssl
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import nats
import nats.errors
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from rich.console import Console
from rich.table import Table

from contracts import subjects
from contracts.envelope import Event
from quarry_runtime.bus import inbox_prefix
from quarry_runtime.store import SqlDatabase
from services.gateway.bootstrap import NAME as GATEWAY
from services.gateway.readmodels.catchup import readable
from services.gateway.readmodels.monitors import MonitorStore
from services.gateway.readmodels.projection import SUBJECT_PREFIXES, for_run_log, project
from services.gateway.readmodels.store import GatewayStore
from services.gateway.settings import GatewaySettings

# The subjects services.gateway.readmodels.projection feeds to record_run_event; document.> goes to the documents
# model. Anything else (usage, timers, monitors) is not input to these read models.


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


FETCH_BATCH = 500
# With nothing left to fetch, the messages up to the end that are missing were deleted from the stream
# (a scheduled timer's message goes when it fires), so waiting longer would never find them.
IDLE_S = 2.0
VALUE_CHARS = 160


class StreamUnavailable(Exception):
    """The event log cannot be read (NATS unreachable, or no QUARRY stream there)."""


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


async def rebuild(settings: GatewaySettings, prefix: str = "replay_", *, keep: bool = False) -> ReplayReport:
    """Rebuild every read model into `prefix`-ed tables, compare them with the live ones, then drop them."""
    if not prefix:
        raise ValueError("the rebuild needs a prefix: without one it would write into the live tables")
    report = ReplayReport()
    db = SqlDatabase(settings, GATEWAY)
    try:
        if db.is_postgres:
            # One commit per event, into tables thrown away afterwards: waiting for each WAL flush buys nothing.
            db.execute("SET synchronous_commit TO off")
        # Leftovers of an earlier `--keep` would make the rebuild start from something other than nothing.
        Models.open(db, prefix).drop()
        rebuilt = Models.open(db, prefix)
        started = time.monotonic()
        await _replay_stream(settings, rebuilt, report)
        report.rebuild_s = time.monotonic() - started
        started = time.monotonic()
        report.differences = _compare(Models.open(db), rebuilt, report)
        report.compare_s = time.monotonic() - started
        if not keep:
            rebuilt.drop()
    finally:
        db.close()
    return report


async def _replay_stream(settings: GatewaySettings, models: Models, report: ReplayReport) -> None:
    servers = [u.strip() for u in settings.nats_url.split(",") if u.strip()]
    # As the gateway, when it has its own NATS user: replies to that user's inbox prefix only.
    credentials = settings.nats_credentials()
    auth: dict[str, Any] = {"inbox_prefix": inbox_prefix(GATEWAY)}
    if credentials is not None:
        auth.update(user=credentials[0], password=credentials[1])
    if settings.nats_tls_ca_file is not None:
        auth["tls"] = ssl.create_default_context(cafile=str(settings.nats_tls_ca_file))
    try:
        # A one-shot read: fail at once rather than retry for minutes as a service would.
        nc = await nats.connect(
            servers=servers,
            allow_reconnect=False,
            max_reconnect_attempts=1,
            reconnect_time_wait=1,
            connect_timeout=5,
            error_cb=_quiet,
            **auth,
        )
    except (nats.errors.Error, OSError) as exc:
        raise StreamUnavailable(f"cannot connect to NATS at {settings.nats_url}: {exc}") from exc
    try:
        js = nc.jetstream()
        try:
            state = (await js.stream_info(subjects.STREAM)).state
        except nats.errors.Error as exc:
            raise StreamUnavailable(f"no {subjects.STREAM} stream at {settings.nats_url}: {exc}") from exc
        report.first_seq, report.last_seq = state.first_seq, state.last_seq
        if not state.messages:
            return
        # Ephemeral, unacknowledged and in memory: nothing of the replay stays on the server, even if
        # this process dies (the server drops the consumer after `inactive_threshold`).
        name = f"replay-{uuid.uuid4().hex[:12]}"
        config = ConsumerConfig(
            name=name,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=60.0,
            mem_storage=True,
        )
        await js.add_consumer(subjects.STREAM, config)
        try:
            sub = await js.pull_subscribe_bind(stream=subjects.STREAM, name=name)
            await _read_until(sub, state.last_seq, models, report)
            await sub.unsubscribe()
        finally:
            await js.delete_consumer(subjects.STREAM, name)
    finally:
        await nc.close()


async def _quiet(_: Exception) -> None:
    """Failures surface as exceptions of the calls; nats-py's default would print a traceback per attempt."""


async def _read_until(sub: Any, end: int, models: Models, report: ReplayReport) -> None:
    while True:
        try:
            batch = await sub.fetch(FETCH_BATCH, timeout=IDLE_S)
        except nats.errors.TimeoutError:
            return
        run_log: list[Event] = []
        try:
            for msg in batch:
                seq = msg.metadata.sequence.stream
                # Published after the replay began: the live tables may or may not have seen it yet.
                if seq > end:
                    return
                report.messages += 1
                _apply(models, msg.subject, msg.headers or {}, msg.data, report, run_log)
                if seq == end or msg.metadata.num_pending == 0:
                    return
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


# -- comparison ---------------------------------------------------------------------------------


def _compare(live: Models, rebuilt: Models, report: ReplayReport) -> list[str]:
    live_runs, rebuilt_runs = live.store.run_rows(), rebuilt.store.run_rows()
    live_docs, rebuilt_docs = live.store.document_rows(), rebuilt.store.document_rows()
    live_monitors, rebuilt_monitors = live.monitors.rows(), rebuilt.monitors.rows()
    report.runs_live, report.runs_rebuilt = len(live_runs), len(rebuilt_runs)
    report.documents_live, report.documents_rebuilt = len(live_docs), len(rebuilt_docs)
    report.monitors_live, report.monitors_rebuilt = len(live_monitors), len(rebuilt_monitors)
    return [
        *_compare_rows("run", live_runs, rebuilt_runs),
        *_compare_logs(live.store.run_event_ids(), rebuilt.store.run_event_ids()),
        *_compare_rows("document", live_docs, rebuilt_docs),
        *_compare_rows("monitor", live_monitors, rebuilt_monitors),
    ]


def _compare_rows(kind: str, live: dict[str, dict[str, Any]], rebuilt: dict[str, dict[str, Any]]) -> Iterator[str]:
    for key in sorted(live.keys() - rebuilt.keys()):
        yield f"{kind} {key} (tenant {live[key]['tenant_id']}): only in the live read model"
    for key in sorted(rebuilt.keys() - live.keys()):
        yield f"{kind} {key} (tenant {rebuilt[key]['tenant_id']}): only in the rebuilt read model"
    for key in sorted(live.keys() & rebuilt.keys()):
        for path, a, b in _diff(live[key], rebuilt[key], ""):
            yield f"{kind} {key}: {path}: live={_short(a)} rebuilt={_short(b)}"


def _compare_logs(live: dict[str, set[str]], rebuilt: dict[str, set[str]]) -> Iterator[str]:
    # A run present on one side only is already reported with its row.
    for run_id in sorted(live.keys() & rebuilt.keys()):
        only_live, only_rebuilt = live[run_id] - rebuilt[run_id], rebuilt[run_id] - live[run_id]
        if only_live or only_rebuilt:
            yield (
                f"run {run_id}: events: only live {_short(sorted(only_live))}"
                f" only rebuilt {_short(sorted(only_rebuilt))}"
            )


def _diff(a: Any, b: Any, path: str) -> Iterator[tuple[str, Any, Any]]:
    """(dotted key, live, rebuilt) of every leaf that differs; lists compare whole, as a value."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(a.keys() | b.keys()):
            yield from _diff(a.get(key), b.get(key), f"{path}.{key}" if path else str(key))
    elif a != b:
        yield path, a, b


def _short(value: Any) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= VALUE_CHARS else f"{text[: VALUE_CHARS - 1]}…"


# -- output -------------------------------------------------------------------------------------


def print_report(report: ReplayReport, console: Console) -> None:
    table = Table(title="quarry replay", show_header=False)
    table.add_row("stream messages read", f"{report.messages} (seq {report.first_seq}..{report.last_seq})")
    table.add_row("read-model events applied", f"{report.applied} ({report.unparsable} unparsable, skipped)")
    table.add_row("runs (live / rebuilt)", f"{report.runs_live} / {report.runs_rebuilt}")
    table.add_row("documents (live / rebuilt)", f"{report.documents_live} / {report.documents_rebuilt}")
    table.add_row("monitors (live / rebuilt)", f"{report.monitors_live} / {report.monitors_rebuilt}")
    table.add_row("rebuild", f"{report.rebuild_s:.2f} s, {report.events_per_s:,.0f} events/s")
    table.add_row("compare", f"{report.compare_s:.2f} s")
    console.print(table)
    if report.identical:
        console.print("[green]identical: the read models match the event log[/green]")
        return
    count = len(report.differences)
    console.print(f"[red]{count} difference{'' if count == 1 else 's'}[/red]")
    for line in report.differences:
        # Values are user data: no markup, and no wrapping inside a line someone may grep.
        console.print(line, markup=False, highlight=False, soft_wrap=True)
