"""Extractive, cited synthesis: pick relevant, non-redundant sentences and cite where they came from."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from contracts.report import OutlineSection, ReportLength
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
from services.analyst.outline import (
    EXECUTIVE_CLAIMS_PER_SECTION,
    EXECUTIVE_SUMMARY,
    OTHER_FINDINGS,
    TECHNICAL_BOOST,
    assign,
    names_code,
    sections_for,
)
from services.analyst.text import (
    Idf,
    bm25,
    cosine,
    features,
    is_claim_sentence,
    normalise,
    split_sentences,
    stem,
    tokenize,
    vector,
)

SourceKey = tuple[str, str]

MMR_LAMBDA = 0.7
CLAIMS_PER_SECTION = 3
# Per report length: findings per section, and the least and most the summary restates.
LENGTHS: dict[ReportLength, tuple[int, int, int]] = {
    "brief": (1, 1, 2),
    "standard": (CLAIMS_PER_SECTION, 2, 4),
    "detailed": (6, 3, 6),
}
# Writing to a word target, each section may draw on up to this many findings.
TARGET_POOL = 10
_WORDS_PER_SUMMARY_CLAIM = 120  # a target this many words larger allows one more summary claim
# Below this a sentence shares too little with the question to be worth citing.
MIN_RELEVANCE = 0.3
# Also below this share of the best sentence for the same sub-question: leftovers are off topic.
RELATIVE_FLOOR = 0.4
_INFORMATIVE_TERMS = 10
# At or above this two sentences say the same thing; only one may appear in a draft.
NEAR_DUPLICATE = 0.8
_SUB_WEIGHT = 0.7  # the rest goes to the main question, keeping sections on the overall topic
_FRAME_WEIGHT = 0.3
_SCOPE_WEIGHT = 0.5
_SCOPE = re.compile(r"\s(?:in|for|on|within|under|across|during|inside)\s", re.I)
_FRAME_TEXT = """
work works example examples use used pitfalls limitations practices best common key main differences
similarities strengths weaknesses reasons evidence explanations alternatives steps tools facts sources
counterarguments arguments needed
"""
_FRAME_TERMS = frozenset(stem(w) for w in _FRAME_TEXT.split())
_ASKS_DEFINITION = re.compile(r"^\s*(?:what|who)\s*(?:'s|\s+is|\s+are|\s+was|\s+were)\b", re.I)
# "X is a ...", "X refers to ...": the verb a definition turns on, within the first few words.
_DEFINING_VERB = re.compile(r"^(?P<head>(?:\S+\s+){1,6}?)(?:is|are|refers? to|means|denotes)\s", re.I)
# Pointers elsewhere and changelog notes are true but tell the reader little.
_META = re.compile(
    r"^(?:see\b|for more (?:information|details)|refer to|(?:changed|new) in version|deprecated since)",
    re.I,
)


@dataclass(eq=False)
class _Candidate:
    text: str
    key: SourceKey
    passage: Passage
    group: int
    position: int
    rank_bonus: float
    vec: dict[str, float] = field(default_factory=dict)
    shape: dict[str, float] = field(default_factory=dict)
    relevance: float = 0.0
    main_match: float = 0.0


def _grouped(inp: SynthesiseInput) -> list[tuple[str, list[Passage]]]:
    """Passages per sub-question, in plan order; findings for unplanned sub-questions come last."""
    headings: dict[str, str] = {}
    for question in [*inp.sub_questions, *(f.sub_question for f in inp.findings)]:
        headings.setdefault(normalise(question).lower(), question.strip())
    passages: dict[str, list[Passage]] = {k: [] for k in headings}
    seen: set[tuple[str, str, str, str]] = set()
    for finding in inp.findings:
        norm_q = normalise(finding.sub_question).lower()
        for p in finding.passages:
            ident = (norm_q, p.source_id, p.location, normalise(p.text))
            if ident not in seen:
                seen.add(ident)
                passages[norm_q].append(p)
    return [(headings[k], passages[k]) for k in headings]


def _candidates(group: int, passages: Sequence[Passage]) -> Iterator[_Candidate]:
    ranked = sorted(range(len(passages)), key=lambda i: -passages[i].score)
    for rank, index in enumerate(ranked):
        passage = passages[index]
        haystack = normalise(passage.text)
        for position, sentence in enumerate(split_sentences(passage.text)):
            # The splitter guarantees containment; checking keeps the citation invariant local.
            if is_claim_sentence(sentence) and sentence in haystack:
                yield _Candidate(
                    text=sentence,
                    key=(passage.source_id, passage.location),
                    passage=passage,
                    group=group,
                    position=position,
                    rank_bonus=0.04 * (1.0 - rank / len(passages)),
                )


def _query(question: str) -> dict[str, float]:
    """Query term weights; template words ("work") and a trailing scope ("in Python") count less."""
    text = normalise(question).rstrip(" ?.!")
    scope = [m for m in _SCOPE.finditer(text) if len(text[m.end() :].split()) <= 4]
    weights = dict.fromkeys(tokenize(text), 1.0)
    if scope:
        for term in tokenize(text[scope[-1].start() :]):
            weights[term] = _SCOPE_WEIGHT
    for term in weights:
        if term in _FRAME_TERMS:
            weights[term] = _FRAME_WEIGHT
    query = dict(weights)
    for a, b in itertools.pairwise(tokenize(text)):
        query[f"{a} {b}"] = min(weights[a], weights[b])
    return query


def _core_terms(question: str) -> set[str]:
    """The terms naming what a "what is" question asks about."""
    return {t for t, w in _query(question).items() if w == 1.0 and " " not in t}


def _defines(sentence: str, subject: set[str]) -> bool:
    """True when the sentence opens with the subject and a defining verb: "A context manager is ..."."""
    head = _DEFINING_VERB.match(sentence)
    if not subject or head is None:
        return False
    terms = tokenize(head.group("head"))
    return bool(terms) and sum(t in subject for t in terms) * 2 >= len(terms)


def _score(pool: list[_Candidate], questions: Sequence[str], main: str) -> None:
    terms = {id(c): features(tokenize(c.text)) for c in pool}
    idf = Idf.fit(terms.values())
    avg_len = sum(len(t) for t in terms.values()) / len(pool)
    main_query = _query(main)
    sub_queries = [_query(q) for q in questions]
    defining = [_core_terms(q) if _ASKS_DEFINITION.match(q) else set() for q in questions]
    for c in pool:
        c.vec = vector(terms[id(c)], idf)
        c.shape = vector(tokenize(c.text))
        # BM25 flatters short sentences; a claim with few content words rarely informs.
        informative = min(1.0, len(c.shape) / _INFORMATIVE_TERMS) ** 0.5
        c.main_match = bm25(main_query, terms[id(c)], idf, avg_len) * informative
        sub_match = bm25(sub_queries[c.group], terms[id(c)], idf, avg_len) * informative
        match = _SUB_WEIGHT * sub_match + (1 - _SUB_WEIGHT) * c.main_match
        if _defines(c.text, defining[c.group]):
            match *= 1.3
        if _META.search(c.text):
            match *= 0.5
        # Position and retrieval rank only break near-ties; an irrelevant sentence stays out.
        c.relevance = match + 0.03 / (1 + c.position) + c.rank_bonus if match >= MIN_RELEVANCE else 0.0
    for g in range(len(questions)):
        group = [c for c in pool if c.group == g]
        top = max((c.relevance for c in group), default=0.0)
        for c in group:
            if c.relevance < RELATIVE_FLOOR * top:
                c.relevance = 0.0


def _choose_sources(groups: list[list[_Candidate]], budget: int) -> set[SourceKey]:
    """Round-robin over sub-questions so the source budget covers as many sections as possible."""
    ranked: list[list[SourceKey]] = []
    for group in groups:
        best: dict[SourceKey, float] = {}
        for c in group:
            if c.relevance > 0:
                best[c.key] = max(best.get(c.key, 0.0), c.relevance)
        ranked.append(sorted(best, key=lambda k: -best[k]))
    chosen: list[SourceKey] = []
    for depth in range(max((len(r) for r in ranked), default=0)):
        for keys in ranked:
            if len(chosen) < budget and depth < len(keys) and keys[depth] not in chosen:
                chosen.append(keys[depth])
    return set(chosen)


def _duplicate(c: _Candidate, others: Iterable[_Candidate]) -> bool:
    low = c.text.lower()
    return any(o.text.lower() == low or cosine(c.shape, o.shape) >= NEAR_DUPLICATE for o in others)


def _mmr(
    candidates: Sequence[_Candidate],
    relevance: Sequence[float],
    k: int,
    *,
    lam: float = MMR_LAMBDA,
) -> list[_Candidate]:
    """Maximal marginal relevance: up to k relevant candidates, each unlike those already picked."""
    picked: list[_Candidate] = []
    pool = [(c, r) for c, r in zip(candidates, relevance, strict=True) if r > 0]
    while pool and len(picked) < k:

        def gain(item: tuple[_Candidate, float]) -> float:
            redundancy = max((cosine(item[0].vec, p.vec) for p in picked), default=0.0)
            return lam * item[1] - (1 - lam) * redundancy

        best = max(pool, key=gain)
        picked.append(best[0])
        pool = [(c, r) for c, r in pool if c is not best[0] and not _duplicate(c, [best[0]])]
    return picked


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

    def cite(self, c: _Candidate) -> Claim:
        citations = [self._number(c.key, c.passage)]
        # The same sentence verbatim in another kept source corroborates it; cite both.
        for key in sorted(self.chosen - {c.key}):
            holder = next((p for p in self.passages.get(key, []) if c.text in self._text(p)), None)
            if holder is not None:
                citations.append(self._number(key, holder))
        return Claim(text=c.text, citations=citations)

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


def _select(groups: list[list[_Candidate]], k: int, lam: float, general: set[int]) -> list[list[_Candidate]]:
    """Global MMR: each step makes the best (section, sentence) pick, so a sentence lands where it fits best.

    Relevance is scaled by each section's best, so sections compete fairly; on a tie the section that
    restates the whole question ("general") yields, since the summary already covers it.
    """
    tops = [max((c.relevance for c in g), default=0.0) for g in groups]
    pools = [[c for c in g if c.relevance > 0] for g in groups]
    picks: list[list[_Candidate]] = [[] for _ in groups]
    while True:
        best: tuple[tuple[float, bool, float, int], int, _Candidate] | None = None
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
            return picks
        _, g, chosen = best
        picks[g].append(chosen)
        pools = [[c for c in pool if c is not chosen and not _duplicate(c, [chosen])] for pool in pools]


def _fit_words(
    picks: list[list[_Candidate]], target: int, summarise: Callable[[list[_Candidate]], list[_Candidate]]
) -> tuple[list[list[_Candidate]], list[_Candidate]]:
    """The most findings, taken round-robin over sections in order of relevance, whose words with
    the summary they yield stay within `target`; one that would overflow is skipped for shorter
    ones after it. The first finding is always kept, so a report never comes out empty."""
    kept: list[list[_Candidate]] = [[] for _ in picks]
    summary: list[_Candidate] = []
    rounds = max((len(p) for p in picks), default=0)
    for rank in range(rounds):
        for g, section in enumerate(picks):
            if rank >= len(section):
                continue
            trial = [list(k) for k in kept]
            trial[g].append(section[rank])
            used = [c for k in trial for c in k]
            trial_summary = summarise(used)
            words = sum(count_words(c.text) for c in [*used, *trial_summary])
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
    grouped = _grouped(inp)
    groups = [list(_candidates(i, passages)) for i, (_, passages) in enumerate(grouped)]
    pool = [c for g in groups for c in g]
    if pool:
        _score(pool, [heading for heading, _ in grouped], inp.question)
    if inp.tone == "technical":
        for c in pool:
            if c.relevance > 0 and names_code(c.text):
                c.relevance *= TECHNICAL_BOOST
    chosen = _choose_sources(groups, inp.max_sources)
    eligible = [[c for c in g if c.key in chosen] for g in groups]
    question_key = normalise(inp.question).lower()
    general = {i for i, (heading, _) in enumerate(grouped) if normalise(heading).lower() == question_key}
    per_section, least, most = LENGTHS[inp.length]
    if inp.target_words is not None:
        per_section, most = TARGET_POOL, max(2, min(6, inp.target_words // _WORDS_PER_SUMMARY_CLAIM))
        least = min(least, most)
    if inp.tone == "executive":
        per_section, most = min(per_section, EXECUTIVE_CLAIMS_PER_SECTION), min(most, EXECUTIVE_SUMMARY)
        least = min(least, most)
    picks = _select(eligible, claims_per_section or per_section, lam, general)

    def summarise(used: list[_Candidate]) -> list[_Candidate]:
        size = min(most, max(least, sum(1 for p in picks if p) + 1))
        # Every used sentence has relevance > 0, so the summary is empty only when the sections are.
        return _mmr(used, [c.main_match + 0.1 * c.relevance for c in used], size, lam=lam)

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
    return SynthesiseOutput(draft=draft)


def _outlined(
    section_picks: list[tuple[str, list[_Candidate]]], outline: Sequence[OutlineSection], sub_questions: list[str]
) -> list[tuple[str, list[_Candidate]]]:
    """The picked findings under the outline's headings (each where it fits best), in outline order; a
    heading no finding fits stays empty, and findings that fit none follow under their own heading."""
    used = [c for _, p in section_picks for c in p]
    if not used:
        return []
    arranged: list[tuple[str, list[_Candidate]]] = [(o.heading, []) for o in outline]
    other: list[_Candidate] = []
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
    for ref in draft.sources:
        if ref.number in passages:
            problems.append(f"source number {ref.number} is used twice")
        passages[ref.number] = normalise(ref.passage)
    if sorted(passages) != list(range(1, len(passages) + 1)):
        problems.append(f"source numbers {sorted(passages)} are not 1..{len(passages)}")
    for where, claim in located_claims(draft):
        text = normalise(claim.text)
        if not text:
            problems.append(f"{where}: empty claim")
        for n in claim.citations:
            if n not in passages:
                problems.append(f"{where}: citation [{n}] is out of range (sources 1..{len(passages)})")
            elif check_text and text not in passages[n]:
                problems.append(f"{where}: not found in the passage of source [{n}]: {claim.text[:80]!r}")
    return problems
