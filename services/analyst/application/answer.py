"""Answering a follow-up question from recalled memory, with a `[n]` citation after each sentence.

Offline the answer is extractive: the remembered findings that best match the question, quoted,
each cited to the memory chunk it came from. Live, the model writes the answer from the numbered
passages and may cite only those numbers; an answer citing nothing it was given falls back to the
extractive one. Either way the answer is published in parts (a sentence each) as it is written.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from contracts.envelope import Actor, Event
from contracts.ids import derived_id
from contracts.question import AnswerCitation, AnswerInput, AnswerOutput, QuestionAnswerPart, QuestionAnswerPartPayload
from contracts.task import TaskDispatched
from contracts.work import Passage
from quarry_runtime.worker import TaskError, Usage, WorkResult
from services.analyst.application.prompting import source, untrusted, with_rule
from services.analyst.application.screening import screen_passages, stripped_trips
from services.analyst.application.tuning import BUILT_IN, Tuning
from services.analyst.domain.text import Idf, bm25, cosine, is_boilerplate, normalise, split_sentences, tokenize, vector
from services.analyst.llm import ChatClient, LlmError
from services.analyst.translate import usage_of

Publish = Callable[[Event], Awaitable[object]]

AGENT = "quarry-analyst"

MAX_SENTENCES = 4
NEAR_DUPLICATE = 0.8
# Lines memory adds around the findings (see the retriever's memory documents): not findings themselves.
_FRAME_LINE = re.compile(r"^(?:Question:|Sources:|\[\d+\]\s.+\(.+\)$)")
_MARKERS = re.compile(r"\s*(?:\[\d+\])+")
_CITED = re.compile(r"\[(\d+)\]")
_MEMORY_ID = re.compile(r"^run:(?P<run>.+):\d+$")


@dataclass(frozen=True)
class Sentence:
    text: str
    passage: int  # index into the recalled passages
    terms: tuple[str, ...]


def findings_of(passage: Passage) -> list[str]:
    """The sentences of a memory chunk that state findings, without the run's own citation markers."""
    sentences: list[str] = []
    for paragraph in re.split(r"\n\s*\n", passage.text):
        lines = [line for line in paragraph.splitlines() if line.strip() and not _FRAME_LINE.match(line.strip())]
        for sentence in split_sentences(" ".join(lines)):
            # The markers number the run's draft sources; the answer numbers its own.
            text = _MARKERS.sub("", sentence).strip()
            if text and not is_boilerplate(text):
                sentences.append(text)
    return sentences


def choose(question: str, passages: list[Passage], limit: int = MAX_SENTENCES) -> list[Sentence]:
    """The findings best matching the question, best first, near-duplicates left out.

    When nothing shares a term with the question (a follow-up like "and then?"), the best
    recalled chunk's first findings stand in: the recall already ranked the chunks.
    """
    pool = [
        Sentence(text, i, tuple(tokenize(text))) for i, passage in enumerate(passages) for text in findings_of(passage)
    ]
    if not pool:
        return []
    idf = Idf.fit(s.terms for s in pool)
    avg = sum(len(s.terms) for s in pool) / len(pool)
    query = vector(tokenize(question))
    scored = sorted(
        ((bm25(query, s.terms, idf, avg), -n, s) for n, s in enumerate(pool)), key=lambda x: (x[0], x[1]), reverse=True
    )
    relevant = [s for score, _, s in scored if score > 0] or [s for s in pool if s.passage == 0]
    chosen: list[Sentence] = []
    for s in relevant:
        if any(cosine(vector(s.terms), vector(c.terms)) >= NEAR_DUPLICATE for c in chosen):
            continue
        chosen.append(s)
        if len(chosen) == limit:
            break
    return chosen


class Numbering:
    """Citation numbers in order of first use, one per recalled passage."""

    def __init__(self, passages: list[Passage]) -> None:
        self.passages = passages
        self.numbers: dict[int, int] = {}

    def number(self, passage: int) -> int:
        return self.numbers.setdefault(passage, len(self.numbers) + 1)

    def citations(self) -> list[AnswerCitation]:
        cited: list[AnswerCitation] = []
        for index, number in self.numbers.items():
            p = self.passages[index]
            found = _MEMORY_ID.match(p.source_id)
            cited.append(
                AnswerCitation(
                    number=number,
                    memory_id=p.source_id,
                    run_id=found.group("run") if found else None,
                    title=p.title,
                    location=p.location,
                    passage=p.text,
                )
            )
        return cited


