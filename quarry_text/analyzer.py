"""The code-aware analyzer: text to the terms an index stores and a scorer compares.

Prose words are lower-cased, stemmed lightly and dropped when they are English function words;
Python keywords are never dropped. Names keep their identity: `os.path.join`, `csv.DictReader`,
`__init__` and `with_stmt` are terms of their own, followed by their parts (`os`, `path`, `join`;
`dict`, `reader`; `init`; `with`, `stmt`) so a question in plain words still meets them.
Operators (`==`, `->`, `:=`, `**`, `is not`, `not in`...) are terms too, and code in backticks
keeps every word. The same text always gives the same terms, in text order.

Twelve keywords are also English function words (and, as, else, for, from, if, in, is, not, or,
while, with). An index keeps them everywhere and lets IDF weigh them; a scorer comparing a few
sentences has no IDF to lean on, so with `prose_keywords=False` they count only where the text
uses them as code: in backticks or quotes, named by the next word ("the with statement", "the in
operator"), after a variable's name ("x in y", "obj is None"), or as a two-word operator in code.
"""

from __future__ import annotations

import re

from quarry_text.stemming import stem
from quarry_text.stopwords import FUNCTION_WORDS, KEYWORDS, STOPWORDS

ANALYSIS_VERSION = "code2"
"""Names the terms `terms` gives and how an index weighs them; a stored index built under another
version must not be searched with these (code2: the terms of code1, a section's lead weighed apart)."""

_MAX_WORD = 40  # a longer run of letters is a hash, base64 or noise, not a word
_MAX_NAME = 80  # a longer dotted or snake_case name is kept as its parts only

# One pass over the text: inline code, then names (dotted runs of identifiers), then numbers, then
# operators, longest first. `>>>` is matched only so that a doctest prompt is not read as `>>`.
_TOKEN = re.compile(
    r"`(?P<code>[^`\n]{1,200})`"
    r"|(?P<quote>[\"'\u201c\u2018])?(?P<name>[^\W\d]\w*(?:\.[^\W\d]\w*)*)"
    r"|(?P<number>\d+)"
    r"|(?P<op>>>>|\.\.\.|\*\*|//|==|!=|<=|>=|->|:=|<<|>>|[-+*/%@&|^]=|[@<>%&|^~])"
)
_CAMEL_PART = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_PROMPT = ">>>"
_OPERATOR_WORDS = frozenset({"in", "is", "not"})  # "a == b and c": "and" stays English
_OPERAND = "\x00name"  # what `previous` holds after a name spelled as code (snake_case, CamelCase, dotted)
_PROSE_KEYWORDS = KEYWORDS & FUNCTION_WORDS
_KIND_NOUNS = frozenset(
    {"statement", "statements", "keyword", "keywords", "clause", "clauses", "loop", "loops", "operator"}
    | {"operators", "expression", "expressions", "block", "blocks", "test", "tests", "operand", "operands"}
)


def terms(text: str, *, prose_keywords: bool = True) -> list[str]:
    """The terms of `text` in text order: stemmed content words, whole names and their parts, operators.

    `prose_keywords=False` drops the keywords that are English function words where they read as
    prose (see the module's docstring).
    """
    out: list[str] = []
    _analyse(text, out, code=False, prose=prose_keywords)
    return out


def _analyse(text: str, out: list[str], *, code: bool, prose: bool) -> None:
    previous, marked, pending = "", False, ""
    for inline, quote, name, number, op in _TOKEN.findall(text):
        if name:
            plain = _WORDS.get(name) or _word_of(name)
            if plain is None:
                _name(name, out)
                previous, marked, pending = _OPERAND, False, ""
                continue
            word, term = plain
            if pending and word in _KIND_NOUNS:
                out.append(pending)  # "with statement": the keyword names the thing
            pending = ""
            # "x in y", "item is None": a keyword after a variable's name is the operator.
            after_operand = word in _OPERATOR_WORDS and (previous == _OPERAND or len(previous) == 1)
            as_code = prose or code or bool(quote) or after_operand
            if word in _PROSE_KEYWORDS and not as_code:
                pending = word
            elif term and (code or word not in STOPWORDS):
                out.append(term)
            # The two-word operators, beside their words.
            if (word == "not" or word == "in") and (prose or code or marked):
                if previous == "is" and word == "not":
                    out.append("is not")
                elif previous == "not" and word == "in":
                    out.append("not in")
            previous, marked = word, as_code
            continue
        elif op:
            if op != _PROMPT:
                out.append(op)
        elif number:
            # One- and two-digit numbers are list items, counts and versions: too common to tell anything.
            if 3 <= len(number) <= _MAX_WORD:
                out.append(number)
        else:
            _analyse(inline, out, code=True, prose=prose)
        previous, marked, pending = "", False, ""


# A plain word as written -> (its lower case, its term or "" when too short or long). Text repeats
# its words, so analysis at ingest spends most of its time on words it has met: memoised, bounded.
_WORDS: dict[str, tuple[str, str]] = {}
_WORDS_LIMIT = 50_000


def _word_of(name: str) -> tuple[str, str] | None:
    """A plain word's lower case and term; None for a name (snake_case, CamelCase, digits)."""
    if not (name.isalpha() and (name.islower() or name.isupper() or name[1:].islower())):
        return None
    word = name.casefold()
    if len(name) > _MAX_WORD:
        return (word, "")  # not kept: hostile input must not fill the memo with long keys
    plain = (word, stem(word) if len(word) >= 2 else "")
    if len(_WORDS) >= _WORDS_LIMIT:
        _WORDS.clear()
    _WORDS[name] = plain
    return plain


def _name(name: str, out: list[str]) -> None:
    if "." in name:
        parts = name.split(".")
        # "e.g" and "i.e" are abbreviations, not names
        if len(name) <= _MAX_NAME and any(len(part) > 1 for part in parts):
            out.append(name.casefold())
        for part in parts:
            _identifier(part, out)
    else:
        _identifier(name, out)


def _identifier(name: str, out: list[str]) -> None:
    bare = name.strip("_")
    if bare == name:
        if "_" in name:
            _whole(name, out)
            for piece in name.split("_"):
                _piece(piece, out)
        else:
            _piece(name, out)
    elif bare:
        # __init__, _asdict, __init_subclass__: the name as written, then its words
        _whole(name, out)
        for piece in bare.split("_"):
            _piece(piece, out)


def _whole(name: str, out: list[str]) -> None:
    if len(name) <= _MAX_NAME:
        out.append(name.casefold())


def _piece(piece: str, out: list[str]) -> None:
    """One run of letters and digits: a word, or a CamelCase name (whole, then its words)."""
    if not (piece.islower() or piece.isupper() or piece[1:].islower() or not piece.isalnum()):
        parts = _CAMEL_PART.findall(piece)
        if len(parts) > 1:
            _whole(piece, out)
            for part in parts:
                _word(part.casefold(), out)
            return
    _word(piece.casefold(), out)


def _word(word: str, out: list[str]) -> None:
    if 2 <= len(word) <= _MAX_WORD and word not in STOPWORDS:
        out.append(stem(word))
