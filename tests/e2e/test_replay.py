"""`quarry replay` on a whole stack: the read models rebuilt from the event log match the live ones."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import nats
import pytest

from contracts import consumers, subjects
from devtools.client import QuarryClient
from devtools.replay import rebuild
from devtools.stack import Stack
from quarry_runtime.store import SqlDatabase
from tests.support.polling import wait_for
from tests.support.stack import ClientFactory, gateway_settings, indexed_upload

pytestmark = [pytest.mark.e2e, pytest.mark.infra]

ROOT = Path(__file__).resolve().parents[2]
QUESTION = "How does the with statement work and what are context managers?"


def complete_a_run(client: QuarryClient) -> str:
    run_id = client.create_run(QUESTION, depth=1, max_sources=4)
    events = list(client.events(run_id))
    assert events[-1].event == "end", [e.event for e in events]
    return run_id


async def gateway_backlog(nats_url: str) -> int:
    """Messages the gateway's consumers have not yet taken and acknowledged."""
    nc = await nats.connect(nats_url)
    try:
        infos = await nc.jetstream().consumers_info(subjects.STREAM)
        # Its durable consumers only: a catch-up reader is in the middle of a pass, not a backlog.
        durables = {c.durable for c in consumers.CONSUMERS["gateway"]}
        # nats-py types both counts as optional: one the server leaves out is nothing pending.
        return sum((i.num_pending or 0) + (i.num_ack_pending or 0) for i in infos if i.name in durables)
    finally:
        await nc.close()


def wait_until_gateway_caught_up(stack: Stack) -> None:
    # The live tables trail the bus a little; comparing before they catch up would report that lag.
    wait_for(lambda: asyncio.run(gateway_backlog(stack.nats_url)) == 0, 60.0, "the gateway to catch up")


def replay_tables(db: SqlDatabase) -> set[str]:
    if db.is_postgres:
        rows = db.query("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
    else:
        rows = db.query("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {str(r[0]) for r in rows if str(r[0]).startswith("replay_")}


def test_the_read_models_rebuilt_from_the_log_match_the_live_ones(stack: Stack, client_factory: ClientFactory) -> None:
    erin = client_factory()
    erin.signup(f"erin-{uuid.uuid4().hex[:6]}@example.com", "correct-horse-battery", "erin")
    run_id = complete_a_run(erin)
    indexed_upload(erin, "Replay notes", "# Replay\n\nRead models are a function of the event log.")
    wait_until_gateway_caught_up(stack)

    report = asyncio.run(rebuild(gateway_settings(stack)))

    assert report.identical, "\n".join(report.differences)
    assert report.runs_live == report.runs_rebuilt >= 1
    assert report.documents_live == report.documents_rebuilt >= 1
    assert report.messages >= report.applied > 0 and report.unparsable == 0
    assert report.last_seq >= report.messages
    db = SqlDatabase(gateway_settings(stack), "gateway")
    try:
        assert replay_tables(db) == set(), "the rebuilt tables are dropped afterwards"
        assert db.one("SELECT state FROM runs WHERE run_id = ?", (run_id,)) == ("completed",)
    finally:
        db.close()


def test_a_tampered_live_view_is_named_with_the_key_that_differs(stack: Stack, client_factory: ClientFactory) -> None:
    settings = gateway_settings(stack)
    db = SqlDatabase(settings, "gateway")
    finished = "SELECT run_id, view FROM runs WHERE state = 'completed' ORDER BY created_at LIMIT 1"
    if db.one(finished) is None:  # this test run alone
        frank = client_factory()
        frank.signup(f"frank-{uuid.uuid4().hex[:6]}@example.com", "correct-horse-battery", "frank")
        complete_a_run(frank)
    wait_until_gateway_caught_up(stack)
    row = db.one(finished)
    assert row is not None
    run_id, original = str(row[0]), str(row[1])
    tampered = json.loads(original) | {"question": "tampered with"}
    db.execute("UPDATE runs SET view = ? WHERE run_id = ?", (json.dumps(tampered), run_id))
    try:
        report = asyncio.run(rebuild(settings, keep=True))
        assert len(report.differences) == 1, "\n".join(report.differences)
        assert report.differences[0].startswith(f'run {run_id}: view.question: live="tampered with" rebuilt=')
        assert {"replay_runs", "replay_run_events", "replay_documents"} <= replay_tables(db), "--keep keeps them"

        cli = subprocess.run(
            [sys.executable, "-m", "devtools.cli", "replay"],
            env=cli_env(stack),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert cli.returncode == 1, cli.stdout + cli.stderr
        assert "1 difference\n" in cli.stdout and f"run {run_id}: view.question" in cli.stdout, cli.stdout
        assert "events/s" in cli.stdout
        assert replay_tables(db) == set(), "a new replay starts from empty tables and drops them"
    finally:
        db.execute("UPDATE runs SET view = ? WHERE run_id = ?", (original, run_id))
        db.close()
    restored = asyncio.run(rebuild(settings))
    assert restored.identical, "\n".join(restored.differences)


def cli_env(stack: Stack) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUARRY_") and k not in ("DATABASE_URL", "NATS_URL")}
    env.update(
        QUARRY_DATA_DIR=str(stack.data_dir),
        NATS_URL=stack.nats_url,
        QUARRY_DB_SCHEMA_PREFIX=stack.config.db_schema_prefix,
        # Unset would be production, which refuses the development secrets of the stack.
        QUARRY_ENVIRONMENT="development",
    )
    if stack.config.database_url:
        env["DATABASE_URL"] = stack.config.database_url
    return env
