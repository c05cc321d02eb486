"""Linear-time rewrites of delimited spans in untrusted text (fetched pages, uploaded files).

Python's `re` backtracks. A lazy `(.+?)` between two delimiters rescans the rest of the line
from every opening delimiter that has no partner, so a line of unpaired `*x ` or `[a` costs time
quadratic in its length, and holds the GIL meanwhile. Each function here gives exactly what its
documented pattern gives with `re.sub` on a line, in one pass: closing delimiters are found once
and looked up by position, and a search that failed is never repeated for a later start.
"""

from __future__ import annotations

import re
import string
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass

CharTest = Callable[[str], bool]

MAX_CODE_FENCE = 32
"""Backtick runs longer than this open no code span (markup never needs them; each length is a lookup table)."""
_BACKTICKS = re.compile(f"`{{1,{MAX_CODE_FENCE}}}")
_URL_TAIL = re.compile(r"[^>\s]*")


def is_word(ch: str) -> bool:
    """`re`'s `\\w` on one character."""
    return ch.isalnum() or ch == "_"


def _never(_: str) -> bool:
    return False


def _always(_: str) -> bool:
    return True


def _not_space(ch: str) -> bool:
    return not ch.isspace()


@dataclass(frozen=True)
class Delimited:
    """Text between a pair of delimiters on one line, with the delimiters dropped.

    The same as `re.sub(r"(?<!B)(D1|D2|...)(?=F)(.+?)(?<=L)\\1(?!A)", r"\\2", text)` where `B`,
    `F`, `L` and `A` are the tests below; with `backticks`, the delimiters are a run of backticks
    as `(`+)` takes it, longest first.
    """

    delimiters: tuple[str, ...] = ()
    backticks: bool = False
    bad_before: CharTest = _never
    first: CharTest = _always
    last: CharTest = _always
    bad_after: CharTest = _never

    def strip(self, text: str) -> str:
        return _Scan(self, text).run()


class _Scan:
    def __init__(self, rule: Delimited, text: str) -> None:
        self.rule = rule
        self.text = text
        self.closers: dict[str, list[int]] = {}
        self.newlines = [i for i, ch in enumerate(text) if ch == "\n"]
        self.openers = "`" if rule.backticks else "".join({d[0] for d in rule.delimiters})

    def run(self) -> str:
        text, rule = self.text, self.rule
        out: list[str] = []
        done = i = 0
        while (i := self._next_opener(i)) >= 0:
            if i > 0 and rule.bad_before(text[i - 1]):
                i += 1
                continue
            for delimiter in self._delimiters_at(i):
                start = i + len(delimiter)
                if start >= len(text) or text[start] == "\n" or not rule.first(text[start]):
                    continue
                close = self._closer(delimiter, start + 1)
                if close < 0 or close + len(delimiter) > self._line_end(start):
                    continue
                out += (text[done:i], text[start:close])
                done = i = close + len(delimiter)
                break
            else:
                i += 1
        out.append(text[done:])
        return "".join(out)

    def _next_opener(self, i: int) -> int:
        found = [p for p in (self.text.find(ch, i) for ch in self.openers) if p >= 0]
        return min(found, default=-1)

    def _delimiters_at(self, i: int) -> list[str]:
        if not self.rule.backticks:
            return [d for d in self.rule.delimiters if self.text.startswith(d, i)]
        run = _BACKTICKS.match(self.text, i)
        return ["`" * n for n in range(len(run.group()) if run else 0, 0, -1)]

    def _line_end(self, i: int) -> int:
        n = bisect_left(self.newlines, i)
        return self.newlines[n] if n < len(self.newlines) else len(self.text)

    def _closer(self, delimiter: str, at: int) -> int:
        """The first place at or after `at` where `delimiter` can close a span, or -1."""
        places = self.closers.get(delimiter)
        if places is None:
            places = self.closers[delimiter] = self._closing_places(delimiter)
        n = bisect_left(places, at)
        return places[n] if n < len(places) else -1

    def _closing_places(self, delimiter: str) -> list[int]:
        text, rule, size = self.text, self.rule, len(delimiter)
        places = []
        j = text.find(delimiter, 1)
        while j >= 0:
            after = j + size
            if (
                rule.last(text[j - 1])
                and text[j - 1] != "\n"
                and (after >= len(text) or not rule.bad_after(text[after]))
            ):
                places.append(j)
            j = text.find(delimiter, j + 1)
        return places


EMPHASIS = Delimited(delimiters=("**", "*"), bad_before=is_word, first=_not_space, last=_not_space, bad_after=is_word)
"""`(?<!\\w)(\\*\\*|\\*)(?=\\S)(.+?)(?<=\\S)\\1(?!\\w)`: the bold and italic marks trafilatura writes."""


def _word_or(mark: str) -> CharTest:
    return lambda ch: ch == mark or is_word(ch)


def _neither_space_nor(mark: str) -> CharTest:
    return lambda ch: ch != mark and not ch.isspace()


