"""Text primitives for the offline analyst: sentences, terms, weights and similarity."""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import quarry_text

# What `tokenize` drops (English function words that are not Python keywords), and every function
# word, keywords included, for telling a sentence cut in half by its first word.
STOPWORDS: frozenset[str] = quarry_text.STOPWORDS
_FUNCTION_WORDS: frozenset[str] = quarry_text.FUNCTION_WORDS

# Words followed by a period that almost never end a sentence.
_ABBREVIATION_TEXT = """
    e.g. i.e. cf. vs. viz. al. approx. ca. fig. figs. eq. eqs. no. nos. vol. pp. p. ch. sec. ed. eds.
    mr. mrs. ms. dr. prof. st. jr. sr. mt. gen. col. lt. sgt. rev. hon. dept. est. inc. ltd. co. corp.
    jan. feb. mar. apr. jun. jul. aug. sep. sept. oct. nov. dec. u.s. u.k. e.u. a.m. p.m.
"""
ABBREVIATIONS: frozenset[str] = frozenset(_ABBREVIATION_TEXT.split())
_SENTENCE_END = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*(?=\s)")
_OPENERS = "\"'\u201c\u2018([`*"
_SEGMENT_BREAK = re.compile(r"\n[ \t\r]*\n|\n(?=[ \t]*(?:[-*•+]|\d{1,3}[.)]|#{1,6})[ \t]+)")
# A line of a docstring's summary list: "getsizeof() -- return the size of an object in bytes".
_LISTED_LINE = re.compile(r"^[A-Za-z_][\w.]*(?:\(\))?[ \t]+--[ \t]+\S")
_RULE_LINE = re.compile(r"^[ \t]*([=*\-~^_#+])\1{2,}[ \t\r]*$", re.MULTILINE)
_LIST_MARKER = re.compile(r"^(?:[-*•+]|\d{1,3}[.)]|#{1,6})\s+")
TERMINAL = re.compile(r"[.!?][\"'\u201d\u2019)\]]*$")
_CODE_CHARS = frozenset("{}[]()<>=;|\\`$#@^~&%")
_QUOTED_CODE = re.compile(r"\"[^\"\n]{1,80}\"|`[^`\n]{1,80}`|\u201c[^\u201d\n]{1,80}\u201d")
_CODE_MARKERS = ("==", "!=", "->", "=>", "::", ">>>", "+=", "();", "{}", "&&", "||")
# A bold run-in heading ("**Private name mangling:** When an identifier ...") or a bold name as a
# sentence's subject ("**PEP 8** advises that ..."): markup that opens a claim rather than marking a
# label. "**PEP 343** - The with statement ..." (a reference list's item) is neither.
# So does an emphasised name ("*__slots__* reserves space ...", "*dualstack_ipv6*: if true ...").
_RUN_IN = re.compile(
    r"^\*\*[^*\n]{1,60}:\*\*\s+(?=\S)|^\*\*[^*\n]{1,60}\*\*\s+(?=[a-z])|^\*[^*\s][^*\n]{0,60}\*(?=:?\s+[a-z])"
)
_PROSE_WORD = re.compile(r"^[\"'\u201c\u2018(]*[A-Za-z][a-z\u2019'-]*[\"'\u201d\u2019),.;:!?]*$")
_BOILERPLATE = re.compile(
    r"\b(cookies?|all rights reserved|copyright|privacy policy|terms of (service|use)|sign (in|up)|"
    r"log ?in|subscribe|newsletter|click here|read more|skip to (main )?content|share this|"
    r"advertisement|javascript (is )?(disabled|required)|enable javascript|accept all|"
    r"this page was last edited|follow us|back to top)\b",
    re.IGNORECASE,
)


def normalise(text: str) -> str:
    """Collapse every run of whitespace to one space and trim the ends."""
    return " ".join(text.split())


def listed_lines(text: str) -> list[str]:
    """The lines of `text` that are entries of a summary list, normalised (see `_entries`)."""
    lines = text.split("\n")
    return [normalise(line) for line, entry in zip(lines, _entries(lines), strict=True) if entry]


