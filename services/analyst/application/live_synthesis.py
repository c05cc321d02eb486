"""Synthesis with a language model: notes per sub-question, then a summary, every sentence cited.

The model sees numbered passages and may cite only those numbers. Each sub-question gets its own
call (run concurrently), whose cited sentences become that section's claims; a last call writes
the summary from those notes. A sentence citing nothing it was given is dropped here, and the
caller's citation check (`verify.drop_unsupported`) then cuts what its passages do not back, so
a model's invention never reaches the report. An answer with no usable sentence gets one
corrective turn; a draft left with no claim at all fails the task with the reason.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass

from contracts.work import Claim, Draft, Passage, Section, SourceRef, SynthesiseInput, SynthesiseOutput
from quarry_runtime.worker import TaskError
from services.analyst.application.prompting import source, untrusted, with_rule
from services.analyst.application.tuning import BUILT_IN, Tuning
from services.analyst.domain.outline import prompt_guidance
from services.analyst.domain.text import normalise, split_sentences
from services.analyst.llm import ChatClient, Completion, LlmError

# Passages shown per sub-question, and sentences asked for per note, by length preset.
PASSAGES_PER_NOTE = 6
SENTENCES: dict[str, tuple[int, int]] = {"brief": (1, 2), "standard": (2, 4), "detailed": (4, 7)}
SUMMARY_SENTENCES: dict[str, tuple[int, int]] = {"brief": (1, 2), "standard": (2, 4), "detailed": (3, 6)}
_MAX_PASSAGE_CHARS = 1200

_CITED = re.compile(r"\[(\d{1,3})\]")
# "It holds. [2]" as well as "It holds [2].": markers after the full stop belong to its sentence.
_TRAILING = re.compile(r"([.!?])((?:\s*\[\d{1,3}\])+)")
_MARKERS = re.compile(r"\s*(?:\[\d{1,3}\]\s*)+")

# Configurable by name (`notes_system`, `summary_system`: services.analyst.application.tuning).
_NOTES_SYSTEM = (
    "You write research notes. Answer the sub-question using only the numbered passages. Write "
    "{low} to {high} sentences; keep each close to the wording of the passage it comes from and end "
    "it with the number of that passage in square brackets, like [2]. Do not cite a number you were "
    "not given, and write nothing the passages do not say."
)
_SUMMARY_SYSTEM = (
    "You summarise research notes. Write {low} to {high} sentences that answer the question, each "
    "taken from the notes and ending with the bracketed numbers the note cites, like [1]. Use no "
    "number the notes do not cite."
)


@dataclass(frozen=True)
class Numbered:
    """The passages the model may cite, by the number it sees."""

    passages: dict[int, Passage]

    def listing(self, numbers: Sequence[int]) -> str:
        return "\n\n".join(f"[{n}] {source(self.passages[n], _MAX_PASSAGE_CHARS)}" for n in numbers)


async def synthesise_live(
    client: ChatClient, inp: SynthesiseInput, tuning: Tuning = BUILT_IN
) -> tuple[SynthesiseOutput, list[Completion]]:
    """A cited draft written by the model; the completions of every call, for the usage record."""
    numbered, per_section = _number(inp, tuning.passages_per_note or PASSAGES_PER_NOTE)
    if not numbered.passages:
        raise TaskError("nothing to synthesise: the searches found no passages", retryable=False)
    low, high = SENTENCES.get(inp.length, SENTENCES["standard"])
    if inp.target_words is not None:
        notes_count = max(1, len(per_section))
        high = max(1, min(8, inp.target_words // (25 * notes_count)))
        low = min(low, high)
    # The template's outline and tone, as the planner is told them too.
    guidance = prompt_guidance(inp.outline, inp.tone)
    spent: list[Completion] = []

    async def note(heading: str, numbers: list[int]) -> tuple[str, list[Claim]]:
        system = _with(with_rule(tuning.prompt("notes_system", _NOTES_SYSTEM, {"low": low, "high": high})), guidance)
        user = (
            f"Question: {untrusted('question', inp.question)}\nSub-question: {untrusted('sub_question', heading)}"
            f"\n\nPassages:\n\n{numbered.listing(numbers)}"
        )
        claims = await _ask(client, system, user, set(numbers), spent, tuning.sampling)
        return heading, claims

    notes = await asyncio.gather(*(note(heading, numbers) for heading, numbers in per_section if numbers))
    sections = [(heading, claims) for heading, claims in notes if claims]
    if not sections:
        raise TaskError("the model wrote no sentence citing the passages it was given", retryable=False)
    summary_low, summary_high = SUMMARY_SENTENCES.get(inp.length, SUMMARY_SENTENCES["standard"])
    summary_bounds = {"low": summary_low, "high": summary_high}
    written = "\n".join(_cited(c) for _, cs in sections for c in cs)
    summary = await _ask(
        client,
        _with(with_rule(tuning.prompt("summary_system", _SUMMARY_SYSTEM, summary_bounds)), guidance),
        f"Question: {untrusted('question', inp.question)}\nSummary of the notes:\n\n{untrusted('notes', written)}",
        {n for _, cs in sections for c in cs for n in c.citations},
        spent,
        tuning.sampling,
    )
    return SynthesiseOutput(draft=_draft(inp.question, summary, sections, numbered)), spent


def _with(system: str, guidance: str) -> str:
    return f"{system}\n\n{guidance}" if guidance else system


def _cited(claim: Claim) -> str:
    markers = "".join(f"[{n}]" for n in claim.citations)
    return f"{claim.text.rstrip('.!?')} {markers}."


def _number(inp: SynthesiseInput, per_note: int) -> tuple[Numbered, list[tuple[str, list[int]]]]:
    """Number the best passages of each search (one number per source location, shared across
    searches), keeping to the run's source budget."""
    numbers: dict[tuple[str, str], int] = {}
    passages: dict[int, Passage] = {}
    sources: set[str] = set()
    per_section: list[tuple[str, list[int]]] = []
    for found in inp.findings:
        chosen: list[int] = []
        for p in sorted(found.passages, key=lambda p: -p.score)[:per_note]:
            key = (p.source_id, p.location)
            if key not in numbers:
                if p.source_id not in sources and len(sources) >= inp.max_sources:
                    continue
                sources.add(p.source_id)
                numbers[key] = len(numbers) + 1
                passages[numbers[key]] = p
            if numbers[key] not in chosen:
                chosen.append(numbers[key])
        per_section.append((found.sub_question, chosen))
    return Numbered(passages), per_section


