"""The eval gate's view of agent versions: the configurations an evaluation applies, and the
metrics it reports under the names the gate judges (`contracts.agents.EVAL_TARGETS`).

`python -m evals --agent planner=planner.json ...` puts every question through the pipeline with
those configurations, exactly as the analyst and the retriever run a task naming them
(`services.analyst.application.tuning`, `services.retriever.domain.ranking`). Injected faults
are left out: they stand for incidents the gate cannot foresee, and a gate that failed them would
only measure the dice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, get_args

from pydantic import ValidationError

from contracts.agents import EVAL_TARGETS, EVAL_ZERO, AgentConfig, Component
from quarry_runtime.worker import TaskError
from services.analyst.application.tuning import BUILT_IN, Tuning, tuning_of
from services.analyst.llm import ChatClient
from services.retriever.domain.errors import Refused
from services.retriever.domain.ranking import Ranking, ranking_of

if TYPE_CHECKING:  # evals.summary reads the pipeline, which reads this module
    from evals.summary import Summary

COMPONENTS: tuple[str, ...] = get_args(Component)


class AgentSpecError(ValueError):
    """A `--agent` the evaluation cannot apply; the message says why."""


@dataclass(frozen=True)
class EvalAgents:
    """What the evaluation runs per component; empty: the built-in settings throughout."""

    configs: Mapping[str, AgentConfig] = field(default_factory=dict)
    tunings: Mapping[str, Tuning] = field(default_factory=dict)
    ranking: Ranking | None = None

    def tuning(self, component: str) -> Tuning:
        return self.tunings.get(component, BUILT_IN)

    def model(self, component: str, llm: ChatClient | None) -> ChatClient | None:
        """The client `component` writes with: none offline, the named model in llm mode."""
        tuning = self.tuning(component)
        if tuning.mode == "offline":
            return None
        if tuning.mode == "llm":
            if llm is None:
                raise AgentSpecError(
                    f"the {component} configuration writes with a model (mode llm): evaluate without "
                    "--offline, with QUARRY_LLM_BASE_URL set"
                )
            return llm.with_model(tuning.model) if tuning.model else llm
        return llm

    def describe(self) -> str:
        return ", ".join(f"{component} {config.mode}" for component, config in self.configs.items()) or "built-in"


def agents_of(configs: Mapping[str, AgentConfig]) -> EvalAgents:
    """The evaluation's settings for `configs` (component -> configuration), faults left out."""
    cleaned = {c: cfg.model_copy(update={"fault": None}) for c, cfg in configs.items()}
    tunings: dict[str, Tuning] = {}
    ranking: Ranking | None = None
    try:
        for component, config in cleaned.items():
            if component == "ranker":
                ranking = ranking_of(config)
            else:
                tunings[component] = tuning_of(component, config)
    except (TaskError, Refused) as exc:
        raise AgentSpecError(str(exc)) from exc
    return EvalAgents(cleaned, tunings, ranking)


def parse_spec(spec: str) -> tuple[str, AgentConfig]:
    """`component=path.json` (a configuration, or a registered version's listing entry with one)."""
    component, sep, path = spec.partition("=")
    if not sep or component not in COMPONENTS:
        raise AgentSpecError(f"--agent takes COMPONENT=FILE.json with COMPONENT one of {', '.join(COMPONENTS)}")
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AgentSpecError(f"cannot read {path}: {exc}") from exc
    return component, config_of(data, path)


def config_of(data: object, where: str) -> AgentConfig:
    """An `AgentConfig` from JSON: the configuration itself or an object holding it as `config`."""
    if isinstance(data, dict) and isinstance(data.get("config"), dict):
        data = data["config"]
    try:
        return AgentConfig.model_validate(data)
    except ValidationError as exc:
        raise AgentSpecError(f"{where} is no agent configuration: {exc}") from exc


def gate_metrics(summary: Summary) -> dict[str, float]:
    """The test split's figures under the names the eval gate judges (`contracts.agents.eval_failures`)."""
    figures = {
        "recall_at_10": summary.recall[10],
        "key_in_report": summary.key_in_report,
        "key_in_summary": summary.key_in_summary,
        "citation_support": summary.citation_support,
        "fabricated_citations": float(summary.fabricated),
    }
    missing = (set(EVAL_TARGETS) | set(EVAL_ZERO)) - set(figures)
    if missing:  # a target added to the contract must be computed here too
        raise KeyError(f"the evaluation computes no {sorted(missing)}")
    return figures