def _entries(lines: list[str]) -> list[bool]:
    """Which lines are entries of a summary list: two or more lines in a row of the form "name --
    what it does". Such a list has an entry a line and no full stop to end one; one such line alone
    is as likely wrapped prose ("...of the file and\nreturns -- unless it fails -- ...")."""
    listed = [_LISTED_LINE.match(line) is not None for line in lines]
    last = len(lines) - 1
    return [here and ((i > 0 and listed[i - 1]) or (i < last and listed[i + 1])) for i, here in enumerate(listed)]


def _apart(text: str) -> str:
    """`text` with a blank line before each summary list entry, so each is a segment of its own."""
    if "--" not in text:
        return text
    lines = text.split("\n")
    return "".join(
        ("\n\n" if entry else "\n") + line if i else line
        for i, (line, entry) in enumerate(zip(lines, _entries(lines), strict=True))
    )


def _segments(text: str) -> list[str]:
    # Blank lines, list items, headings and underline rules delimit runs of prose; a sentence never
    # crosses one, which keeps every sentence a contiguous piece of the original text.
    # A rule becomes a break, never a join, so heading and body stay separate segments.
    out: list[str] = []
    for piece in _SEGMENT_BREAK.split(_RULE_LINE.sub("\n", _apart(text))):
        seg = _LIST_MARKER.sub("", normalise(piece))
        if seg:
            out.append(seg)
    return out


def _is_boundary(segment: str, match: re.Match[str]) -> bool:
    nxt = segment[match.end() :].lstrip()
    if not nxt:
        return False
    head = nxt[0]
    if not (head.isupper() or head.isdigit() or head in _OPENERS):
        return False
    if "?" in match.group() or "!" in match.group():
        return True
    word_start = segment.rfind(" ", 0, match.start()) + 1
    word = segment[word_start : match.start() + 1].lstrip(_OPENERS).lower()
    if word in ABBREVIATIONS:
        return False
    # Initials ("J. Smith") and dotted acronyms ("U.S.A.") rarely end a sentence.
    return re.fullmatch(r"[a-z]\.|(?:[a-z]\.){2,}", word) is None


def split_sentences(text: str) -> list[str]:
    """Split text into whitespace-normalised sentences, each a literal piece of the normalised text."""
    sentences: list[str] = []
    for segment in _segments(text):
        start = 0
        for match in _SENTENCE_END.finditer(segment):
            if _is_boundary(segment, match):
                sentences.append(segment[start : match.end()].strip())
                start = match.end()
        tail = segment[start:].strip()
        if tail:
            sentences.append(tail)
    return [_LIST_MARKER.sub("", s) for s in sentences if s]


def stem(word: str) -> str:
    """Strip common English inflections so "managers", "managed" and "manage" meet."""
    return quarry_text.stem(word)


def tokenize(text: str) -> list[str]:
    """Content terms of text in order: the retriever's code-aware analysis, keywords counted where used as code."""
    # A few sentences give no IDF worth the name, so "and", "is" or "with" in prose would make
    # every sentence share a term with every question.
    return quarry_text.terms(text, prose_keywords=False)


def features(tokens: Sequence[str]) -> list[str]:
    """Terms plus adjacent-term bigrams, so phrases like "context manager" outrank scattered words."""
    return [*tokens, *(f"{a} {b}" for a, b in itertools.pairwise(tokens))]


