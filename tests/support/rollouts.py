"""Driving a rollout on a whole stack as an operator does: a platform admin granted by `quarry
operator grant`, versions registered and evaluated through the gateway (`quarry operator
evaluate`, the eval gate), and tenants' runs asked for until the rollout is decided."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from devtools import natsserver
from devtools.client import QuarryClient
from devtools.stack import Stack, StackConfig
from tests.support.operators import REPO, quarry_operator
from tests.support.stack import TERMINAL, ask, running

QUESTION = "What is a context manager in Python?"
PASSWORD = "correct-horse-battery"
# The stable planner the rollout stacks register: offline, one sub-question, so runs are short.
PLANNER = {"mode": "offline", "parameters": {"max_sub_questions": 1}}
# The quality guards at limits that no offline run can fail: another guard, or none, decides.
QUALITY_OUT_OF_REACH = {
    "completion_rate": {"ratio": 0.01, "slack": 1.0},
    "citation_support": {"ratio": 0.01, "slack": 1.0},
}


def rollout_stack(name: str, extra_env: dict[str, str] | None = None) -> object:
    """A module's `stack` fixture: the whole stack, every service its own process, on a data
    directory named `name` with `extra_env` set for its services; assign it to `stack` in the
    module."""

    @pytest.fixture(scope="module", name="stack")
    def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
        config = StackConfig(
            data_dir=tmp_path_factory.mktemp(name), http_port=natsserver.free_port(), extra_env=dict(extra_env or {})
        )
        with running(config) as s:
            yield s

    return stack


def admin_of(stack: Stack, factory: Callable[[], QuarryClient], cwd: Path) -> QuarryClient:
    """A platform admin, granted by `quarry operator grant` as an operator would, signed in again
    so that the token carries the role."""
    email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    client = factory()
    client.signup(email, PASSWORD, "Platform")
    done = asyncio.run(quarry_operator("grant", email, "--role", "platform_admin", data_dir=stack.data_dir, cwd=cwd))
    assert done.returncode == 0, done.stderr + done.stdout
    client.login(email, PASSWORD)
    return client


def call(client: QuarryClient, method: str, path: str, body: Any = None, status: int = 200) -> Any:
    r = client.request(method, path, json=body) if body is not None else client.request(method, path)
    assert r.status_code == status, (method, path, r.status_code, r.text)
    return r.json()


def register(admin: QuarryClient, component: str, config: dict[str, Any]) -> str:
    """The version of `config`; 201 when new, 200 when registered before."""
    r = admin.request("POST", "/v1/ops/agents", json={"component": component, "config": config})
    assert r.status_code in (200, 201), r.text
    return str(r.json()["version"])


def stable_version(admin: QuarryClient, component: str) -> str:
    listed = call(admin, "GET", f"/v1/ops/agents/{component}")["versions"]
    (stable,) = [v["version"] for v in listed if v["stable"]]
    return str(stable)


def evaluated(stack: Stack, admin: QuarryClient, component: str, version: str, cwd: Path, *, gate: bool = True) -> str:
    """`quarry operator evaluate`, as an operator runs it: the offline evaluation of the test split
    with the version's configuration (faults left out), stored with it; with `gate`, it must pass
    (a stable version's own evaluation is the floor its candidates are judged against)."""
    gateway = f"http://127.0.0.1:{stack.config.http_port}"
    env = {**os.environ, "QUARRY_TOKEN": admin.token or "", "PYTHONPATH": str(REPO), "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "devtools.cli", "operator", "evaluate", component, version, "--gateway", gateway],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = done.stdout + done.stderr
    assert "recall_at_10" in out, out  # evaluated and stored, passed or not
    if gate:
        assert done.returncode == 0 and "passed the eval gate" in out, out
    return out


def through_the_gate(
    stack: Stack, admin: QuarryClient, component: str, stable: dict[str, Any], candidate: dict[str, Any], cwd: Path
) -> tuple[str, str]:
    """The versions of `stable` and `candidate`, registered in that order on a stack that has none
    of `component` yet (so the first is the stable one) and evaluated: the stable one's evaluation
    is the floor, and the candidate's must pass the eval gate."""
    stable_v = register(admin, component, stable)
    assert stable_version(admin, component) == stable_v
    candidate_v = register(admin, component, candidate)
    evaluated(stack, admin, component, stable_v, cwd, gate=False)
    evaluated(stack, admin, component, candidate_v, cwd)
    return stable_v, candidate_v


def started(admin: QuarryClient, component: str, candidate: str, spec: dict[str, Any]) -> dict[str, Any]:
    """A rollout of `candidate` started through the gateway (201), with no dwell between looks and
    every tier of tenant in its audience; `spec` gives the rest (stages, `min_runs_per_stage` ...)."""
    body = {"component": component, "candidate": candidate, "min_dwell_s": 0, "audience": {"excluded_tiers": []}}
    found: dict[str, Any] = call(admin, "POST", "/v1/ops/rollouts", body | spec, status=201)
    return found


class RolledOut(NamedTuple):
    admin: QuarryClient
    stable: str
    candidate: str
    rollout: dict[str, Any]


def rolled_out(
    stack: Stack,
    factory: Callable[[], QuarryClient],
    cwd: Path,
    component: str,
    configs: tuple[dict[str, Any], dict[str, Any]],
    spec: dict[str, Any],
) -> RolledOut:
    """A new platform admin, the stable and candidate versions of `configs` through the gate
    (`through_the_gate`), and the candidate's rollout started by that admin (`started`)."""
    admin = admin_of(stack, factory, cwd)
    stable, candidate = through_the_gate(stack, admin, component, configs[0], configs[1], cwd)
    return RolledOut(admin, stable, candidate, started(admin, component, candidate, spec))


def rollout_of(admin: QuarryClient, rollout_id: str, restart_s: float = 60.0) -> dict[str, Any]:
    """The rollout as the orchestrator answers for it, waiting out a restart of the orchestrator
    (the gateway answers 503 while no replica is there to ask)."""
    deadline = time.monotonic() + restart_s
    while (r := admin.request("GET", f"/v1/ops/rollouts/{rollout_id}")).status_code == 503:
        assert time.monotonic() < deadline, r.text
        time.sleep(0.5)
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


def closed(view: dict[str, Any]) -> bool:
    """Nothing more happens to the run: it ended and billing closed its reservation."""
    return view["state"] in TERMINAL and bool(view["cost"]["closed"])


@dataclass(frozen=True, slots=True)
class Bounds:
    """How runs are asked for until a rollout decides: `in_flight` at a time, failing past
    `max_runs` runs or `deadline_s` seconds."""

    in_flight: int
    max_runs: int
    deadline_s: float


def drive(
    tenants: list[QuarryClient],
    decided: Callable[[], bool],
    bounds: Bounds,
    *,
    every_run: Callable[[int], None] = lambda n: None,
) -> dict[str, QuarryClient]:
    """Runs of the tenants in turn, `bounds.in_flight` at a time, until `decided()`; `every_run(n)`
    after the n-th is asked for. Every run asked, by its owner."""
    asked: dict[str, QuarryClient] = {}
    done: set[str] = set()
    deadline = time.monotonic() + bounds.deadline_s
    turn = itertools.cycle(tenants)
    while not decided():
        assert len(asked) < bounds.max_runs, f"not decided after {len(asked)} runs"
        assert time.monotonic() < deadline, f"not decided within {bounds.deadline_s:.0f}s ({len(asked)} runs)"
        done |= {r for r, owner in asked.items() if r not in done and closed(owner.run(r))}
        for _ in range(bounds.in_flight - (len(asked) - len(done))):
            owner = next(turn)
            asked[ask(owner, question=QUESTION, depth=1, max_sources=3)] = owner
            every_run(len(asked))
        time.sleep(0.5)
    return asked


def until_decided(
    admin: QuarryClient,
    rollout_id: str,
    tenants: list[QuarryClient],
    bounds: Bounds,
    *,
    phase: str = "running",
    every_run: Callable[[int], None] = lambda n: None,
) -> dict[str, QuarryClient]:
    """Runs of the tenants (`drive`) until the rollout leaves `phase`."""
    return drive(tenants, lambda: rollout_of(admin, rollout_id)["status"] != phase, bounds, every_run=every_run)
