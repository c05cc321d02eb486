"""The code-aware analyzer both the retriever's index and the analyst's scoring use."""

from __future__ import annotations

import hashlib
import time

import pytest

from quarry_text import ANALYSIS_VERSION, STOPWORDS, analyzer, terms
from quarry_text.stopwords import KEYWORDS


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("How does the with statement work?", ["with", "statement", "work"]),
        # dotted names whole, then their parts; CamelCase parts too
        ("os.path.join", ["os.path.join", "os", "path", "join"]),
        ("csv.DictReader", ["csv.dictreader", "csv", "dictreader", "dict", "reader"]),
        ("HTTPServer", ["httpserver", "http", "server"]),
        # dunder and private names whole, then the bare word
        ("__init__ and __eq__", ["__init__", "init", "and", "__eq__", "eq"]),
        ("namedtuple._asdict()", ["namedtuple._asdict", "namedtupl", "_asdict", "asdict"]),
        ("QUOTE_MINIMAL", ["quote_minimal", "quot", "minimal"]),
        # operators are terms, the two-word ones beside their words
        ("a == b != c", ["==", "!="]),
        ("x is not None", ["is", "not", "is not", "non"]),
        ("k not in d", ["not", "in", "not in"]),
        ("def f() -> int: ...", ["def", "->", "int", "..."]),
        ("(n := len(a)) ** 2 // 3", [":=", "len", "**", "//"]),
        ("m @ w << 1 >> 2", ["@", "<<", ">>"]),
        # a doctest prompt is not a shift
        (">>> print(x)", ["print"]),
        # keywords and soft keywords are never stop-words; English function words are
        ("yield from it if not match case", ["yield", "from", "if", "not", "match", "cas"]),
        ("They went with him to the shop", ["went", "with", "shop"]),
        # code in backticks keeps every word
        ("use `all` and `any`", ["us", "all", "and", "any"]),
        ("e.g. 42 and 2026", ["and", "2026"]),
        ("Managers managed, managing", ["manager", "manag", "manag"]),
    ],
)
def test_terms(text: str, expected: list[str]) -> None:
    assert terms(text) == expected


def test_keywords_are_never_stopwords() -> None:
    assert {"is", "in", "not", "with", "yield", "match", "case", "and", "or", "if"} <= KEYWORDS
    assert not KEYWORDS & STOPWORDS
    assert "the" in STOPWORDS and "re" not in STOPWORDS


def test_plain_words_meet_their_names() -> None:
    # a question in words shares terms with the names a passage uses
    assert {"dict", "reader"} <= set(terms("csv.DictReader")) & set(terms("a reader of dict rows"))
    assert "init" in set(terms("__init__")) & set(terms("the init method"))


@pytest.mark.parametrize(
    "text",
    [
        "!@#$%^&*()[]{};:'\",.<>/?\\|`~-=+" * 32_768,  # about 1 MB of punctuation
        "x" * 100_000,  # one 100k-character identifier
        "aB" * 50_000,  # one 100k-character CamelCase name
        "a." * 50_000 + "b",  # a dotted name of 50k parts
        "_" * 100_000,
        "`" * 100_000,
        "ok\x00nul\x00bytes\x00" * 10_000,
        "emoji 🐍🔥👩‍💻 and flags 🇫🇷 between words " * 5_000,
    ],
)
def test_hostile_input_is_analysed_in_bounded_time(text: str) -> None:
    # CPU time, not wall time: on a machine busy with other tests a wall clock measures them too
    # (a 0.2 s analysis took 2.7 s of wall time under the full suite).
    started = time.process_time()
    out = terms(text)
    assert time.process_time() - started < 2.0
    assert all(0 < len(t) <= 80 for t in out)  # no term is the whole input


def test_hostile_input_keeps_what_words_it_has() -> None:
    assert terms("ok\x00nul\x00bytes") == ["ok", "nul", "byt"]
    assert terms("🐍 python 🔥 heapq") == ["python", "heapq"]
    assert terms("x" * 100_000) == []


# The analysis of a fixed text under the current version: a change to what `terms` gives must come
# with a new ANALYSIS_VERSION (which starts a fresh index), then a new line here. A version may
# also change how the index weighs the same terms, and so repeat its predecessor's fingerprint.
FINGERPRINTS = {"code1": "2b2f7b662cbb", "code2": "2b2f7b662cbb"}
SAMPLE = (
    "The with statement calls __enter__() and __exit__(); os.path.join and csv.DictReader, "
    "x is not None, k not in d, a == b, f() -> int, (n := 3) ** 2 // 4, `all`, HTTPServer, "
    "QUOTE_MINIMAL, running passed classes entries 2026."
)


def test_a_change_of_analysis_comes_with_a_new_version() -> None:
    fingerprint = hashlib.sha256("\x1f".join(terms(SAMPLE)).encode()).hexdigest()[:12]
    assert FINGERPRINTS.get(ANALYSIS_VERSION) == fingerprint, (
        f"the analysis changed: bump ANALYSIS_VERSION and record {fingerprint!r} for it"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # in prose, the keywords that are English function words are function words
        ("and then?", []),
        ("How is billing done?", ["bill"]),
        ("x is not None", ["is", "is not", "non"]),  # after a variable's name: the operator
        ("What does x in y call?", ["in", "call"]),
        ("Is it in a list?", ["list"]),
        # where the text uses them as code they count
        ("The with statement and the in operator", ["with", "statement", "in", "operator"]),
        ('the "is" operator', ["is", "operator"]),
        ("use `is not` here", ["us", "is", "not", "is not"]),
        # the other keywords, names and operators are unaffected
        ("How does yield from work?", ["yield", "work"]),
        ("a == b and __eq__", ["==", "__eq__", "eq"]),
    ],
)
def test_a_scorer_counts_prose_keywords_only_where_they_are_code(text: str, expected: list[str]) -> None:
    assert terms(text, prose_keywords=False) == expected


def test_long_words_are_not_memoised() -> None:
    terms(" ".join(f"{'q' * 50}{chr(97 + i % 26) * (i % 7 + 1)}" for i in range(2_000)))
    assert max(map(len, analyzer._WORDS), default=0) <= 40
