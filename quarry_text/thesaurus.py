"""Words people ask with beside the words documentation answers with.

A question says "folder", "biggest" or "one after another"; the reference that answers it says
"directory", "largest" and "chain". Without a dense model nothing bridges the two, and feedback
from a first search cannot add what that search never found. Each group below holds words and
phrases used for one idea in programming questions and in reference text; a question that uses
one member gets the others' terms at a lower weight. A word with a second common sense ("count
as false", "tests", "times") is left out, or given only as a phrase, since it would add noise to
every question that uses it in that sense. The groups are general vocabulary, not
answers: they name ideas, never which module or function holds them, so they help on any corpus
of programming documentation and change nothing a question does not touch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache

from quarry_text.analyzer import terms
from quarry_text.stopwords import KEYWORDS

WEIGHT = 0.4
"""Weight of a related term; the question's own terms weigh 1."""

GROUPS: tuple[tuple[str, ...], ...] = (
    # files and the system
    ("folder", "directory", "subdirectory"),
    ("delete", "remove", "erase", "wipe"),
    ("rename", "move"),
    ("copy", "duplicate", "clone"),
    ("filename", "file name", "path", "pathname"),
    ("extension", "suffix"),
    ("temporary", "temp", "scratch"),
    ("environment variable", "environ"),
    ("command line", "command line arguments", "argv", "command line options"),
    ("program", "process", "subprocess", "command"),
    ("run", "execute", "invoke", "spawn"),
    ("exit", "quit", "terminate"),
    ("wait", "sleep", "pause", "delay"),
    ("current time", "now", "timestamp"),
    ("compress", "archive", "zip", "gzip"),
    ("unzip", "decompress", "extract"),
    ("download", "fetch", "retrieve"),
    ("web page", "website", "url", "http"),
    ("email", "mail", "message"),
    # sizes and order
    ("biggest", "largest", "greatest", "highest", "maximum", "most"),
    ("smallest", "least", "lowest", "minimum", "fewest"),
    ("sort", "order", "arrange", "rank"),
    ("reverse", "backwards", "inverted"),
    ("how many", "number of", "tally"),
    ("size", "length", "how long"),
    ("first", "head", "leading"),
    ("last", "tail", "trailing"),
    # combining and taking apart
    ("combine", "merge", "join", "concatenate", "chain"),
    ("one after another", "sequentially", "consecutive", "chain"),
    ("split", "separate", "divide", "partition"),
    ("group", "grouping", "bucket", "categorise", "categorize"),
    ("pair up", "zip", "in parallel", "side by side"),
    ("flatten", "nested", "chain"),
    ("unique", "distinct", "duplicates", "deduplicate"),
    # remembering and storing
    ("remember", "cache", "memoize", "memoise", "memo"),
    ("save", "store", "persist", "dump", "write"),
    ("load", "read", "open"),
    ("serialize", "serialise", "encode", "marshal", "pickle"),
    ("parse", "decode", "interpret"),
    ("settings", "configuration", "config"),
    ("key value", "mapping", "dictionary", "dict"),
    ("record", "row", "entry"),
    ("column", "field"),
    ("spreadsheet", "table", "tabular", "comma separated", "csv"),
    # text
    ("text", "string", "str"),
    ("whitespace", "spaces", "blank", "indentation"),
    ("trim", "strip"),
    ("wrap", "fill", "narrow", "width"),
    ("pattern", "regular expression", "regex", "wildcard", "glob"),
    ("replace", "substitute", "sub"),
    ("find", "search", "locate", "look up", "lookup"),
    ("uppercase", "upper case", "capital", "capitalize", "capitalise"),
    ("lowercase", "lower case", "casefold"),
    ("print", "display", "show", "output"),
    ("pretty", "readable", "indent", "pprint"),
    ("template", "placeholder", "format", "interpolate"),
    # numbers
    ("number", "numeric", "integer", "int", "float"),
    ("decimal", "exact", "precision"),
    ("fraction", "rational", "ratio"),
    ("round", "truncate", "floor", "ceil"),
    ("random", "shuffle", "sample", "choice"),
    ("average", "mean", "median", "statistics"),
    # collections and iteration
    ("list", "sequence", "array"),
    ("queue", "fifo", "deque"),
    ("stack", "lifo"),
    ("priority", "heap", "smallest first"),
    ("loop", "iterate", "iteration", "iterator", "iterable"),
    ("lazily", "lazy", "on demand", "generator", "yield"),
    ("position", "index", "enumerate", "counter"),
    ("infinite", "endless", "forever", "cycle"),
    ("every combination", "combinations", "permutations", "product"),
    # objects and functions
    ("function", "callable", "routine"),
    ("instance", "object"),
    ("attribute", "field", "property", "member"),
    ("private", "internal", "hidden", "mangling"),
    ("constant", "immutable", "frozen", "read only", "readonly"),
    ("change", "modify", "mutate", "update"),
    ("add", "append", "insert", "extend"),
    ("compare", "comparison", "equal", "equality", "equals"),
    ("true or false", "truth", "truthy", "falsy", "boolean", "bool"),
    ("empty", "zero length", "nothing"),
    ("missing", "absent", "default", "fallback"),
    ("wrapper", "decorator", "wraps"),
    ("metadata", "name and docstring", "docstring"),
    ("named constants", "enumeration", "enum"),
    ("type hint", "annotation", "typing"),
    ("abstract", "interface", "base class"),
    ("inherit", "subclass", "derive", "override"),
    ("make an object", "construct", "create", "instantiate", "init"),
    ("clean up", "cleanup", "close", "release", "finally", "context manager"),
    # errors and checks
    ("error", "exception", "failure", "fail"),
    ("ignore", "suppress", "silence"),
    ("verify", "validate", "assert"),
    ("debug", "debugger", "breakpoint", "step through"),
    ("warn", "warning", "deprecated", "deprecation"),
    ("log", "logging", "logger"),
    # time and concurrency
    ("execution time", "benchmark", "profile", "how fast", "how long it takes"),
    ("at the same time", "concurrent", "concurrently", "parallel", "threads", "thread"),
    ("asynchronous", "async", "await", "coroutine"),
    ("schedule", "later", "timer", "periodically"),
    ("time zone", "timezone", "utc"),
    ("network", "socket", "connection"),
    ("ip address", "address", "network", "subnet"),
    ("binary", "bytes", "byte"),
    ("pack", "unpack", "struct", "layout"),
    ("hash", "digest", "checksum", "fingerprint"),
    ("password", "secret", "token", "secure"),
)


