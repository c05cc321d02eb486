"""Chaos: 20 concurrent runs while services are killed with SIGKILL and NATS restarts once.

Bounded and loopback only. Every run must end in a terminal state; the ledger must balance to
the credit (reserved = settled + refunded for every run, balance = grants - settled); and no
finished task may run again: the fake model counts its calls per question, and the workers'
journal lines count finished tasks.
"""

from __future__ import annotations

import random
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools import natsserver
from devtools.client import QuarryClient
from devtools.stack import Stack, StackConfig
from tests.fakes.llm import API_KEY, FakeLlm, serve
from tests.support.ledgers import balanced_reservations
from tests.support.stack import TERMINAL, running, until_settled, views_of

pytestmark = [pytest.mark.e2e, pytest.mark.infra]

RUNS = 20
TENANTS = 4
VICTIMS = ("orchestrator", "retriever", "analyst", "billing")
MAX_KILLS = 14
CHAOS_S = 45.0


@pytest.fixture(scope="module")
def llm() -> Iterator[tuple[FakeLlm, str]]:
    fake = FakeLlm()
    with serve(fake) as url:
        yield fake, url


@pytest.fixture(scope="module")
def chaos_stack(tmp_path_factory: pytest.TempPathFactory, llm: tuple[FakeLlm, str]) -> Iterator[Stack]:
    config = StackConfig(
        data_dir=tmp_path_factory.mktemp("chaos"),
        http_port=natsserver.free_port(),
        extra_env={
            "QUARRY_ACK_WAIT_S": "3",
            "QUARRY_MAX_DELIVER": "30",
            "QUARRY_ANALYST_MODE": "live",
            "QUARRY_LLM_BASE_URL": llm[1],
            "QUARRY_LLM_API_KEY": API_KEY,
            "QUARRY_LLM_MODEL": "fake-planner",
        },
    )
    with running(config) as stack:
        yield stack


def test_runs_survive_kills_and_a_nats_restart_with_balanced_credits_and_no_repeated_work(
    chaos_stack: Stack, llm: tuple[FakeLlm, str]
) -> None:
    fake, _ = llm
    base = f"http://127.0.0.1:{chaos_stack.config.http_port}"
    clients = []
    tenants = []
    for i in range(TENANTS):
        client = QuarryClient(base)
        body = client.signup(f"chaos{i}-{uuid.uuid4().hex[:6]}@example.com", "correct-horse-battery", f"chaos {i}")
        clients.append(client)
        tenants.append(body["tenant_id"])
    topics = ["context managers", "generators", "decorators", "list comprehensions", "exceptions"]
    runs: dict[str, QuarryClient] = {}
    questions: list[str] = []
    for n in range(RUNS):
        client = clients[n % TENANTS]
        question = f"How do {topics[n % len(topics)]} work in Python (case {n})?"
        questions.append(question)
        runs[client.create_run(question, depth=1, max_sources=3)] = client

    kills: list[str] = []
    stop = threading.Event()
    rng = random.Random(20261125)

    def chaos() -> None:
        started = time.monotonic()
        restarted = False
        while not stop.is_set() and time.monotonic() - started < CHAOS_S and len(kills) < MAX_KILLS:
            if stop.wait(rng.uniform(0.4, 1.6)):
                return
            if not restarted and time.monotonic() - started > 4:
                chaos_stack.restart_nats()
                kills.append("nats-server")
                restarted = True
                continue
            victim = rng.choice(VICTIMS)
            chaos_stack.kill(victim)
            kills.append(victim)

    driver = threading.Thread(target=chaos, name="chaos", daemon=True)
    driver.start()

    until_settled(runs)
    stop.set()
    driver.join(timeout=30)
    chaos_stack.wait_healthy(timeout_s=120)
    latest = views_of(runs)

    print(f"chaos: {len(kills)} kills {Counter(kills)}; states {Counter(str(v['state']) for v in latest.values())}")
    assert "nats-server" in kills and len(set(kills) & set(VICTIMS)) >= 3, kills
    states = Counter(str(v["state"]) for v in latest.values())
    assert set(states) <= TERMINAL, f"runs not finished after chaos: {states}; kills: {kills}"
    assert states["completed"] >= RUNS * 0.8, states
    for run_id, view in latest.items():
        cost = view["cost"]
        assert cost["closed"], (run_id, view["state"])
        assert cost["reserved"] == cost["settled"] + cost["refunded"], (run_id, cost)

    # No model call was paid twice: one planning call per run.
    for question in questions:
        assert fake.calls[question] == 1, (question, fake.calls[question], kills)

    # No finished task ran again: each task id is journalled once across every worker restart.
    journalled: Counter[str] = Counter()
    for role in ("analyst", "retriever", "reporter"):
        log = (chaos_stack.logs / f"{role}.log").read_text(errors="replace")
        journalled.update(re.findall(r"journalled task ([0-9a-f-]{36})", log))
    assert journalled and max(journalled.values()) == 1, journalled.most_common(3)

    # The ledger, read from billing's own store, balances to the credit.
    chaos_stack.stop()
    try:
        assert balanced_reservations(Path(chaos_stack.data_dir), tenants) == RUNS
    finally:
        for client in clients:
            client.close()
