"""Sentence selection for an extractive draft: candidates scored against the question, picked by MMR."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from contracts.report import ReportLength
from contracts.work import (
    Passage,
    SynthesiseInput,
)
from quarry_text import thesaurus
from services.analyst.domain.answering import ANSWER_FLOOR, answers, asks_of, best_fit, framing_terms, heading_terms
from services.analyst.domain.naming import labelled_entries, lists_member
from services.analyst.domain.statements import claim_with_code, claim_with_list, summary_line
from services.analyst.domain.text import (
    Idf,
    bm25,
    features,
    is_claim_sentence,
    normalise,
    tokenize,
    vector,
)

SourceKey = tuple[str, str]

CLAIMS_PER_SECTION = 3
# Per report length: findings per section, and the least and most the summary restates.
LENGTHS: dict[ReportLength, tuple[int, int, int]] = {
    "brief": (1, 1, 2),
    "standard": (CLAIMS_PER_SECTION, 2, 4),
    "detailed": (6, 3, 6),
}
# The sections a length preset's findings per section are counted against.
USUAL_SECTIONS = 3
# Writing to a word target, each section may draw on up to this many findings.
TARGET_POOL = 10
WORDS_PER_SUMMARY_CLAIM = 120  # a target this many words larger allows one more summary claim
# Below this a sentence shares too little with the question to be worth citing.
MIN_RELEVANCE = 0.3
# Also below this share of the best sentence for the same sub-question: leftovers are off topic.
RELATIVE_FLOOR = 0.4
_INFORMATIVE_TERMS = 10
# The part of a sentence's score kept however little of the question it answers.
_OVERLAP_SHARE = 0.3
# The summary leads with what answers most of the question; overlap only orders close answers.
_OVERLAP_SHARE_IN_SUMMARY = 0.3
_SUB_WEIGHT = 0.7  # the rest goes to the main question, keeping sections on the overall topic
_FRAME_WEIGHT = 0.3
# An entry's opening sentence is credited with this share of how well the whole entry answers.
_LEAD_SHARE = 0.8
# The share of a sentence's score that follows its passage's retrieval score (the rest is its own).
_RETRIEVAL_SHARE = 0.5
_SCOPE_WEIGHT = 0.5
_SCOPE = re.compile(r"\s(?:in|for|on|within|under|across|during|inside)\s", re.I)
# "How do I ...", "which function ...": the question asks for a means, and an API is one.
_ASKS_MEANS = re.compile(
    r"^\s*(?:how\s+(?:do|can|could|should|would)\s+(?:i|you|we|one)\b|how\s+to\b|"
    r"(?:what|which)\s+(?:\w+\s+)?(?:library|module|function|method|class|tool|api|call)\b)",
    re.I,
)
_MEANS_BOOST = 1.5
# "Which module ...": the module is the means asked for, not one of its members.
_ASKS_MODULE = re.compile(r"^\s*(?:what|which)\s+(?:\w+\s+)?(?:library|module|package)\b", re.I)
_ASKS_DEFINITION = re.compile(r"^\s*(?:what|who)\s*(?:'s|\s+is|\s+are|\s+was|\s+were)\b", re.I)
# "X is a ...", "X refers to ...": the verb a definition turns on, within the first few words.
_DEFINING_VERB = re.compile(r"^(?P<head>(?:\S+\s+){1,6}?)(?:is|are|refers? to|means|denotes)\s", re.I)
# Pointers elsewhere and changelog notes are true but tell the reader little.
_META = re.compile(
    r"^(?:see\b|for more (?:information|details)|refer to|(?:changed|new) in version|deprecated since)",
    re.I,
)


@dataclass(eq=False)
class Candidate:
    text: str
    key: SourceKey
    passage: Passage
    group: int
    position: int
    rank_bonus: float
    # The passage's retrieval score over its sub-question's best: the index's view of the whole passage.
    retrieved: float = 1.0
    # For an entry's first sentence, the entry's whole text: what the sentence introduces.
    context: str | None = None
    # The name of the API the sentence describes, from its heading, when it does not say it itself.
    label: str | None = None
    # The API whose entry holds the sentence, whether or not it is labelled with it.
    api: str | None = None
    vec: dict[str, float] = field(default_factory=dict)
    shape: dict[str, float] = field(default_factory=dict)
    relevance: float = 0.0
    main_match: float = 0.0
    # How well it answers its sub-question and the question (answering.fit), and whether it answers
    # either at all (answering.answers): what its section asks, or failing that the question itself.
    fit_sub: float = 0.0
    fit_main: float = 0.0
    addresses: bool = True


def group_passages(inp: SynthesiseInput) -> list[tuple[str, list[Passage]]]:
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


def candidates_of(group: int, passages: Sequence[Passage]) -> Iterator[Candidate]:
    ranked = sorted(range(len(passages)), key=lambda i: -passages[i].score)
    best = max((p.score for p in passages), default=0.0)
    for rank, index in enumerate(ranked):
        passage = passages[index]
        haystack = normalise(passage.text)
        retrieved = passage.score / best if best > 0 else 1.0
        by_entry: dict[int, list[tuple[int, str, str | None, str | None]]] = {}
        for position, (sentence, label, entry, api) in enumerate(
            labelled_entries(passage.text, passage.title, passage.location)
        ):
            by_entry.setdefault(entry, []).append((position, sentence, label, api))
        for sentences in by_entry.values():
            texts = [sentence for _, sentence, _, _ in sentences]
            context = " ".join(texts)
            lead = True
            # The first sentence under an API's heading is its summary line, stated under its label.
            summary_at = next((at for at, (_, _, label, _) in enumerate(sentences) if label is not None), None)
            listed = lists_member(texts[0])
            for at, (position, sentence, label, api) in enumerate(sentences):
                if not is_claim_sentence(sentence):
                    sentence = _statement(sentence, texts[at + 1 :], haystack, at == summary_at, listed)
                # The splitter guarantees containment; checking keeps the citation invariant local.
                if sentence and sentence in haystack:
                    yield Candidate(
                        text=sentence,
                        key=(passage.source_id, passage.location),
                        passage=passage,
                        group=group,
                        position=position,
                        rank_bonus=0.04 * (1.0 - rank / len(passages)),
                        label=label,
                        api=api,
                        retrieved=retrieved,
                        context=context if lead else None,
                    )
                    lead = False


def _statement(sentence: str, following: list[str], haystack: str, summary: bool, listed: bool) -> str:
    """What a sentence too small or unfinished to be a claim states with its surroundings ("" for nothing)."""
    if summary and summary_line(sentence, listed=listed):
        return sentence
    return (
        claim_with_list(sentence, following, haystack)
        or claim_with_code(sentence, following[0] if following else "")
        or ""
    )


def _query(question: str) -> dict[str, float]:
    """Query term weights; template words ("work") and a trailing scope ("in Python") count less."""
    text = normalise(question).rstrip(" ?.!")
    scope = [m for m in _SCOPE.finditer(text) if len(text[m.end() :].split()) <= 4]
    weights = dict.fromkeys(tokenize(text), 1.0)
    if scope:
        for term in tokenize(text[scope[-1].start() :]):
            weights[term] = _SCOPE_WEIGHT
    framing = framing_terms(text)
    for term in weights:
        if term in framing:
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


def score_pool(pool: list[Candidate], questions: Sequence[str], main: str) -> None:
    terms = {id(c): features(tokenize(c.text)) for c in pool}
    idf = Idf.fit(terms.values())
    avg_len = sum(len(t) for t in terms.values()) / len(pool)
    main_query = _query(main)
    sub_queries = [_query(q) for q in questions]
    main_related = thesaurus.related(main)
    sub_related = [thesaurus.related(q) for q in questions]
    headings = {id(c): heading_terms(c.passage.title, c.passage.location, c.label or "") for c in pool}
    # A question term only a heading holds ("shelve" in "Python stdlib: shelve") still counts.
    ask_idf = Idf.fit([*terms.values(), *set(headings.values())])
    main_asks = asks_of(main, ask_idf, main)
    sub_asks = [asks_of(q, ask_idf, main) for q in questions]
    defining = [_core_terms(q) if _ASKS_DEFINITION.match(q) else set() for q in questions]
    main_defining = _core_terms(main) if _ASKS_DEFINITION.match(main) else set()
    asks_means, asks_module = _ASKS_MEANS.match(main) is not None, _ASKS_MODULE.match(main) is not None
    for c in pool:
        tokens = tokenize(c.text)
        c.vec = vector(terms[id(c)], idf)
        c.shape = vector(tokens)
        # BM25 flatters short sentences; a claim with few content words rarely informs.
        informative = min(1.0, len(c.shape) / _INFORMATIVE_TERMS) ** 0.5
        heading = headings[id(c)]
        c.fit_sub = best_fit(sub_asks[c.group], tokens, heading)
        c.fit_main = best_fit(main_asks, tokens, heading)
        c.addresses = answers([*sub_asks[c.group], *main_asks], tokens, heading)
        if c.context is not None:
            # An entry's opening sentence states what the entry is about: when the entry as a whole
            # answers ("nlargest ... Equivalent to: sorted(...)[:n]" for "the biggest few without
            # sorting"), its opening sentence is the answer's statement, though worded otherwise.
            around = tokenize(c.context)
            c.fit_sub = max(c.fit_sub, _LEAD_SHARE * best_fit(sub_asks[c.group], around, heading))
            c.fit_main = max(c.fit_main, _LEAD_SHARE * best_fit(main_asks, around, heading))
            c.addresses = c.addresses or answers([*sub_asks[c.group], *main_asks], around, heading)
        # Overlap finds candidates; how much of the question they answer ranks them, so a sentence
        # sharing one incidental word falls behind one that holds the question's key terms together.
        main_match = bm25(main_query, terms[id(c)], idf, avg_len, related=main_related) * informative
        sub_match = bm25(sub_queries[c.group], terms[id(c)], idf, avg_len, related=sub_related[c.group]) * informative
        overlap = _SUB_WEIGHT * sub_match + (1 - _SUB_WEIGHT) * main_match
        match = _SUB_WEIGHT * sub_match * _answering(c.fit_sub) + (1 - _SUB_WEIGHT) * main_match * _answering(
            c.fit_main
        )
        # The summary opens with the direct answer: the whole question's terms, held together.
        c.main_match = c.fit_main * (1 - _OVERLAP_SHARE_IN_SUMMARY + _OVERLAP_SHARE_IN_SUMMARY * min(1.0, main_match))
        if _defines(c.text, defining[c.group]):
            match *= 1.3
        if _defines(c.text, main_defining):
            c.main_match *= 1.3
        if _META.search(c.text):
            match *= 0.5
            c.main_match *= 0.5
        # Position and retrieval rank only break near-ties; an irrelevant sentence stays out.
        # A sentence in other words than the query favours still counts when it answers enough of it.
        admitted = overlap >= MIN_RELEVANCE or max(c.fit_sub, c.fit_main) >= ANSWER_FLOOR
        if c.api is not None and asks_means and _is_member(c.api) != asks_module:
            # An entry of an API (its label names it) is a means; a module's overview describes one.
            match *= _MEANS_BOOST
            c.main_match *= _MEANS_BOOST
        # The index ranked the whole passage against the whole corpus; the pool only sees sentences.
        strength = 1 - _RETRIEVAL_SHARE + _RETRIEVAL_SHARE * c.retrieved
        c.main_match *= strength
        c.relevance = match * strength + 0.03 / (1 + c.position) + c.rank_bonus if admitted else 0.0
    for g in range(len(questions)):
        group = [c for c in pool if c.group == g]
        top = max((c.relevance for c in group), default=0.0)
        for c in group:
            if c.relevance < RELATIVE_FLOOR * top:
                c.relevance = 0.0


# Each further finding from the same document adds this share to its sentences' summary weight, up to the cap.
_CONSENSUS_STEP = 0.25
_CONSENSUS_CAP = 1.75


def summary_weights(used: Sequence[Candidate]) -> list[float]:
    """How strongly each of the report's findings claims a place in the summary: how directly it
    answers the whole question, more when other findings come from the same document, which is
    likelier the answer's than one a single sentence shares a few words with."""
    findings = Counter(c.key[0] for c in used)
    return [
        (c.main_match + 0.1 * c.relevance) * min(_CONSENSUS_CAP, 1.0 + _CONSENSUS_STEP * (findings[c.key[0]] - 1))
        for c in used
    ]


def _is_member(label: str) -> bool:
    """Whether a label names something in a module (`shutil.rmtree()`), not the module (`shutil`)."""
    return "." in label or label.endswith("()`")


def _answering(fit: float) -> float:
    return _OVERLAP_SHARE + (1 - _OVERLAP_SHARE) * fit


def choose_sources(groups: list[list[Candidate]], budget: int) -> set[SourceKey]:
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