@dataclass(frozen=True)
class Idf:
    """BM25-style inverse document frequencies fitted on a small collection."""

    weights: Mapping[str, float] = field(default_factory=dict)
    default: float = 1.0

    @classmethod
    def fit(cls, documents: Iterable[Iterable[str]]) -> Idf:
        """Fit on documents given as term sequences."""
        df: Counter[str] = Counter()
        n = 0
        for doc in documents:
            n += 1
            df.update(set(doc))
        weights = {t: math.log(1.0 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
        return cls(weights=weights, default=math.log(1.0 + (n + 0.5) / 0.5))

    def __call__(self, term: str) -> float:
        return self.weights.get(term, self.default)


def vector(terms: Iterable[str], idf: Idf | None = None) -> dict[str, float]:
    """Sparse vector with sublinear term frequency, weighted by idf when given."""
    counts = Counter(terms)
    return {t: (1.0 + math.log(c)) * (idf(t) if idf else 1.0) for t, c in counts.items()}


def bm25(
    query: Mapping[str, float],
    terms: Sequence[str],
    idf: Idf,
    avg_len: float,
    *,
    k1: float = 1.2,
    b: float = 0.75,
    related: Mapping[str, float] | None = None,
) -> float:
    """BM25 of a short document for weighted query terms, scaled so full coverage scores about 1.
    `related` terms (other words for the query's, weighted lower) score where they occur but are not
    part of full coverage: a document need not say both "folder" and "directory"."""
    if not query or not terms:
        return 0.0
    counts = Counter(terms)
    norm = k1 * (1.0 - b + b * len(terms) / max(avg_len, 1.0))
    weighted = {**(related or {}), **query}
    score = sum(w * idf(t) * counts[t] * (k1 + 1.0) / (counts[t] + norm) for t, w in weighted.items() if t in counts)
    # The score of a document holding once each query term the collection has at all; terms no
    # document holds (a bigram spanning two clauses of the question) cannot be matched, so don't count.
    ideal = sum(w * idf(t) for t, w in query.items() if t in idf.weights)
    return score / ideal if ideal > 0 else 0.0


def cosine(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """Cosine similarity of two sparse vectors; 0.0 when either is empty."""
    if len(a) > len(b):
        a, b = b, a
    dot = sum(w * b.get(t, 0.0) for t, w in a.items())
    if dot == 0.0:
        return 0.0
    norm = math.sqrt(sum(w * w for w in a.values())) * math.sqrt(sum(w * w for w in b.values()))
    return dot / norm


def looks_like_code(sentence: str) -> bool:
    """True when a sentence reads as code, markup or a grammar rule rather than prose."""
    stripped = sentence.strip()
    if not stripped or stripped.startswith((">>>", "$ ", "...", "#!", "//", "<")):
        return True
    # Code quoted in prose is named, not written: 'if x has "__iadd__()", "x += y" calls it' is a
    # sentence about an operator, which the markers below would otherwise take for code.
    stripped = _QUOTED_CODE.sub("code", stripped)
    # Two pipes make a table row, which flattens into an unreadable "sentence".
    if any(marker in stripped for marker in _CODE_MARKERS) or stripped.count("|") >= 2:
        return True
    if sum(ch in _CODE_CHARS for ch in stripped) / len(stripped) > 0.08:
        return True
    words = stripped.split()
    return sum(bool(_PROSE_WORD.match(w)) for w in words) / len(words) < 0.6


def is_boilerplate(sentence: str) -> bool:
    """True for navigation, legal and cookie text that web pages wrap around content."""
    return _BOILERPLATE.search(sentence) is not None


def cut_in_half(words: Sequence[str]) -> bool:
    """A lower-case function word first means the splitter cut a sentence in half."""
    return words[0].islower() and words[0].strip("\"'\u201c\u2018(") in _FUNCTION_WORDS


def is_claim_sentence(sentence: str, *, min_words: int = 6, max_words: int = 60) -> bool:
    """True when a sentence can stand alone as a claim: complete, prose, neither tiny nor huge."""
    words = sentence.split()
    if not min_words <= len(words) <= max_words or len(sentence) > 450:
        return False
    if not TERMINAL.search(sentence):
        return False
    lead = _RUN_IN.match(sentence)
    body = sentence[lead.end() :] if lead else sentence
    if cut_in_half(body.split()):
        return False
    # Markup first ("**PEP 343** - ...", "> quote", "| cell") marks a label or table, not a claim.
    if body[0] in "*#|>=":
        return False
    # A run-in lead is read as the rest is ("**Privacy policy:** We share ..." is boilerplate).
    return not looks_like_code(body) and not is_boilerplate(sentence)
