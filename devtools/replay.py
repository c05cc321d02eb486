"""`quarry replay`: rebuild the gateway's read models from the event log and compare them with the live ones.

The rebuild and the comparison are the gateway's (`services.gateway.application.replay`, which the
operators' console runs too); here the stream is read through a throw-away consumer, from its first
message up to the last one present when the replay started, as the operator without limits.
"""

from __future__ import annotations

import ssl
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import nats
import nats.errors
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from rich.console import Console
from rich.table import Table

from contracts import subjects
from quarry_runtime.bus import inbox_prefix
from quarry_runtime.store import SqlDatabase
from services.gateway.application import replay
from services.gateway.application.replay import Message, ReplayReport
from services.gateway.bootstrap import NAME as GATEWAY
from services.gateway.settings import GatewaySettings

__all__ = ["ReplayReport", "StreamUnavailable", "print_report", "rebuild"]

FETCH_BATCH = 500
# With nothing left to fetch, the messages up to the end that are missing were deleted from the stream
# (a scheduled timer's message goes when it fires), so waiting longer would never find them.
IDLE_S = 2.0


class StreamUnavailable(Exception):
    """The event log cannot be read (NATS unreachable, or no QUARRY stream there)."""


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
        async with _stream(settings, report) as messages:
            return await replay.rebuild(db, messages, report, prefix, keep=keep)
    finally:
        db.close()


@asynccontextmanager
async def _stream(settings: GatewaySettings, report: ReplayReport) -> AsyncIterator[AsyncIterator[Sequence[Message]]]:
    """The QUARRY stream's messages up to its last one now, in batches, through an ephemeral consumer."""
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
            yield _none()
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
            yield _read_until(sub, state.last_seq)
            await sub.unsubscribe()
        finally:
            await js.delete_consumer(subjects.STREAM, name)
    finally:
        await nc.close()


async def _none() -> AsyncIterator[Sequence[Message]]:
    return
    yield


async def _quiet(_: Exception) -> None:
    """Failures surface as exceptions of the calls; nats-py's default would print a traceback per attempt."""


async def _read_until(sub: Any, end: int) -> AsyncIterator[Sequence[Message]]:
    while True:
        try:
            fetched = await sub.fetch(FETCH_BATCH, timeout=IDLE_S)
        except nats.errors.TimeoutError:
            return
        batch: list[Message] = []
        last = False
        for msg in fetched:
            seq = msg.metadata.sequence.stream
            # Published after the replay began: the live tables may or may not have seen it yet.
            if seq > end:
                last = True
                break
            batch.append((seq, msg.subject, msg.headers or {}, msg.data))
            if seq == end or msg.metadata.num_pending == 0:
                last = True
                break
        yield batch
        if last:
            return


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
