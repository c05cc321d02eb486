"""Event store: replaying run state, appending events, rebuilding the gateway's read models.

Runs are generated first by driving the real `Orchestrator` through whole runs on in-memory
storage (see `tests.support.runs_fixture`: ~59 stored events and ~90 gateway envelopes per run, with
retries and an approval); generation is never timed. Each figure is then taken on SQLite (a
file in a temp dir, as a service's data dir holds it) and on PostgreSQL (a fresh database on
the server `devtools.pgserver` finds, dropped afterwards), with the stores configured by
`quarry_runtime.store` exactly as the services configure them.

1. Replay: the stored events of `runs` runs are copied into a fresh event store, and into
   one as plain eventsourcing keeps it (its own recorder, JSON transcoder and SQLite file). The
   baseline is that store's `app.repository.get(run_id)` for every run (one query per run, no cache);
   the candidate is `services.orchestrator.runs.rebuild.rebuild_runs(app)` (the notification log
   in pages of 5000, one query each, every event folded with the same `mutate` calls). Best
   of three alternating rounds each; the rebuilt runs are compared with the repository's
   (`__dict__`, every run). A separate pass splits the bulk path into reading the pages,
   decoding them (`mapper.to_domain_event`) and folding them (`mutate`). For the other road
   the issue names, every run is also snapshotted at its last version (untimed) and read back
   with `repository.get` (the orchestrator snapshots a run when it ends; its state keeps only
   what the steps still to come need, so the snapshot is much smaller than the history).
2. Append: the same first ~N domain events, in the order and grouping the orchestrator
   saved them while the runs were generated, saved into a fresh store with `app.save(...)`:
   one event per save (a commit per event: the baseline), each handled bus event's events
   per save (no grouping), and the events of 16, 64 or 256 consecutive handled bus events per
   group commit (one commit per consumer fetch batch, or per bulk import). Best of three
   alternating rounds, each into a fresh store.
3. Read models: the envelopes the gateway would receive for the generated runs (the inputs
   the orchestrator handled, what billing and the reporter publish, and what `translate`
   makes of every stored event, as the outbox relay publishes it), in event-id order. The
   live path `GatewayStore.record_run_event` refolds a run's whole log on every event, so it
   is timed on the events of the first runs only (~`live_events`), and its time for the
   whole set is extrapolated linearly (its cost per event grows with the length of the run,
   not with the size of the table, bar deeper indexes). `GatewayStore.record_run_events`, what
   `quarry replay` rebuilds with (insert every event many rows per statement, then fold each run once), is timed on the whole set and on
   the same subset, where its rows (views included) are compared with the live path's. On
   PostgreSQL both run with `synchronous_commit` off, as `quarry replay` rebuilds.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import StoredEvent
from rich.console import Console
from rich.table import Table

from bench.report import SummaryRow, ratio, timed_step, verdict
from contracts.envelope import Event
from devtools import pgserver
from quarry_runtime.groupcommit import GroupCommit
from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.store import SqlDatabase, eventstore_env
from services.gateway.readmodels.store import GatewayStore
from services.orchestrator.application import Orchestrator
from services.orchestrator.runs.domain import Run
from services.orchestrator.runs.rebuild import fold_log, rebuild_runs
from tests.support.runs_fixture import Fixture, gateway_events, generate

TARGET_RATIO = 10.0
REPLAY_ROUNDS = 3
APPEND_ROUNDS = 3
REBUILD_BATCH = 5000
# What one generated run gives the gateway; only used to size the generation.
GATEWAY_EVENTS_PER_RUN = 90
# (what is committed together, handled bus events per commit; 0: every domain event alone)
APPEND_MODES: tuple[tuple[str, int], ...] = (
    ("1 event/commit (baseline)", 0),
    ("1 bus event/commit (no grouping)", 1),
    ("group commit, 16 bus events", 16),
    ("group commit, 64 bus events", 64),
    ("group commit, 256 bus events", 256),
)
# The orchestrator snapshots a run every this many events, and when it ends.
SNAPSHOT_EVERY = 40


@dataclass(frozen=True)
class Backend:
    name: str
    root: Path
    database_url: str | None

    def settings(self, tag: str) -> RuntimeSettings:
        """A store of its own per tag: a data dir on SQLite, a schema prefix on PostgreSQL."""
        return RuntimeSettings(data_dir=self.root / tag, database_url=self.database_url, db_schema_prefix=f"b_{tag}")


@dataclass(frozen=True)
class Replay:
    backend: str
    runs: int
    events: int
    get_s: float  # repository.get per run, no snapshots: the baseline
    log_s: float  # fold_log: the notification log in pages
    bulk_s: float  # rebuild_runs before any snapshot: every event, two queries
    snap_bulk_s: float  # rebuild_runs with the orchestrator's snapshots: the candidate
    snap_get_s: float  # repository.get per run with the snapshots
    read_s: float
    decode_s: float
    fold_s: float
    equal: bool


@dataclass(frozen=True)
class Append:
    backend: str
    mode: str
    events: int
    commits: int
    seconds: float
    stored: bool


@dataclass(frozen=True)
class ReadModel:
    backend: str
    path: str
    events: int
    runs: int
    seconds: float
    check: str


def run(
    console: Console, runs: int = 300, appends: int = 10_000, events: int = 100_000, live_events: int = 10_000
) -> list[SummaryRow]:
    console.rule("[bold]4. Event store: replay, append, read-model rebuild")
    generated = max(runs, math.ceil(events / GATEWAY_EVENTS_PER_RUN))
    with console.status(f"generating {generated} runs through the orchestrator (not timed)..."):
        started = time.perf_counter()
        fixture = generate(generated)
        envelopes = gateway_events(fixture)
    console.print(
        f"generated {generated} runs: {fixture.event_count():,} stored events in {len(fixture.saves):,} saves, "
        f"{len(envelopes):,} gateway envelopes, in {time.perf_counter() - started:.1f}s"
    )
    # The fixture is a heap of millions of objects that every full collection would walk, on
    # whichever side of a comparison it fell: park it outside the collector while measuring.
    gc.collect()
    gc.freeze()
    try:
        return _measure(console, fixture, envelopes, runs, appends, live_events)
    finally:
        gc.unfreeze()


def _measure(
    console: Console, fixture: Fixture, envelopes: list[Event], runs: int, appends: int, live_events: int
) -> list[SummaryRow]:
    replay_runs = fixture.run_ids[:runs]
    replay_notes = _notifications_of(fixture, replay_runs)
    append_saves = _first_events(fixture.saves, appends)
    live_runs = _runs_covering(envelopes, live_events)
    live_envelopes = [e for e in envelopes if e.run_id in live_runs]

    replays: list[Replay] = []
    append_results: list[Append] = []
    readmodels: list[ReadModel] = []
    with _backends(console) as backends:
        for backend in backends:
            timed_step(console, f"{backend.name}: replaying {len(replay_runs)} runs...")
            replays.append(_replay(backend, replay_notes, replay_runs))
            timed_step(console, f"{backend.name}: appending {sum(map(len, append_saves)):,} events five ways...")
            append_results.extend(_append(backend, append_saves))
            timed_step(console, f"{backend.name}: rebuilding the run read models...")
            readmodels.extend(_readmodels(backend, envelopes, live_envelopes, len(live_runs)))

    console.print(_replay_table(replays))
    console.print(_append_table(append_results))
    console.print(_readmodel_table(readmodels, len(envelopes)))
    return _summary(replays, append_results, readmodels, len(envelopes))


# -- stores ------------------------------------------------------------------------------------


@contextlib.contextmanager
def _backends(console: Console) -> Iterator[list[Backend]]:
    """SQLite in a temp dir, and PostgreSQL in a fresh database when one can be had."""
    with tempfile.TemporaryDirectory(prefix="quarry-bench-eventstore-") as tmp:
        found = [Backend("SQLite", Path(tmp) / "sqlite", None)]
        server: str | None = None
        cluster: pgserver.EphemeralCluster | None = None
        database: str | None = None
        try:
            try:
                server, cluster = pgserver.server_url()
                database = pgserver.create_database(server, prefix="quarry_bench")
                found.append(Backend("PostgreSQL", Path(tmp) / "postgres", database))
            except (RuntimeError, psycopg.Error, subprocess.CalledProcessError) as exc:
                console.print(f"[yellow]no PostgreSQL, SQLite only: {exc}[/yellow]")
            yield found
        finally:
            if server is not None and database is not None:
                pgserver.drop_database(server, database)
            if cluster is not None:
                cluster.stop()


def _orchestrator(backend: Backend, tag: str) -> Orchestrator:
    return Orchestrator(env=eventstore_env(backend.settings(tag), "orchestrator"))


def _plain_orchestrator(backend: Backend, tag: str) -> Orchestrator:
    """The orchestrator on plain eventsourcing: its own recorders, JSON transcoder and SQLite file."""
    settings = backend.settings(tag)
    if settings.database_url:
        env = {**eventstore_env(settings, "orchestrator"), "PERSISTENCE_MODULE": "eventsourcing.postgres"}
        env.pop("TRANSCODER_TOPIC")
    else:
        path = settings.service_dir("orchestrator") / "plain.sqlite3"
        path.parent.mkdir(parents=True, exist_ok=True)
        env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path), "CREATE_TABLE": "true"}
    return Orchestrator(env=env)


# -- 1. replay ---------------------------------------------------------------------------------


def _notifications_of(fixture: Fixture, run_ids: Sequence[str]) -> list[StoredEvent]:
    wanted = {Run.create_id(run_id) for run_id in run_ids}
    notes = fixture.app.recorder.select_notifications(start=1, limit=fixture.event_count() + 1)
    return [
        StoredEvent(n.originator_id, n.originator_version, n.topic, n.state) for n in notes if n.originator_id in wanted
    ]


def _replay(backend: Backend, notes: Sequence[StoredEvent], run_ids: Sequence[str]) -> Replay:
    app = _orchestrator(backend, "replay")
    plain = _plain_orchestrator(backend, "replay_plain")
    try:
        for store in (app, plain):
            for start in range(0, len(notes), 2000):
                store.recorder.insert_events(list(notes[start : start + 2000]))
        ids = [(run_id, Run.create_id(run_id)) for run_id in run_ids]
        expected: dict[str, Run] = {}

        def by_get() -> dict[str, Run]:
            return {run_id: app.repository.get(aggregate_id) for run_id, aggregate_id in ids}

        def by_plain_get() -> dict[str, Run]:
            return {run_id: plain.repository.get(aggregate_id) for run_id, aggregate_id in ids}

        # No snapshots yet: plain eventsourcing's repository (the baseline) and the two bulk reads.
        get_s, expected = _best(by_plain_get)
        log_s, by_log = _best(lambda: fold_log(app, batch=REBUILD_BATCH))
        bulk_s, by_bulk = _best(lambda: rebuild_runs(app))
        read_s, decode_s, fold_s = _phases(app)
        # Then the snapshots the orchestrator keeps (every 40 events and when a run ends), taken untimed.
        for _, aggregate_id in ids:
            last: int = app.repository.get(aggregate_id).version
            for version in sorted({*range(SNAPSHOT_EVERY, last + 1, SNAPSHOT_EVERY), last}):
                app.take_snapshot(aggregate_id, version=version)
        snap_bulk_s, by_snap_bulk = _best(lambda: rebuild_runs(app))
        snap_get_s, by_snap_get = _best(by_get)
    finally:
        app.close()
        plain.close()
    return Replay(
        backend.name,
        len(ids),
        len(notes),
        get_s,
        log_s,
        bulk_s,
        snap_bulk_s,
        snap_get_s,
        read_s,
        decode_s,
        fold_s,
        equal=all(_same(found, expected) for found in (by_log, by_bulk, by_snap_bulk, by_snap_get)),
    )


def _best(read: Callable[[], dict[str, Run]]) -> tuple[float, dict[str, Run]]:
    """The best time of a few rounds, and what the last round read."""
    times: list[float] = []
    found: dict[str, Run] = {}
    for _ in range(REPLAY_ROUNDS):
        started = time.perf_counter()
        found = read()
        times.append(time.perf_counter() - started)
    return min(times), found


def _same(found: dict[str, Run], expected: dict[str, Run]) -> bool:
    return found.keys() == expected.keys() and all(found[r].__dict__ == expected[r].__dict__ for r in expected)


def _phases(app: Orchestrator) -> tuple[float, float, float]:
    """fold_log's loop taken apart: reading the pages, decoding the events, folding them
    (each the best of a few passes, as the timings it explains are)."""
    best = (math.inf, math.inf, math.inf)
    for _ in range(REPLAY_ROUNDS):
        read = decode = fold = 0.0
        folded: dict[Any, Any] = {}
        start = 1
        while True:
            t0 = time.perf_counter()
            page = app.recorder.select_notifications(start=start, limit=REBUILD_BATCH)
            t1 = time.perf_counter()
            decoded: list[Any] = [app.mapper.to_domain_event(n) for n in page]
            t2 = time.perf_counter()
            for domain_event in decoded:
                folded[domain_event.originator_id] = domain_event.mutate(folded.get(domain_event.originator_id))
            t3 = time.perf_counter()
            read, decode, fold = read + t1 - t0, decode + t2 - t1, fold + t3 - t2
            if len(page) < REBUILD_BATCH:
                break
            start = page[-1].id + 1
        best = (min(best[0], read), min(best[1], decode), min(best[2], fold))
    return best


# -- 2. append ---------------------------------------------------------------------------------


def _first_events(saves: Sequence[list[DomainEventProtocol[Any]]], count: int) -> list[list[DomainEventProtocol[Any]]]:
    """Whole saves, in order, until they hold at least `count` events."""
    chosen: list[list[DomainEventProtocol[Any]]] = []
    total = 0
    for save in saves:
        if total >= count:
            break
        chosen.append(save)
        total += len(save)
    return chosen


def _append(backend: Backend, saves: Sequence[list[DomainEventProtocol[Any]]]) -> list[Append]:
    """Each way into a fresh store, the best of `APPEND_ROUNDS` rounds that alternate the ways (a
    noisy neighbour only ever slows a round down, so the best is the least disturbed)."""
    expected = sum(map(len, saves))
    best: dict[int, Append] = {}
    for round_ in range(APPEND_ROUNDS):
        for n, (mode, per_commit) in enumerate(APPEND_MODES):
            app = _orchestrator(backend, f"append{round_}_{n}")
            try:
                started = time.perf_counter()
                commits = _append_one_way(app, saves, per_commit)
                seconds = time.perf_counter() - started
                stored = app.recorder.max_notification_id() == expected
            finally:
                app.close()
            found = Append(backend.name, mode, expected, commits, seconds, stored)
            if n not in best or not stored or (best[n].stored and seconds < best[n].seconds):
                best[n] = found
    return [best[n] for n in range(len(APPEND_MODES))]


def _append_one_way(app: Orchestrator, saves: Sequence[list[DomainEventProtocol[Any]]], per_commit: int) -> int:
    """Save `saves` as the mode says; returns the number of commits."""
    if per_commit == 0:
        for save in saves:
            for domain_event in save:
                app.save(domain_event)
        return sum(map(len, saves))
    if per_commit == 1:
        for save in saves:
            app.save(*save)
        return len(saves)
    return asyncio.run(_group_commits(app, saves, per_commit))


async def _group_commits(app: Orchestrator, saves: Sequence[list[DomainEventProtocol[Any]]], per_commit: int) -> int:
    """`per_commit` handled bus events at a time staged as units, then one group commit, as the
    orchestrator's consumers do when a fetch brings that many messages."""
    group = GroupCommit(app)
    for start in range(0, len(saves), per_commit):
        units = []
        for save in saves[start : start + per_commit]:
            with group.unit() as unit:
                staged = group.get(save[0].originator_id)
                if staged is not None:
                    staged.pending_events.extend(save)  # a run whose earlier change waits in this group
                else:
                    group.stage(_Recorded(save))
            units.append(unit)
        group.commit()
        for unit in units:
            await unit.committed()
    return group.commits


