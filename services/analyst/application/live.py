"""Planning with a language model: the live counterpart of `planning.plan` (live synthesis is in
`live_synthesis`)."""

from __future__ import annotations

import json
import re
from typing import Any

from contracts.work import PlanInput, PlanOutput
from quarry_runtime.worker import TaskError
from services.analyst.application.prompting import untrusted, with_rule
from services.analyst.application.tuning import BUILT_IN, Tuning
from services.analyst.domain.errors import AnalystError
from services.analyst.domain.outline import prompt_guidance
from services.analyst.domain.text import normalise
from services.analyst.llm import ChatClient, Completion, LlmError

# The offline planner's range per depth (the lower bound is what it manages for a plain question):
# every sub-question becomes a search task, so a run costs the same searches in either mode.
BOUNDS: dict[int, tuple[int, int]] = {1: (2, 3), 2: (3, 4), 3: (4, 6)}
_MAX_CHARS = 300  # a "sub-question" longer than this is a paragraph, useless as a search query

_SYSTEM = (
    "You plan research. Break the user's question into focused sub-questions that together answer "
    "it: each one self-contained (no pronouns pointing at other sub-questions), answerable by searching "
    "documents, and different from the others. Reply with only a JSON object of the form "
    '{"sub_questions": ["...", "..."]} and nothing else.'
)
# The user's turn; a configuration's `user` prompt replaces it (services.analyst.application.tuning).
_USER = "Question: {question}\n\n{shape}Write between {low} and {high} sub-questions."
_FENCE = re.compile(r"```[a-zA-Z]*\s*(.*?)```", re.S)
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d{1,2}[.)])\s+")


class Malformed(AnalystError, ValueError):
    """The model's answer is not a usable plan; the message says why, for the corrective turn."""


async def plan_live(client: ChatClient, inp: PlanInput, tuning: Tuning = BUILT_IN) -> tuple[PlanOutput, Completion]:
    """Ask the model for sub-questions; one corrective retry, then `TaskError`.

    Unlike the offline planner, the original question is not put first: the model decomposes it
    within the same count. The returned completion is the last answer with the tokens of every
    call summed, so the usage reported for the task covers the retry too.
    """
    question = normalise(inp.question)
    if not question:
        raise TaskError("nothing to plan: the question is empty")
    low, high = BOUNDS[inp.depth]
    high = min(high, tuning.cap(inp.depth))
    low = min(low, high)
    wanted = f"between {low} and {high}"
    values = {"question": untrusted("question", question), "shape": _shape(inp), "low": low, "high": high}
    messages = [
        {"role": "system", "content": with_rule(tuning.prompt("system", _SYSTEM, values))},
        {"role": "user", "content": tuning.prompt("user", _USER, values)},
    ]
    spent: list[Completion] = []
    for turn in (1, 2):
        try:
            answer = await client.complete(messages, response_format_json=True, temperature=tuning.sampling)
        except LlmError as exc:
            # The client has already retried what retrying can fix right away. An outage (no status,
            # 429, 5xx) may pass: the orchestrator retries the task later, with backoff. A refusal
            # (401, 400, ...) will not, so the run fails visibly now.
            transient = exc.status is None or exc.status == 429 or exc.status >= 500
            raise TaskError(f"planning model call failed: {exc}", retryable=transient) from exc
        spent.append(answer)
        try:
            subs = parse_sub_questions(answer.text, low, high)
        except Malformed as exc:
            if turn == 2:
                raise TaskError(f"the planning model gave no usable plan twice; last problem: {exc}") from exc
            messages += [
                {"role": "assistant", "content": answer.text},
                {
                    "role": "user",
                    "content": f"That answer could not be used: {exc}. Reply again with only a JSON object "
                    f'{{"sub_questions": [...]}} holding {wanted} distinct, non-empty sub-questions.',
                },
            ]
            continue
        total = Completion(
            text=answer.text,
            tokens_in=sum(c.tokens_in for c in spent),
            tokens_out=sum(c.tokens_out for c in spent),
            model=answer.model,
        )
        return PlanOutput(sub_questions=subs), total
    raise AssertionError("unreachable: the second turn returns or raises")


def _shape(inp: PlanInput) -> str:
    """The outline and tone, for sub-questions that cover every section the report will have."""
    guidance = prompt_guidance(inp.outline, inp.tone)
    if not guidance:
        return ""
    cover = "Together the sub-questions should cover every section.\n\n" if inp.outline else "\n"
    return f"{guidance}\n{cover}"


def parse_sub_questions(text: str, low: int, high: int) -> list[str]:
    """Distinct sub-questions from a model's answer, at most `high`; `Malformed` if fewer than `low`."""
    found = _find_plan(text)
    subs: list[str] = []
    seen: set[str] = set()
    for item in found:
        if not isinstance(item, str):
            continue
        sub = _BULLET.sub("", normalise(item)).strip()
        key = sub.lower().rstrip(" ?.!")
        if not key or len(sub) > _MAX_CHARS or key in seen:
            continue
        seen.add(key)
        subs.append(sub)
    if len(subs) < low:
        raise Malformed(f"expected at least {low} distinct non-empty sub-questions, got {len(subs)}")
    return subs[:high]


def _find_plan(text: str) -> list[Any]:
    """The `sub_questions` list of the first JSON object holding one, fenced or inline in prose."""
    fenced = _FENCE.findall(text)
    decoder = json.JSONDecoder()
    for candidate in [*fenced, text]:
        for start in (m.start() for m in re.finditer(r"[{\[]", candidate)):
            try:
                value, _ = decoder.raw_decode(candidate, start)
            except ValueError:
                continue
            if isinstance(value, dict) and isinstance(value.get("sub_questions"), list):
                return list(value["sub_questions"])
            # Some models drop the wrapper and answer with the bare list.
            if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
                return value
    raise Malformed('no JSON object with a "sub_questions" list in the answer')