CODE = Delimited(backticks=True, first=lambda ch: ch != "\n")
"""``(`+)(.+?)\\1``"""
BOLD = Delimited(delimiters=("**",), first=_not_space, last=_not_space)
"""`\\*\\*(?=\\S)(.+?)(?<=\\S)\\*\\*`"""
STRUCK = Delimited(delimiters=("~~",), first=_not_space, last=_not_space)
"""`~~(?=\\S)(.+?)(?<=\\S)~~`"""
ITALIC = Delimited(
    delimiters=("*",),
    bad_before=_word_or("*"),
    first=_neither_space_nor("*"),
    last=_neither_space_nor("*"),
    bad_after=_word_or("*"),
)
"""`(?<![\\w*])\\*(?=[^\\s*])(.+?)(?<=[^\\s*])\\*(?![\\w*])`"""
UNDERSCORED = Delimited(
    delimiters=("_",),
    bad_before=is_word,
    first=_neither_space_nor("_"),
    last=_neither_space_nor("_"),
    bad_after=is_word,
)
"""`(?<![\\w])_(?=[^\\s_])(.+?)(?<=[^\\s_])_(?![\\w])`"""


# The functions below each stand for one pattern, on a single line (no "\n" in it).


def drop_comments(line: str) -> str:
    r"""`re.sub(r"<!--.*?-->", "", line)`"""
    out: list[str] = []
    done = 0
    while (start := line.find("<!--", done)) >= 0 and (end := line.find("-->", start + 4)) >= 0:
        out.append(line[done:start])
        done = end + 3
    out.append(line[done:])
    return "".join(out)


def _bracketed(line: str, opener: str, inner_min: int, follower: str, closer: str) -> str:
    r"""`re.sub(rf"{opener}([^\]]{{inner_min,}})\]{follower}[^{closer}]*{closer}", r"\1", line)`: a link
    or image, kept as its text. A start whose `]` is not followed as it should be fails the same
    way for every start before that `]`, so the search goes on after it."""
    out: list[str] = []
    done = i = 0
    while (i := line.find(opener, i)) >= 0:
        inner = i + len(opener)
        bracket = line.find("]", inner)
        if bracket < 0:
            break  # no later start has a "]" either
        if bracket - inner < inner_min:
            i += 1
            continue
        if not line.startswith(follower, bracket + 1):
            i = bracket
            continue
        end = line.find(closer, bracket + 2)
        if end < 0:
            break  # every later start would look for it after this one's "]"
        out += (line[done:i], line[inner:bracket])
        done = i = end + 1
    out.append(line[done:])
    return "".join(out)


def unwrap_images(line: str) -> str:
    r"""`re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", line)`"""
    return _bracketed(line, "![", 0, "(", ")")


def unwrap_links(line: str) -> str:
    r"""`re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", line)`"""
    return _bracketed(line, "[", 1, "(", ")")


def unwrap_reference_links(line: str) -> str:
    r"""`re.sub(r"\[([^\]]+)\]\[[^\]]*\]", r"\1", line)`"""
    return _bracketed(line, "[", 1, "[", "]")


def unwrap_autolinks(line: str) -> str:
    r"""`re.sub(r"<((?:https?|mailto):[^>\s]+)>", r"\1", line)`"""
    out: list[str] = []
    done = i = 0
    while (i := line.find("<", i)) >= 0:
        scheme = next((s for s in ("http:", "https:", "mailto:") if line.startswith(s, i + 1)), None)
        if scheme is None:
            i += 1
            continue
        start = i + 1 + len(scheme)
        tail = _URL_TAIL.match(line, start)
        end = tail.end() if tail else start
        if end == start or not line.startswith(">", end):
            # every start up to `end` runs into the same whitespace (or end of line)
            i = max(end, i + 1)
            continue
        out += (line[done:i], line[i + 1 : end])
        done = i = end + 1
    out.append(line[done:])
    return "".join(out)


def drop_tags(line: str) -> str:
    r"""`re.sub(r"</?[A-Za-z][^>\n]*>", "", line)`"""
    out: list[str] = []
    done = i = 0
    while (i := line.find("<", i)) >= 0:
        name = i + 2 if line.startswith("/", i + 1) and _is_letter(line, i + 2) else i + 1
        if not _is_letter(line, name):
            i += 1
            continue
        end = line.find(">", name + 1)
        if end < 0:
            break  # no later start can close either
        out.append(line[done:i])
        done = i = end + 1
    out.append(line[done:])
    return "".join(out)


def _is_letter(line: str, i: int) -> bool:
    return i < len(line) and line[i] in string.ascii_letters


def atx_heading(line: str, *, lazy_empty: bool) -> tuple[str, str] | None:
    r"""The marks and text of a `#` heading line (no newline in it), as these patterns match it:

    - `lazy_empty=False`: `^(#{1,6})\s+(.+?)\s*#*\s*$` (the chunker's);
    - `lazy_empty=True`: `^(#{1,6})\s+(.*?)(\s+#+)?\s*$` (the Markdown reader's).

    Both backtrack over the trailing whitespace from every character of the title: cubic in a
    line of spaces.
    """
    marks = len(line) - len(line.lstrip("#"))
    if not 1 <= marks <= 6:
        return None
    rest = line[marks:]
    body = rest.lstrip()
    spaces = len(rest) - len(body)
    if spaces == 0:
        return None
    if lazy_empty:
        # the shortest title after which only whitespace is left, or whitespace, "#"s, whitespace
        tail = len(body.rstrip())
        before_hashes = body[:tail].rstrip("#")
        stop = len(before_hashes.rstrip())
        if stop < len(before_hashes) < tail:
            tail = stop
        return line[:marks], body[:tail]
    if not body:
        # `\s+` gives its last character back so that `.+?` has one
        if spaces < 2:
            return None
        return line[:marks], rest[-1]
    tail = len(body.rstrip().rstrip("#").rstrip())
    return line[:marks], body[: max(tail, 1)]