class _Recorded:
    """One run's new events, as a use case leaves them on the Run before the save; the
    generated runs' objects are gone, their events are what the benchmark appends."""

    def __init__(self, events: list[DomainEventProtocol[Any]]) -> None:
        self.id = events[0].originator_id
        self.pending_events = list(events)

    def collect_events(self) -> list[DomainEventProtocol[Any]]:
        collected, self.pending_events = self.pending_events, []
        return collected


# -- 3. read models ----------------------------------------------------------------------------


def _runs_covering(envelopes: Sequence[Event], count: int) -> set[str]:
    """The first runs (in event order) whose events add up to at least `count`."""
    sizes: dict[str, int] = {}
    for envelope in envelopes:
        if envelope.run_id:
            sizes[envelope.run_id] = sizes.get(envelope.run_id, 0) + 1
    chosen: set[str] = set()
    total = 0
    for run_id, size in sizes.items():
        if total >= count:
            break
        chosen.add(run_id)
        total += size
    return chosen


def _readmodels(backend: Backend, envelopes: Sequence[Event], live: Sequence[Event], live_runs: int) -> list[ReadModel]:
    db = SqlDatabase(backend.settings("readmodels"), "gateway")
    if db.is_postgres:
        # As `quarry replay` rebuilds: into tables thrown away afterwards, a WAL flush per commit buys nothing.
        db.execute("SET synchronous_commit TO off")
    stores = {
        "live": GatewayStore(db, prefix="bench_live_"),
        "check": GatewayStore(db, prefix="bench_check_"),
        "all": GatewayStore(db, prefix="bench_"),
    }
    try:
        started = time.perf_counter()
        for envelope in live:
            stores["live"].record_run_event(envelope)
        live_s = time.perf_counter() - started
        started = time.perf_counter()
        stores["check"].record_run_events(live)
        check_s = time.perf_counter() - started
        started = time.perf_counter()
        stores["all"].record_run_events(envelopes)
        all_s = time.perf_counter() - started
        live_rows = stores["live"].run_rows()
        same = live_rows == stores["check"].run_rows()
        all_runs = len(stores["all"].run_rows())
    finally:
        for store in stores.values():
            store.drop_read_models()
        db.close()
    runs = len({e.run_id for e in envelopes})
    return [
        ReadModel(backend.name, "record_run_event (live path)", len(live), live_runs, live_s, f"{len(live_rows)} runs"),
        ReadModel(backend.name, "bulk, same events", len(live), live_runs, check_s, "= live" if same else "DIFFERENT"),
        ReadModel(backend.name, "bulk, all events", len(envelopes), runs, all_s, f"{all_runs} runs"),
    ]


