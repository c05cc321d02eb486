"""Text primitives for the offline analyst: sentences, terms, weights and similarity."""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

_STOPWORD_TEXT = """
    a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing done down during each either else etc few for
    from further had has have having he her here hers herself him himself his how however i if in into
    is it its itself just me might more most much must my myself no nor not now of off on once only or
    other our ours ourselves out over own per same shall she should so some such than that the their
    theirs them themselves then there these they this those through thus to too under until up upon us
    very via was we were what when where whether which while who whom whose why will with within without
    would yet you your yours yourself yourselves may many one ones get gets got make makes made
"""
STOPWORDS: frozenset[str] = frozenset(_STOPWORD_TEXT.split())

# Words followed by a period that almost never end a sentence.
_ABBREVIATION_TEXT = """
    e.g. i.e. cf. vs. viz. al. approx. ca. fig. figs. eq. eqs. no. nos. vol. pp. p. ch. sec. ed. eds.
    mr. mrs. ms. dr. prof. st. jr. sr. mt. gen. col. lt. sgt. rev. hon. dept. est. inc. ltd. co. corp.
    jan. feb. mar. apr. jun. jul. aug. sep. sept. oct. nov. dec. u.s. u.k. e.u. a.m. p.m.
"""
ABBREVIATIONS: frozenset[str] = frozenset(_ABBREVIATION_TEXT.split())
_KIND_NOUNS = frozenset(
    {"statement", "statements", "keyword", "keywords", "clause", "clauses", "loop", "loops", "operator"}
    | {"operators", "expression", "expressions", "block", "blocks", "function", "method"}
)

_SENTENCE_END = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*(?=\s)")
_OPENERS = "\"'\u201c\u2018([`*"
_SEGMENT_BREAK = re.compile(r"\n[ \t\r]*\n|\n(?=[ \t]*(?:[-*•+]|\d{1,3}[.)]|#{1,6})[ \t]+)")
_RULE_LINE = re.compile(r"^[ \t]*([=*\-~^_#+])\1{2,}[ \t\r]*$", re.MULTILINE)
_LIST_MARKER = re.compile(r"^(?:[-*•+]|\d{1,3}[.)]|#{1,6})\s+")
_TOKEN = re.compile(r"[a-z0-9]+")
_TERMINAL = re.compile(r"[.!?][\"'\u201d\u2019)\]]*$")
_CODE_CHARS = frozenset("{}[]()<>=;|\\`$#@^~&%")
_CODE_MARKERS = ("==", "!=", "->", "=>", "::", ">>>", "+=", "();", "{}", "&&", "||")
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


def _segments(text: str) -> list[str]:
    # Blank lines, list items, headings and underline rules delimit runs of prose; a sentence never
    # crosses one, which keeps every sentence a contiguous piece of the original text.
    # A rule becomes a break, never a join, so heading and body stay separate segments.
    out: list[str] = []
    for piece in _SEGMENT_BREAK.split(_RULE_LINE.sub("\n", text)):
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
    w = word
    if len(w) <= 2 or w.isdigit():
        return w
    if w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("sses"):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    for suffix in ("ing", "ed"):
        base = w[: -len(suffix)]
        # "need" and "speed" are not past tenses.
        if w.endswith(suffix) and len(base) >= 2 and re.search(r"[aeiouy]", base) and not w.endswith("eed"):
            w = base
            if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "aeiouylsz":
                w = w[:-1]
            break
    if w.endswith("e") and len(w) >= 3:
        w = w[:-1]
    return w


def tokenize(text: str) -> list[str]:
    """Lower-case, stopword-free, stemmed content terms of text, in order."""
    raw = _TOKEN.findall(text.lower())
    terms: list[str] = []
    for i, tok in enumerate(raw):
        if len(tok) < 2 or (tok.isdigit() and len(tok) < 3):
            continue
        # "with statement", "for loop", "in operator": a keyword names the thing, so keep it.
        named = i + 1 < len(raw) and raw[i + 1] in _KIND_NOUNS
        if tok not in STOPWORDS or named:
            terms.append(stem(tok))
    return terms


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
) -> float:
    """BM25 of a short document for weighted query terms, scaled so full coverage scores about 1."""
    if not query or not terms:
        return 0.0
    counts = Counter(terms)
    norm = k1 * (1.0 - b + b * len(terms) / max(avg_len, 1.0))
    score = sum(w * idf(t) * counts[t] * (k1 + 1.0) / (counts[t] + norm) for t, w in query.items() if t in counts)
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


def is_claim_sentence(sentence: str, *, min_words: int = 6, max_words: int = 60) -> bool:
    """True when a sentence can stand alone as a claim: complete, prose, neither tiny nor huge."""
    words = sentence.split()
    if not min_words <= len(words) <= max_words or len(sentence) > 450:
        return False
    if not _TERMINAL.search(sentence):
        return False
    # A lower-case function word first means the splitter cut a sentence in half.
    if words[0].islower() and words[0].strip("\"'\u201c\u2018(") in STOPWORDS:
        return False
    # Markup first ("**PEP 343** - ...", "> quote", "| cell") marks a label or table, not a claim.
    if sentence[0] in "*#|>=":
        return False
    return not looks_like_code(sentence) and not is_boilerplate(sentence)
