"""What an agent configuration changes in the analyst's planner, synthesiser and answerer.

A task naming a version runs that configuration (`quarry_runtime.agent_configs.config_for`);
without one the analyst runs its built-in settings (`BUILT_IN`), exactly as before versions.

- `mode`: "offline" (the rules plan, the extractor writes: no model asked) or "llm" (a model
  plans and writes; `model` names the model asked at the service's own endpoint). A tenant that
  has set its own endpoint (PUT /v1/tenant/model) keeps it and its own model in either mode, as
  before versions: the tenant chose and pays for that model, and a platform rollout must neither
  send its data elsewhere nor switch its model off (the run's usage records which model wrote).
  The version's prompts and parameters still apply to it. llm mode on an analyst with no model
  endpoint fails the task (non-retryable): the run recorded a version that writes with a model.
- `prompts`: the live templates by name (`PROMPTS` lists each component's names and the
  `{placeholders}` each may use; see `templates`). The rule on untrusted text is always appended
  to a system prompt, overridden or not. Names a component does not use are ignored.
- `parameters` (`KNOBS`): unknown ones are ignored; a known one out of range fails the task.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from contracts.agents import AgentConfig
from contracts.run import MAX_SUB_QUESTIONS
from quarry_runtime.agent_knobs import BadParameter, number, whole
from quarry_runtime.worker import TaskError
from services.analyst.application.templates import TemplateError, check, render
from services.analyst.llm import DEFAULT_TEMPERATURE

Mode = Literal["offline", "llm"]
MODES: tuple[Mode, ...] = ("offline", "llm")

PROMPTS: dict[str, dict[str, frozenset[str]]] = {
    "planner": {
        "system": frozenset({"low", "high"}),
        "user": frozenset({"question", "shape", "low", "high"}),
    },
    "synthesiser": {
        "notes_system": frozenset({"low", "high"}),
        "summary_system": frozenset({"low", "high"}),
    },
    "answerer": {"system": frozenset({"max_sentences"})},
}

KNOBS: dict[str, str] = {
    "temperature": "llm mode: the sampling temperature, 0 to 2 (default 0.2)",
    "max_sub_questions": "planner: the most sub-questions a plan holds, 1 to 6 (never above the depth's most)",
    "claims_per_section": "synthesiser, offline: findings quoted per section, 1 to 20 (default by length)",
    "mmr_lambda": "synthesiser, offline: relevance against novelty when picking findings, 0 to 1",
    "passages_per_note": "synthesiser, llm: passages shown per sub-question, 1 to 20 (default 6)",
    "max_sentences": "answerer: sentences in an answer, 1 to 10 (default 4)",
}


@dataclass(frozen=True)
class Tuning:
    """One component's settings for one task; None everywhere: the built-in ones."""

    mode: Mode | None = None
    model: str | None = None
    prompts: Mapping[str, str] = field(default_factory=dict)
    temperature: float | None = None
    max_sub_questions: int | None = None
    claims_per_section: int | None = None
    mmr_lambda: float | None = None
    passages_per_note: int | None = None
    max_sentences: int | None = None

    def prompt(self, name: str, default: str, values: Mapping[str, object]) -> str:
        """Prompt `name` as configured (else `default`), its placeholders filled from `values`."""
        return render(self.prompts.get(name, default), values)

    @property
    def sampling(self) -> float:
        """The temperature a model is asked with."""
        return DEFAULT_TEMPERATURE if self.temperature is None else self.temperature

    def cap(self, depth: int) -> int:
        """The most sub-questions a plan of `depth` may hold under this tuning."""
        most = MAX_SUB_QUESTIONS[depth]
        return most if self.max_sub_questions is None else min(most, self.max_sub_questions)


BUILT_IN = Tuning()


def tuning_of(component: str, config: AgentConfig) -> Tuning:
    """`config` as the analyst's `component` runs it; `TaskError` (non-retryable) if it cannot."""
    if config.mode not in MODES:
        raise TaskError(f"the {component} has no mode {config.mode!r}; it runs {' or '.join(MODES)}", retryable=False)
    offered = PROMPTS.get(component, {})
    prompts = {name: text for name, text in config.prompts.items() if name in offered}
    try:
        for name, text in prompts.items():
            check(name, text, offered[name])
    except TemplateError as exc:
        raise TaskError(f"the {component}'s configuration: {exc}", retryable=False) from exc
    try:
        return Tuning(
            mode="llm" if config.mode == "llm" else "offline",
            model=config.model,
            prompts=prompts,
            temperature=number(config, "temperature", None, 0.0, 2.0),
            max_sub_questions=whole(config, "max_sub_questions", None, 1, max(MAX_SUB_QUESTIONS.values())),
            claims_per_section=whole(config, "claims_per_section", None, 1, 20),
            mmr_lambda=number(config, "mmr_lambda", None, 0.0, 1.0),
            passages_per_note=whole(config, "passages_per_note", None, 1, 20),
            max_sentences=whole(config, "max_sentences", None, 1, 10),
        )
    except BadParameter as exc:
        raise TaskError(f"the {component}'s configuration: {exc}", retryable=False) from exc
