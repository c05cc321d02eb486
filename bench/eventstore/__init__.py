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

import gc
import math
import time

from rich.console import Console

from bench.eventstore.append import first_events, measure_append
from bench.eventstore.readmodels import measure_readmodels, runs_covering
from bench.eventstore.replay import measure_replay, notifications_of
from bench.eventstore.stores import GATEWAY_EVENTS_PER_RUN, Append, ReadModel, Replay, open_backends
from bench.eventstore.tables import append_table, readmodel_table, replay_table, summary_rows
from bench.report import SummaryRow, timed_step
from contracts.envelope import Event
from tests.support.runs_fixture import Fixture, gateway_events, generate


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
    replay_notes = notifications_of(fixture, replay_runs)
    append_saves = first_events(fixture.saves, appends)
    live_runs = runs_covering(envelopes, live_events)
    live_envelopes = [e for e in envelopes if e.run_id in live_runs]

    replays: list[Replay] = []
    append_results: list[Append] = []
    readmodels: list[ReadModel] = []
    with open_backends(console) as backends:
        for backend in backends:
            timed_step(console, f"{backend.name}: replaying {len(replay_runs)} runs...")
            replays.append(measure_replay(backend, replay_notes, replay_runs))
            timed_step(console, f"{backend.name}: appending {sum(map(len, append_saves)):,} events five ways...")
            append_results.extend(measure_append(backend, append_saves))
            timed_step(console, f"{backend.name}: rebuilding the run read models...")
            readmodels.extend(measure_readmodels(backend, envelopes, live_envelopes, len(live_runs)))

    console.print(replay_table(replays))
    console.print(append_table(append_results))
    console.print(readmodel_table(readmodels, len(envelopes)))
    return summary_rows(replays, append_results, readmodels, len(envelopes))