@cache
def _index() -> tuple[dict[str, tuple[int, ...]], tuple[tuple[str, ...], ...]]:
    """Each single word's stem -> the groups it is in; each group's phrases (as regexes)."""
    words: dict[str, list[int]] = {}
    phrases: list[tuple[str, ...]] = []
    for n, group in enumerate(GROUPS):
        phrases.append(tuple(m for m in group if " " in m))
        for member in group:
            if " " not in member:
                for term in terms(member):
                    words.setdefault(term, []).append(n)
    return {term: tuple(groups) for term, groups in words.items()}, tuple(phrases)


@cache
def _group_terms(n: int) -> tuple[str, ...]:
    return tuple(dict.fromkeys(term for member in GROUPS[n] for term in terms(member)))


def _groups_of(text: str, own: Iterable[str]) -> set[int]:
    words, phrases = _index()
    found = {n for term in own for n in words.get(term, ())}
    lowered = " ".join(re.findall(r"[a-z0-9]+", text.casefold()))
    for n, group_phrases in enumerate(phrases):
        if n not in found and any(re.search(rf"\b{re.escape(p)}\b", lowered) for p in group_phrases):
            found.add(n)
    return found


def related(text: str, own: Iterable[str] | None = None) -> dict[str, float]:
    """The terms of the words related to `text`'s (weighted WEIGHT), apart from `text`'s own terms.

    `own` are `text`'s terms when the caller has them already.
    """
    mine = set(terms(text) if own is None else own)
    out: dict[str, float] = {}
    for n in sorted(_groups_of(text, mine)):
        for term in _group_terms(n):
            # A keyword out of its code says little (the "in" of "in parallel").
            if term not in mine and term not in KEYWORDS:
                out[term] = WEIGHT
    return out


@cache
def _word_relatives() -> dict[str, frozenset[str]]:
    out: dict[str, set[str]] = {}
    for group in GROUPS:
        words = {t for member in group if " " not in member for t in terms(member)} - KEYWORDS
        for term in words:
            out.setdefault(term, set()).update(words - {term})
    return {term: frozenset(relatives) for term, relatives in out.items()}


def relatives_of(term: str) -> frozenset[str]:
    """The one-word terms that share a group with `term` (a term as `terms` gives it): the words a
    text may use where a question uses `term` ("directory" for "folder")."""
    return _word_relatives().get(term, frozenset())