def compose(
    question: str, passages: list[Passage], limit: int = MAX_SENTENCES
) -> tuple[list[str], list[AnswerCitation]]:
    """The extractive answer as its parts (a cited sentence each, in order) and its citations."""
    numbering = Numbering(passages)
    parts: list[str] = []
    for s in choose(question, passages, limit):
        sentence = s.text if s.text.endswith((".", "!", "?")) else f"{s.text}."
        parts.append(("" if not parts else " ") + f"{sentence} [{numbering.number(s.passage)}]")
    return parts, numbering.citations()


# Configurable as `system` (services.analyst.application.tuning), with {max_sentences}.
_SYSTEM = (
    "You answer a follow-up question about earlier research using only the numbered passages given. "
    "Write two to four sentences. End every sentence with the number of the passage that backs it in "
    "square brackets, like [2]. Use no knowledge beyond the passages; if they do not answer the "
    "question, say so in one sentence citing the closest passage."
)


async def compose_live(
    llm: ChatClient, inp: AnswerInput, tuning: Tuning = BUILT_IN
) -> tuple[list[str], list[AnswerCitation], Usage]:
    """The model's answer, cut into sentences; each `[n]` is renumbered to the order of first use."""
    limit = tuning.max_sentences or MAX_SENTENCES
    numbered = "\n\n".join(f"[{i}] {source(p)}" for i, p in enumerate(inp.passages, 1))
    question = untrusted("question", normalise(inp.question))
    messages = [
        {"role": "system", "content": with_rule(tuning.prompt("system", _SYSTEM, {"max_sentences": limit}))},
        {"role": "user", "content": f"Passages:\n\n{numbered}\n\nQuestion: {question}"},
    ]
    try:
        completion = await llm.complete(messages, temperature=tuning.sampling)
    except LlmError as exc:
        raise TaskError(f"the model did not answer: {exc}", retryable=exc.status is None or exc.status >= 429) from exc
    usage = usage_of("answer_question", [completion])
    numbering = Numbering(inp.passages)
    parts: list[str] = []
    for sentence in split_sentences(completion.text):
        given = [int(n) for n in _CITED.findall(sentence) if 1 <= int(n) <= len(inp.passages)]
        if not given:
            continue  # a sentence that cites nothing given is not backed by the memory
        text = _MARKERS.sub("", sentence).strip()
        markers = "".join(f"[{numbering.number(n - 1)}]" for n in dict.fromkeys(given))
        parts.append(("" if not parts else " ") + f"{text} {markers}")
        if len(parts) == tuning.max_sentences:
            break  # the built-in answer takes what the model wrote; a configured one is capped
    return parts, numbering.citations(), usage


async def answer(
    task: TaskDispatched, llm: ChatClient | None, publish: Publish | None, tuning: Tuning = BUILT_IN
) -> WorkResult:
    """Write the answer, publishing each part as it is ready; the whole is the task's output."""
    inp = AnswerInput.model_validate(task.payload.input)
    # Memory was screened when it was written, perhaps by older rules: read it again as it is shown.
    passages, injections = screen_passages(inp.passages)
    inp = inp.model_copy(update={"passages": passages})
    usage = Usage(tool="answer_question")
    parts: list[str] = []
    citations: list[AnswerCitation] = []
    if llm is not None:
        parts, citations, usage = await compose_live(llm, inp, tuning)
    if not parts:
        parts, citations = compose(inp.question, inp.passages, tuning.max_sentences or MAX_SENTENCES)
    if not parts:
        raise TaskError("the recalled memory states no finding to answer from")
    if publish is not None:
        for seq, text in enumerate(parts):
            part = QuestionAnswerPart.caused_by(
                task, QuestionAnswerPartPayload(question_id=inp.question_id, seq=seq, text=text)
            )
            # Fixed by task and place, so a retried attempt's parts replace nothing and duplicate nothing.
            event_id = derived_id(task.payload.task_id, f"part:{seq}")
            await publish(part.model_copy(update={"event_id": event_id, "actor": _as_analyst(task.actor)}))
    output = AnswerOutput(answer="".join(parts), citations=citations, parts=len(parts))
    return WorkResult(output=output.model_dump(), usage=[usage], trips=stripped_trips(injections, inp.question_id))


def _as_analyst(actor: Actor) -> Actor:
    return Actor(user_id=actor.user_id, agent=AGENT, roles=actor.roles)
