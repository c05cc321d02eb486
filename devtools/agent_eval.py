"""`quarry operator evaluate COMPONENT VERSION`: the eval gate's metrics for a registered agent
version, computed here and stored with the version through the gateway.

The configuration is read from the gateway (`GET /v1/ops/agents/{component}`, an operator's
token), checked against its version (the content hash; a mismatch is refused), evaluated with
`make eval`'s pipeline on the split (injected faults left out: `evals.agents`), and the metrics
posted to `POST /v1/ops/agents/{component}/{version}/evaluations` (a platform admin's token),
whose answer says whether the version passed the gate (`contracts.agents.eval_failures`, against
the stable version's metrics).

A version in llm mode is evaluated with the model endpoint the analyst would use
(QUARRY_LLM_BASE_URL, QUARRY_LLM_MODEL, QUARRY_LLM_API_KEY); any other offline. `--questions N`
looks at the first N questions only: quicker, and never posted (the gate judges the whole split).
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass, field
from typing import Any

import httpx
import typer
from rich.console import Console

from contracts.agents import AgentConfig, agent_version
from evals.agents import AgentSpecError, config_of
from evals.gate import gate_metrics_for
from services.analyst.bootstrap import AnalystSettings, chat_client

console = Console()


class EvaluationFailed(Exception):
    """The version could not be evaluated or its metrics not stored; the message says why."""


@dataclass
class Evaluated:
    metrics: dict[str, float]
    judged: dict[str, Any] | None = None  # the gateway's answer: passed, failures, metrics
    notes: list[str] = field(default_factory=list)


async def fetch_config(http: httpx.AsyncClient, component: str, version: str) -> AgentConfig:
    """The registered configuration of `version`, checked against its hash."""
    r = await http.get(f"/v1/ops/agents/{component}")
    if r.status_code != 200:
        raise EvaluationFailed(f"the gateway answered {r.status_code}: {r.text[:300]}")
    found = [v for v in r.json().get("versions", []) if v.get("version") == version]
    if not found:
        raise EvaluationFailed(f"no {component} version {version} is registered")
    try:
        config = config_of(found[0], f"{component} version {version[:12]}")
    except AgentSpecError as exc:
        raise EvaluationFailed(str(exc)) from exc
    if agent_version(component, config) != version:
        raise EvaluationFailed(f"the configuration the gateway gave does not hash to {version}")
    return config


async def evaluate_version(
    http: httpx.AsyncClient, component: str, version: str, *, split: str = "test", questions: int = 0, post: bool = True
) -> Evaluated:
    """Fetch, evaluate and (the whole split, `post`) store the metrics of one version."""
    config = await fetch_config(http, component, version)
    llm = None
    if config.mode == "llm" and os.environ.get("QUARRY_LLM_BASE_URL"):
        llm = chat_client(AnalystSettings(mode="live"))
    try:
        metrics = await gate_metrics_for({component: config}, split=split, questions=questions, llm=llm)
    except (AgentSpecError, ValueError) as exc:
        raise EvaluationFailed(str(exc)) from exc
    finally:
        if llm is not None:
            await llm.aclose()
    done = Evaluated(metrics)
    if questions:
        done.notes.append("a subset of the split: the metrics are not posted")
    if not post or questions:
        return done
    r = await http.post(f"/v1/ops/agents/{component}/{version}/evaluations", json={"split": split, "metrics": metrics})
    if r.status_code >= 300:
        raise EvaluationFailed(f"the gateway refused the evaluation ({r.status_code}): {r.text[:500]}")
    done.judged = r.json()
    return done


async def _run(gateway: str, token: str, component: str, version: str, **options: Any) -> Evaluated:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=gateway, headers=headers, timeout=30.0) as http:
        return await evaluate_version(http, component, version, **options)


def evaluate(
    component: str,
    version: str,
    gateway: str = typer.Option(os.environ.get("QUARRY_GATEWAY_URL", "http://127.0.0.1:8000"), "--gateway"),
    token: str = typer.Option(
        os.environ.get("QUARRY_TOKEN", ""), "--token", help="a platform admin's access token (QUARRY_TOKEN)"
    ),
    split: str = typer.Option("test", "--split", help="test (the gate's) or dev"),
    questions: int = typer.Option(0, "--questions", min=0, help="only the first N questions; never posted"),
    post: bool = typer.Option(True, "--post/--no-post", help="store the metrics with the version"),
) -> None:
    """Evaluate agent VERSION of COMPONENT offline and store the metrics with it (the eval gate)."""
    if not token:
        raise typer.BadParameter("--token (or QUARRY_TOKEN) is needed: the ops routes need an operator")
    console.print(f"evaluating {component} {version[:12]} on the {split} split...")
    try:
        done = asyncio.run(_run(gateway, token, component, version, split=split, questions=questions, post=post))
    except EvaluationFailed as exc:
        console.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(2) from exc
    console.print(json.dumps(done.metrics, indent=2))
    for note in done.notes:
        console.print(note)
    if done.judged is None:
        return
    if done.judged.get("passed"):
        console.print("[green]the version passed the eval gate[/green]")
        return
    for failure in done.judged.get("failures", []):
        console.print(f"[red]{failure}[/red]", highlight=False)
    raise typer.Exit(1)