# -- output ------------------------------------------------------------------------------------


def _rate(events: int, seconds: float) -> str:
    return f"{events / seconds:,.0f}" if seconds > 0 else "-"


def _replay_table(rows: Sequence[Replay]) -> Table:
    table = Table(
        title=f"run state of {rows[0].runs if rows else 0} runs, events folded per second: plain eventsourcing repository.get per run "
        "(baseline), fold_log (notification log in pages), rebuild_runs before and after the orchestrator's "
        "snapshots, and repository.get with snapshots; read/decode/fold ms: fold_log's split",
        title_justify="left",
    )
    for head in (
        "backend",
        "events",
        "get",
        "fold_log",
        "rebuild",
        "rebuild+snap",
        "x",
        "get+snap",
        "x ",
        "read ms",
        "decode ms",
        "fold ms",
        "same",
    ):
        table.add_column(head, justify="left" if head == "backend" else "right")
    for r in rows:
        table.add_row(
            r.backend,
            f"{r.events:,}",
            _rate(r.events, r.get_s),
            f"{_rate(r.events, r.log_s)} ({ratio(r.get_s, r.log_s):.1f}x)",
            f"{_rate(r.events, r.bulk_s)} ({ratio(r.get_s, r.bulk_s):.1f}x)",
            _rate(r.events, r.snap_bulk_s),
            f"{ratio(r.get_s, r.snap_bulk_s):.1f}x",
            _rate(r.events, r.snap_get_s),
            f"{ratio(r.get_s, r.snap_get_s):.1f}x",
            f"{r.read_s * 1000:.0f}",
            f"{r.decode_s * 1000:.0f}",
            f"{r.fold_s * 1000:.0f}",
            "yes" if r.equal else "[red]NO[/red]",
        )
    return table


