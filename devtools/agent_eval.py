"""`quarry operator evaluate COMPONENT VERSION`: the eval gate's metrics for a registered agent
version, computed here and stored with the version through the gateway.

The configuration is read from the gateway (`GET /v1/ops/agents/{component}`, an operator's
token), checked against its version (the content hash; a mismatch is refused), evaluated with
`make eval`'s pipeline on the split (injected faults left out: `evals.agents`), and the metrics
posted to `POST /v1/ops/agents/{component}/{version}/evaluations`, whose answer says whether the
version passed the gate (`contracts.agents.eval_failures`, against the stable version's).

A version in llm mode is evaluated with the model endpoint the analyst would use
(QUARRY_LLM_BASE_URL, QUARRY_LLM_MODEL, QUARRY_LLM_API_KEY); any other offline. `--questions N`
looks at the first N questions only: quicker, and never posted (the gate judges the whole split).
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import typer
from rich.console import Console

from contracts.agents import AgentConfig, agent_version
from devtools.client import QuarryClient
from evals.agents import AgentSpecError, config_of
from evals.gate import gate_metrics_for
from services.analyst.bootstrap import AnalystSettings, chat_client

console = Console()


def fetch_config(client: QuarryClient, component: str, version: str) -> AgentConfig:
    """The registered configuration of `version`, checked against its hash."""
    r = client.request("GET", f"/v1/ops/agents/{component}")
    if r.status_code != 200:
        raise typer.BadParameter(f"the gateway answered {r.status_code}: {r.text[:300]}")
    found = [v for v in r.json().get("versions", []) if v.get("version") == version]
    if not found:
        raise typer.BadParameter(f"no {component} version {version} is registered")
    try:
        config = config_of(found[0], f"{component} version {version[:12]}")
    except AgentSpecError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if agent_version(component, config) != version:
        raise typer.BadParameter(f"the configuration the gateway gave does not hash to {version}")
    return config


async def _metrics(component: str, config: AgentConfig, split: str, questions: int) -> dict[str, float]:
    llm = None
    if config.mode == "llm" and os.environ.get("QUARRY_LLM_BASE_URL"):
        llm = chat_client(AnalystSettings(mode="live"))
    try:
        return await gate_metrics_for({component: config}, split=split, questions=questions, llm=llm)
    finally:
        if llm is not None:
            await llm.aclose()


def evaluate(
    component: str,
    version: str,
    gateway: str = typer.Option(os.environ.get("QUARRY_GATEWAY_URL", "http://127.0.0.1:8000"), "--gateway"),
    token: str = typer.Option(os.environ.get("QUARRY_TOKEN", ""), "--token", help="a platform operator's access token"),
    split: str = typer.Option("test", "--split", help="test (the gate's) or dev"),
    questions: int = typer.Option(0, "--questions", min=0, help="only the first N questions; never posted"),
    post: bool = typer.Option(True, "--post/--no-post", help="store the metrics with the version"),
) -> None:
    """Evaluate agent VERSION of COMPONENT offline and store the metrics with it (the eval gate)."""
    if not token:
        raise typer.BadParameter("--token (or QUARRY_TOKEN) is needed: the ops routes need an operator")
    client = QuarryClient(gateway, token)
    try:
        config = fetch_config(client, component, version)
        console.print(f"evaluating {component} {version[:12]} (mode {config.mode}) on the {split} split...")
        try:
            metrics = asyncio.run(_metrics(component, config, split, questions))
        except (AgentSpecError, ValueError) as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from exc
        console.print(json.dumps(metrics, indent=2))
        if not post or questions:
            if questions:
                console.print("a subset of the split: the metrics are not posted")
            return
        judged = post_evaluation(client, component, version, split, metrics)
    finally:
        client.close()
    if judged.get("passed"):
        console.print("[green]the version passed the eval gate[/green]")
        return
    for failure in judged.get("failures", []):
        console.print(f"[red]{failure}[/red]", highlight=False)
    raise typer.Exit(1)


def post_evaluation(
    client: QuarryClient, component: str, version: str, split: str, metrics: dict[str, float]
) -> dict[str, Any]:
    """Store the metrics with the version; the gateway's judgement (`passed`, `failures`, `metrics`)."""
    r = client.request(
        "POST", f"/v1/ops/agents/{component}/{version}/evaluations", json={"split": split, "metrics": metrics}
    )
    if r.status_code >= 300:
        console.print(f"[red]the gateway refused the evaluation ({r.status_code}): {r.text[:500]}[/red]")
        raise typer.Exit(1)
    answer: dict[str, Any] = r.json()
    return answer