async def _ask(
    client: ChatClient, system: str, user: str, allowed: set[int], spent: list[Completion], temperature: float
) -> list[Claim]:
    """Cited sentences from the model; one corrective turn when it gives none."""
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    for turn in (1, 2):
        try:
            answer = await client.complete(messages, temperature=temperature)
        except LlmError as exc:
            transient = exc.status is None or exc.status == 429 or exc.status >= 500
            raise TaskError(f"synthesis model call failed: {exc}", retryable=transient) from exc
        spent.append(answer)
        claims = cited_sentences(answer.text, allowed)
        if claims or turn == 2:
            return claims
        messages += [
            {"role": "assistant", "content": answer.text},
            {
                "role": "user",
                "content": "No sentence of that answer cited a passage it was given. Write the sentences "
                f"again, each ending with one of these numbers in brackets: {sorted(allowed)}.",
            },
        ]
    raise AssertionError("unreachable: the second turn returns")


def cited_sentences(text: str, allowed: set[int]) -> list[Claim]:
    """Each sentence of `text` with the allowed numbers it cites; sentences citing none are dropped."""
    claims: list[Claim] = []
    seen: set[str] = set()
    for sentence in split_sentences(_TRAILING.sub(r"\2\1", normalise(text))):
        citations = [n for n in dict.fromkeys(int(m) for m in _CITED.findall(sentence)) if n in allowed]
        bare = _MARKERS.sub(" ", sentence).strip()
        bare = re.sub(r"\s+([.,;:!?])", r"\1", bare)
        if citations and len(bare.split()) >= 3 and bare.lower() not in seen:
            seen.add(bare.lower())
            claims.append(Claim(text=bare, citations=citations))
    return claims


def _draft(question: str, summary: list[Claim], sections: list[tuple[str, list[Claim]]], numbered: Numbered) -> Draft:
    """Renumber the cited passages 1..n in order of first citation; the rest are not sources."""
    order: dict[int, int] = {}
    for claim in [*summary, *(c for _, cs in sections for c in cs)]:
        for n in claim.citations:
            order.setdefault(n, len(order) + 1)

    def renumber(claims: list[Claim]) -> list[Claim]:
        return [Claim(text=c.text, citations=[order[n] for n in c.citations]) for c in claims]

    sources = [
        SourceRef(
            number=new,
            source_id=numbered.passages[old].source_id,
            title=numbered.passages[old].title,
            location=numbered.passages[old].location,
            passage=numbered.passages[old].text,
        )
        for old, new in sorted(order.items(), key=lambda kv: kv[1])
    ]
    title = normalise(question).rstrip("?") or "Research report"
    return Draft(
        title=title,
        question=question,
        summary=renumber(summary),
        sections=[Section(heading=heading, claims=renumber(claims)) for heading, claims in sections],
        sources=sources,
    )