def _append_table(rows: Sequence[Append]) -> Table:
    table = Table(
        title="append: one commit per domain event, per handled bus event, or per group of handled bus events "
        "(quarry_runtime.groupcommit)",
        title_justify="left",
    )
    for head in ("backend", "what one save commits", "events", "commits", "s", "ev/s", "vs baseline", "all stored"):
        table.add_column(head, justify="left" if head in ("backend", "what one save commits") else "right")
    baseline = {r.backend: r.seconds for r in rows if r.mode == APPEND_MODES[0][0]}
    for r in rows:
        table.add_row(
            r.backend,
            r.mode,
            f"{r.events:,}",
            f"{r.commits:,}",
            f"{r.seconds:.2f}",
            _rate(r.events, r.seconds),
            f"{ratio(baseline[r.backend], r.seconds):.1f}x",
            "yes" if r.stored else "[red]NO[/red]",
        )
    return table


def _readmodel_table(rows: Sequence[ReadModel], total: int) -> Table:
    table = Table(title="gateway run read models rebuilt from gateway envelopes", title_justify="left")
    for head in ("backend", "path", "events", "runs", "s", "ev/s", f"s for {total:,} ev", "check"):
        table.add_column(head, justify="left" if head in ("backend", "path") else "right")
    for r in rows:
        if r.events == total:
            whole = f"{r.seconds:.1f}"
        elif r.path.startswith("record_run_event"):
            whole = f"~{r.seconds * total / r.events:.0f} (extrapolated)"
        else:
            whole = "-"
        table.add_row(
            r.backend,
            r.path,
            f"{r.events:,}",
            str(r.runs),
            f"{r.seconds:.2f}",
            _rate(r.events, r.seconds),
            whole,
            r.check,
        )
    return table


