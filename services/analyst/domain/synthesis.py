"""Extractive, cited synthesis: pick relevant, non-redundant sentences and cite where they came from."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from contracts.report import OutlineSection
from contracts.work import (
    Claim,
    Draft,
    Passage,
    Section,
    SourceRef,
    SynthesiseInput,
    SynthesiseOutput,
)
from quarry_runtime.words import count_words
from services.analyst.domain.naming import label_backed, labelled, split_label
from services.analyst.domain.outline import (
    EXECUTIVE_CLAIMS_PER_SECTION,
    EXECUTIVE_SUMMARY,
    OTHER_FINDINGS,
    TECHNICAL_BOOST,
    assign,
    names_code,
    sections_for,
)
from services.analyst.domain.redundancy import MMR_LAMBDA, is_duplicate, mmr, quotes
from services.analyst.domain.selection import (
    LENGTHS,
    TARGET_POOL,
    USUAL_SECTIONS,
    WORDS_PER_SUMMARY_CLAIM,
    Candidate,
    SourceKey,
    candidates_of,
    choose_sources,
    group_passages,
    score_pool,
    summary_weights,
)
from services.analyst.domain.text import (
    cosine,
    normalise,
)


def _title(question: str) -> str:
    text = normalise(question).rstrip(" ?!.")
    if len(text) > 100:
        text = text[:100].rsplit(" ", 1)[0] + "…"
    return text[:1].upper() + text[1:] if text else "Research draft"


class _Numbering:
    """Assigns source numbers in order of first citation and records what each source must contain."""

    def __init__(self, chosen: set[SourceKey], passages: dict[SourceKey, list[Passage]]) -> None:
        self.chosen = chosen
        self.passages = passages
        self.numbers: dict[SourceKey, int] = {}
        self.cited: dict[SourceKey, list[Passage]] = {}
        self.normalised: dict[int, str] = {}

    def cite(self, c: Candidate) -> Claim:
        citations = [self._number(c.key, c.passage)]
        text = labelled(c.label, c.text)
        name, _ = split_label(text)

        def corroborates(p: Passage) -> bool:
            return c.text in self._text(p) and (name is None or label_backed(name, p.text, p.title, p.location))

        # The same sentence verbatim in another kept source (naming the label's API too) corroborates it; cite both.
        for key in sorted(self.chosen - {c.key}):
            holder = next((p for p in self.passages.get(key, []) if corroborates(p)), None)
            if holder is not None:
                citations.append(self._number(key, holder))
        return Claim(text=text, citations=citations)

    def _text(self, p: Passage) -> str:
        return self.normalised.setdefault(id(p), normalise(p.text))

    def _number(self, key: SourceKey, holder: Passage) -> int:
        held = self.cited.setdefault(key, [])
        if all(p is not holder for p in held):
            held.append(holder)
        return self.numbers.setdefault(key, len(self.numbers) + 1)

    def sources(self) -> list[SourceRef]:
        refs = []
        for key, number in sorted(self.numbers.items(), key=lambda kv: kv[1]):
            held = self.cited[key]
            texts = list(dict.fromkeys(p.text.strip() for p in held))
            refs.append(
                SourceRef(
                    number=number,
                    source_id=key[0],
                    title=held[0].title,
                    location=key[1],
                    passage="\n\n".join(texts),
                )
            )
        return refs


def _select(groups: list[list[Candidate]], k: int, lam: float, general: set[int]) -> list[list[Candidate]]:
    """Global MMR: each step makes the best (section, sentence) pick, so a sentence lands where it fits best.

    Relevance is scaled by each section's best, so sections compete fairly; on a tie the section that
    restates the whole question ("general") yields, since the summary already covers it.
    """
    tops = [max((c.relevance for c in g), default=0.0) for g in groups]
    pools = [[c for c in g if c.relevance > 0] for g in groups]
    picks: list[list[Candidate]] = [[] for _ in groups]
    while True:
        best: tuple[tuple[float, bool, float, int], int, Candidate] | None = None
        for g, pool in enumerate(pools):
            if len(picks[g]) >= k:
                continue
            for c in pool:
                redundancy = max((cosine(c.vec, p.vec) for p in picks[g]), default=0.0)
                gain = lam * c.relevance / tops[g] - (1 - lam) * redundancy
                # Ties go to a specific section, then to where the sentence scored highest outright.
                rank = (round(gain, 3), g not in general, c.relevance, -g)
                if best is None or rank > best[0]:
                    best = (rank, g, c)
        if best is None:
            everything = [c for p in picks for c in p]
            return [[c for c in p if not _quoted_elsewhere(c, everything)] for p in picks]
        _, g, chosen = best
        picks[g].append(chosen)
        pools = [[c for c in pool if c is not chosen and not is_duplicate(c, [chosen])] for pool in pools]


def _quoted_elsewhere(c: Candidate, picked: Sequence[Candidate]) -> bool:
    """Whether another pick quotes all of `c` (picked before the longer claim that holds it)."""
    return any(o is not c and quotes(o, c) for o in picked)


def _answering_picks(
    groups: list[list[Candidate]], budget: int, k: int, lam: float, general: set[int]
) -> tuple[set[SourceKey], list[list[Candidate]], int]:
    """Sources and picks whose every sentence answers its sub-question (or the question), and how
    many picked sentences were dropped for not doing so.

    A sentence can be backed by its source and still answer something else: one sharing a word
    with the question is cited with full support. Each dropped pick leaves its slot, and its
    source's share of the budget, to the next candidates, so selection runs again without it.
    """
    dropped: set[int] = set()
    while True:
        live = [[c for c in g if id(c) not in dropped] for g in groups]
        chosen = choose_sources(live, budget)
        picks = _select([[c for c in g if c.key in chosen] for g in live], k, lam, general)
        off = [c for p in picks for c in p if not c.addresses]
        if not off:
            return chosen, picks, len(dropped)
        dropped.update(id(c) for c in off)


def _fit_words(
    picks: list[list[Candidate]], target: int, summarise: Callable[[list[Candidate]], list[Candidate]]
) -> tuple[list[list[Candidate]], list[Candidate]]:
    """The most findings, taken round-robin over sections in order of relevance, whose words with
    the summary they yield stay within `target`; one that would overflow is skipped for shorter
    ones after it. The first finding is always kept, so a report never comes out empty."""
    kept: list[list[Candidate]] = [[] for _ in picks]
    summary: list[Candidate] = []
    rounds = max((len(p) for p in picks), default=0)
    for rank in range(rounds):
        for g, section in enumerate(picks):
            if rank >= len(section):
                continue
            trial = [list(k) for k in kept]
            trial[g].append(section[rank])
            used = [c for k in trial for c in k]
            trial_summary = summarise(used)
            words = sum(count_words(labelled(c.label, c.text)) for c in [*used, *trial_summary])
            if words <= target or not summary:
                kept, summary = trial, trial_summary
    return kept, summary


def synthesise(
    inp: SynthesiseInput,
    *,
    claims_per_section: int | None = None,
    lam: float = MMR_LAMBDA,
) -> SynthesiseOutput:
    """Write an extractive draft whose every claim is a sentence quoted from the source it cites,
    as long as the input asks: a length preset, or about `target_words` words of findings
    (`claims_per_section` overrides the preset's findings per section)."""
    grouped = group_passages(inp)
    groups = [list(candidates_of(i, passages)) for i, (_, passages) in enumerate(grouped)]
    pool = [c for g in groups for c in g]
    if pool:
        score_pool(pool, [heading for heading, _ in grouped], inp.question)
    if inp.tone == "technical":
        for c in pool:
            if c.relevance > 0 and names_code(c.text):
                c.relevance *= TECHNICAL_BOOST
    question_key = normalise(inp.question).lower()
    general = {i for i, (heading, _) in enumerate(grouped) if normalise(heading).lower() == question_key}
    per_section, least, most = LENGTHS[inp.length]
    if inp.target_words is not None:
        per_section, most = TARGET_POOL, max(2, min(6, inp.target_words // WORDS_PER_SUMMARY_CLAIM))
        least = min(least, most)
    if inp.tone == "executive":
        per_section, most = min(per_section, EXECUTIVE_CLAIMS_PER_SECTION), min(most, EXECUTIVE_SUMMARY)
        least = min(least, most)
    elif inp.target_words is None and inp.length != "brief":
        # A plan asks only the sub-questions that add information, so a report of a given length
        # holds about as many findings with one section as with several (brief stays one apiece).
        answered = max(1, sum(1 for g in groups if any(c.relevance > 0 for c in g)))
        per_section = max(per_section, -(-per_section * USUAL_SECTIONS // answered))
    chosen, picks, off_question = _answering_picks(
        groups, inp.max_sources, claims_per_section or per_section, lam, general
    )

    def summarise(used: list[Candidate]) -> list[Candidate]:
        size = min(most, max(least, sum(1 for p in picks if p) + 1))
        # Every used sentence has relevance > 0, so the summary is empty only when the sections are.
        return mmr(used, summary_weights(used), size, lam=lam)

    if inp.target_words is not None:
        picks, summary_picks = _fit_words(picks, inp.target_words, summarise)
    else:
        summary_picks = summarise([c for p in picks for c in p])
    section_picks = [(heading, p) for (heading, _), p in zip(grouped, picks, strict=True) if p]
    keep = sections_for(inp.tone, bool(inp.outline))
    if inp.outline:
        section_picks = _outlined(section_picks, inp.outline, [heading for heading, _ in grouped])
    elif keep is not None and len(section_picks) > keep:
        strongest = sorted(range(len(section_picks)), key=lambda i: -max(c.relevance for c in section_picks[i][1]))
        section_picks = [section_picks[i] for i in sorted(strongest[:keep])]

    by_key: dict[SourceKey, list[Passage]] = {}
    for _, passages in grouped:
        for p in passages:
            by_key.setdefault((p.source_id, p.location), []).append(p)
    numbering = _Numbering(chosen, by_key)
    summary = [numbering.cite(c) for c in summary_picks]
    sections = [Section(heading=h, claims=[numbering.cite(c) for c in p]) for h, p in section_picks]
    draft = Draft(
        title=_title(inp.question),
        question=inp.question,
        summary=summary,
        sections=sections,
        sources=numbering.sources(),
    )
    return SynthesiseOutput(draft=draft, off_question=off_question)


def _outlined(
    section_picks: list[tuple[str, list[Candidate]]], outline: Sequence[OutlineSection], sub_questions: list[str]
) -> list[tuple[str, list[Candidate]]]:
    """The picked findings under the outline's headings (each where it fits best), in outline order; a
    heading no finding fits stays empty, and findings that fit none follow under their own heading."""
    used = [c for _, p in section_picks for c in p]
    if not used:
        return []
    arranged: list[tuple[str, list[Candidate]]] = [(o.heading, []) for o in outline]
    other: list[Candidate] = []
    for c, place in zip(used, assign([(c.text, sub_questions[c.group]) for c in used], outline), strict=True):
        (other if place is None else arranged[place][1]).append(c)
    return [*arranged, *([(OTHER_FINDINGS, other)] if other else [])]


def located_claims(draft: Draft) -> Iterator[tuple[str, Claim]]:
    """Every claim of a draft, summary first, with where it sits for problem reports."""
    for i, claim in enumerate(draft.summary, 1):
        yield f"summary claim {i}", claim
    for section in draft.sections:
        for i, claim in enumerate(section.claims, 1):
            yield f"section {section.heading!r} claim {i}", claim


def check_citations(draft: Draft, *, check_text: bool = True) -> list[str]:
    """Problems with a draft's citations (bad numbers, claims absent from their passage); [] if none.

    `check_text=False` leaves out the verbatim check, for callers that judge support themselves.
    """
    problems: list[str] = []
    passages: dict[int, str] = {}
    headings: dict[int, str] = {}
    for ref in draft.sources:
        if ref.number in passages:
            problems.append(f"source number {ref.number} is used twice")
        passages[ref.number] = normalise(ref.passage)
        headings[ref.number] = f"{ref.title}\n{ref.location}"
    if sorted(passages) != list(range(1, len(passages) + 1)):
        problems.append(f"source numbers {sorted(passages)} are not 1..{len(passages)}")
    for where, claim in located_claims(draft):
        # A label names the API the quote describes; the source must spell it, the quote follows it verbatim.
        name, quote = split_label(claim.text)
        text = normalise(quote)
        if not text:
            problems.append(f"{where}: empty claim")
        for n in claim.citations:
            if n not in passages:
                problems.append(f"{where}: citation [{n}] is out of range (sources 1..{len(passages)})")
            elif check_text and (
                text not in passages[n] or (name is not None and not label_backed(name, passages[n], headings[n]))
            ):
                problems.append(f"{where}: not found in the passage of source [{n}]: {claim.text[:80]!r}")
    return problems