def _summary(
    replays: Sequence[Replay], appends: Sequence[Append], readmodels: Sequence[ReadModel], total: int
) -> list[SummaryRow]:
    target = f">= {TARGET_RATIO:.0f}x"
    rows: list[SummaryRow] = []
    for r in replays:
        for what, seconds, candidate in (
            ("rebuild_runs with snapshots vs get", r.snap_bulk_s, True),
            ("get with snapshots vs get", r.snap_get_s, False),
            ("rebuild_runs, no snapshots, vs get", r.bulk_s, False),
        ):
            x = ratio(r.get_s, seconds)
            rows.append(
                SummaryRow(
                    "event store",
                    f"replay {r.backend}: {what}",
                    f"{x:.1f}x ({_rate(r.events, seconds)} vs {_rate(r.events, r.get_s)} ev/s)",
                    target if candidate else "",
                    verdict(x >= TARGET_RATIO and r.equal) if candidate else "",
                )
            )
    for backend in dict.fromkeys(a.backend for a in appends):
        mine = [a for a in appends if a.backend == backend]
        base = mine[0]
        for a, (_, per_commit) in zip(mine[1:], APPEND_MODES[1:], strict=True):
            x = ratio(base.seconds, a.seconds)
            # Without grouping is the reference point; the orchestrator groups what its fetches bring.
            candidate = per_commit > 1
            rows.append(
                SummaryRow(
                    "event store",
                    f"append {backend}: {a.mode}",
                    f"{x:.1f}x baseline ({_rate(a.events, a.seconds)} vs {_rate(base.events, base.seconds)} ev/s)",
                    target if candidate else "",
                    verdict(x >= TARGET_RATIO and a.stored) if candidate else "",
                )
            )
    for m in readmodels:
        if m.path.startswith("bulk, same"):
            continue
        if m.events == total:
            value = f"{m.seconds:.1f}s ({_rate(m.events, m.seconds)} ev/s)"
        else:
            value = f"~{m.seconds * total / m.events:.0f}s extrap. ({_rate(m.events, m.seconds)} ev/s)"
        path = "record_run_event" if m.path.startswith("record_run_event") else "bulk rebuild"
        rows.append(SummaryRow("event store", f"read models from {total:,} ev, {m.backend}: {path}", value))
    return rows
