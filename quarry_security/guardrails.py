"""Guardrails shared by the services that screen text: prompt injection in, PII out. Pure.

Injection screening finds text that addresses the model instead of informing the reader:
orders to ignore instructions, role-play or system-prompt talk, chat-template markers. Such
text in a question stops the run; in a source it is cut before synthesis, so an instruction
planted in a document can be quoted by nobody and followed by nothing.

PII screening finds e-mail addresses, phone numbers, payment card numbers (Luhn-checked) and
national ids (US SSN, UK National Insurance number), for redaction or for blocking a report.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from dataclasses import dataclass

INJECTION_PATTERNS: dict[str, re.Pattern[str]] = {
    "ignore_instructions": re.compile(
        r"\b(ignore|disregard|forget|override|bypass)\b[^.]{0,40}\b(previous|prior|above|earlier|all|any|your|the)\b"
        r"[^.]{0,30}\b(instructions?|prompts?|rules|directions|guidelines|context)\b",
        re.IGNORECASE,
    ),
    "new_instructions": re.compile(
        r"\b(new|updated|real|actual)\s+(instructions?|system\s+prompt)\s*[:\-]", re.IGNORECASE
    ),
    "role_override": re.compile(
        r"\b(you\s+are\s+now|from\s+now\s+on\s+you|act\s+as\s+(an?\s+)?(unfiltered|jailbroken|different|new)|"
        r"pretend\s+(that\s+)?you\s+are|pretend\s+to\s+be\s+(an?\s+)?(AI|assistant|model|chatbot|human)|"
        r"developer\s+mode|do\s+anything\s+now|DAN\s+mode)\b",
        re.IGNORECASE,
    ),
    "prompt_exfiltration": re.compile(
        r"\b(reveal|print|show|repeat|output|leak)\b[^.]{0,30}\b(system\s+prompt|hidden\s+instructions|"
        r"initial\s+prompt|your\s+instructions)\b",
        re.IGNORECASE,
    ),
    "chat_markup": re.compile(
        r"(<\|im_start\|>|<\|im_end\|>|<\|system\|>|\[/?INST\]|^\s*###\s*(system|instruction)\b)",
        re.IGNORECASE | re.MULTILINE,
    ),
    "tool_abuse": re.compile(
        r"\b(send|post|upload|exfiltrate|forward)\b[^.\n]{0,40}\b(to|at)\b[^.\n]{0,10}(https?://|[\w.-]+@[\w-]+\.)",
        re.IGNORECASE,
    ),
}

# Bounded parts (RFC 5321: a local part of 64 characters, a domain of 255): unbounded ones made a
# long run of "a." without an "@" take quadratic time (18 s for 80 KB in the reporter).
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,252}\.[A-Za-z]{2,63}\b")
# Not inside longer dotted, dashed or spaced digit runs: IPs, UUIDs and card-like numbers are not phones.
_PHONE = re.compile(
    r"(?<![\w+.-])(?<!\d\s)(\+\d{1,3}[\s.-]?)?(\(\d{2,4}\)[\s.-]?|\d{2,4}[\s.-])\d{3,4}[\s.-]\d{3,4}"
    r"(?![-.]?\w)(?!\s\d)"
)
_CARD = re.compile(r"\b(?:\d[ -]?){13,19}\b")
_SSN = re.compile(r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b")
_UK_NINO = re.compile(r"\b(?![DFIQUV])[A-Z](?![DFIOQUV])[A-Z]\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D]\b")

PII_LABELS = {"email": "EMAIL", "phone": "PHONE", "card": "CARD", "national_id": "NATIONAL-ID"}


@dataclass(frozen=True)
class Finding:
    kind: str  # the pattern's name, e.g. "ignore_instructions" or "email"
    start: int
    end: int
    text: str


# Letters that look like Latin ones (Cyrillic, Greek, Armenian, IPA), by code point: a model reads
# "ignore" spelt with Cyrillic i, o and e as "ignore", so it is matched as "ignore". NFKC already
# folds fullwidth and mathematical letters.
_LOOKALIKES: dict[int, str] = {
    # Cyrillic
    0x0430: "a", 0x0435: "e", 0x043E: "o", 0x0440: "p", 0x0441: "c", 0x0443: "y", 0x0445: "x", 0x0456: "i",
    0x0458: "j", 0x0455: "s", 0x04BB: "h", 0x0501: "d", 0x051B: "q", 0x051D: "w", 0x04CF: "l", 0x04AF: "y",
    0x0261: "g", 0x0410: "A", 0x0412: "B", 0x0415: "E", 0x041A: "K", 0x041C: "M", 0x041D: "H", 0x041E: "O",
    0x0420: "P", 0x0421: "C", 0x0422: "T", 0x0425: "X", 0x0423: "Y", 0x0406: "I", 0x0408: "J", 0x0405: "S",
    0x04C0: "I",
    # Greek
    0x03B1: "a", 0x03BF: "o", 0x03C1: "p", 0x03BD: "v", 0x03B9: "i", 0x03BA: "k", 0x03C5: "u", 0x03C7: "x",
    0x03F2: "c", 0x03F3: "j", 0x0391: "A", 0x0392: "B", 0x0395: "E", 0x0396: "Z", 0x0397: "H", 0x0399: "I",
    0x039A: "K", 0x039C: "M", 0x039D: "N", 0x039F: "O", 0x03A1: "P", 0x03A4: "T", 0x03A5: "Y", 0x03A7: "X",
    # Armenian, Latin variants and IPA
    0x0585: "o", 0x057D: "u", 0x0570: "h", 0x0578: "n", 0x0131: "i", 0x0237: "j", 0x0251: "a", 0x0269: "i",
    0x029F: "L",
}  # fmt: skip
# Small capitals ("ɪɢɴᴏʀᴇ") and negative squared or circled letters ("🅸🅶🅽🅾🆁🅴") are not folded by
# NFKC; their names say which letter they are.
_LETTER_BY_NAME = re.compile(
    r"(?:LATIN (?:LETTER )?SMALL CAPITAL|NEGATIVE (?:SQUARED|CIRCLED) LATIN CAPITAL LETTER) ([A-Z])"
)
# The pieces `normalise` reads: an HTML character reference ("&#105;", "&#x69;", "&nbsp;"), which a
# model reads as what it stands for; a run of other ASCII, read as written; any other character.
_PIECE = re.compile(
    r"(?P<ref>&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});?)"
    r"|(?P<ascii>[\x00-\x25\x27-\x7f]+|&)|(?P<other>.)",
    re.DOTALL,
)
# Unicode tag characters (U+E0020-U+E007E) are invisible, yet models read each as the ASCII
# character it shadows ("ASCII smuggling"): read them so, not as the nothing a person sees.
_TAG_OFFSET, _TAG_FIRST, _TAG_LAST = 0xE0000, 0xE0020, 0xE007E
# Invisible characters outside the format category (Cf is removed as a whole).
_INVISIBLE = frozenset("\u115f\u1160\u3164\uffa0\u2800")
# Each pass cuts at least one sentence; a text still carrying an injection after this many is dropped whole.
MAX_CUT_PASSES = 16


@dataclass(frozen=True)
class Screened:
    """`text` as the screening reads it, and for each of its characters the span of the original
    it came from (`origin` to `stop`: one character, or a whole character reference)."""

    text: str
    origin: list[int]
    stop: list[int]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The span of the original text that `text[start:end]` was read from."""
        return self.origin[start], self.stop[max(end - 1, start)]


def normalise(text: str) -> Screened:
    """`text` as a model reads it: HTML character references decoded, tag characters read as ASCII,
    NFKC, no zero-width or other format characters, no combining marks, look-alike letters folded
    to Latin ones."""
    if text.isascii() and "&" not in text:
        return Screened(text, list(range(len(text))), list(range(1, len(text) + 1)))
    out: list[str] = []
    origin: list[int] = []
    stop: list[int] = []
    for m in _PIECE.finditer(text):
        start, end = m.span()
        if m.lastgroup == "ascii":  # read as written, in one go: most of most texts
            out.append(m.group(0))
            origin.extend(range(start, end))
            stop.extend(range(start + 1, end + 1))
            continue
        chars = html.unescape(m.group(0)) if m.lastgroup == "ref" else m.group(0)
        read = "".join(_read_as(char) for char in chars)
        out.append(read)
        origin += [start] * len(read)
        stop += [end] * len(read)
    return Screened("".join(out), origin, stop)


@functools.lru_cache(maxsize=16384)
def _read_as(char: str) -> str:
    if _TAG_FIRST <= ord(char) <= _TAG_LAST:
        return chr(ord(char) - _TAG_OFFSET)
    if char in _INVISIBLE or unicodedata.category(char) == "Cf":
        return ""
    parts = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", char))
    return "".join(_fold(part) for part in parts if unicodedata.category(part) not in ("Mn", "Me", "Cf"))


def _fold(char: str) -> str:
    if ord(char) in _LOOKALIKES:
        return _LOOKALIKES[ord(char)]
    named = _LETTER_BY_NAME.fullmatch(unicodedata.name(char, ""))
    return named.group(1).lower() if named else char


# Markdown emphasis and code marks, and HTML tags, against a letter: a model reads "ig**no**re" and
# "instruc<b>tions</b>" through them.
_MARKUP = r"(?:[*_`~]|</?[A-Za-z][A-Za-z0-9]*>)+"
_MARKUP_BY_LETTER = re.compile(rf"(?<=[^\W\d_]){_MARKUP}|{_MARKUP}(?=[^\W\d_])")


def unmarked(screened: Screened) -> Screened:
    """`screened` without the markup that touches a letter. For matching only: the prompt delimiter
    is looked for with its tags, in `normalise`'s reading."""
    if not _MARKUP_BY_LETTER.search(screened.text):
        return screened
    parts: list[str] = []
    origin: list[int] = []
    stop: list[int] = []
    cursor = 0
    for m in (*_MARKUP_BY_LETTER.finditer(screened.text), None):
        end = m.start() if m else len(screened.text)
        parts.append(screened.text[cursor:end])
        origin += screened.origin[cursor:end]
        stop += screened.stop[cursor:end]
        cursor = m.end() if m else end
    return Screened("".join(parts), origin, stop)


def injection_findings(text: str) -> list[Finding]:
    """Every span of `text` that reads as an instruction to the model, once normalised (`normalise`),
    with and without the markup against letters (`unmarked`: "ig**no**re", but "<|im_start|>" keeps
    its underscore). Spans are in `text`'s own offsets; `Finding.text` is what the screening read."""
    normalised = normalise(text)
    readings = {id(r): r for r in (normalised, unmarked(normalised))}  # one reading when there is no markup
    found: dict[tuple[str, int, int], Finding] = {}
    for screened in readings.values():
        for name, pattern in INJECTION_PATTERNS.items():
            for m in pattern.finditer(screened.text):
                if m.end() == m.start():
                    continue
                start, end = screened.span(m.start(), m.end())
                found.setdefault((name, start, end), Finding(name, start, end, m.group(0)))
    return sorted(found.values(), key=lambda f: f.start)


# Sentence ends and line breaks: the pieces a cut removes whole.
_PIECE_BREAK = re.compile(r"(?<=[.!?])\s+|\n+")


def strip_injections(text: str) -> tuple[str, list[Finding]]:
    """`text` without the sentences (or lines) that carry an injection, and what was cut.

    A match may span several pieces (a line break inside it): every piece it touches goes. Cutting
    can join text into a new match, so the result is screened again until nothing is found.
    """
    all_found: list[Finding] = []
    for _ in range(MAX_CUT_PASSES):
        findings = injection_findings(text)
        if not findings:
            return text, all_found
        all_found += findings
        text = _cut(text, findings)
    return ("", all_found) if injection_findings(text) else (text, all_found)


def _cut(text: str, findings: list[Finding]) -> str:
    pieces: list[tuple[int, int, int]] = []  # (start, end, end of the separator after it)
    cursor = 0
    for m in _PIECE_BREAK.finditer(text):
        pieces.append((cursor, m.start(), m.end()))
        cursor = m.end()
    pieces.append((cursor, len(text), len(text)))
    kept: list[str] = []
    for start, end, after in pieces:
        if not any(f.start < max(end, start + 1) and start < f.end for f in findings):
            kept.append(text[start:after])
    return "".join(kept).strip()


def pii_findings(text: str) -> list[Finding]:
    """E-mail addresses, phone numbers, card numbers and national ids in `text`."""
    found = [Finding("email", m.start(), m.end(), m.group(0)) for m in _EMAIL.finditer(text)]
    found += [Finding("card", m.start(), m.end(), m.group(0)) for m in _CARD.finditer(text) if _luhn(m.group(0))]
    found += [Finding("national_id", m.start(), m.end(), m.group(0)) for m in _SSN.finditer(text)]
    found += [Finding("national_id", m.start(), m.end(), m.group(0)) for m in _UK_NINO.finditer(text)]
    taken = [(f.start, f.end) for f in found]
    for m in _PHONE.finditer(text):
        digits = sum(c.isdigit() for c in m.group(0))
        overlaps = any(m.start() < end and start < m.end() for start, end in taken)
        if 8 <= digits <= 15 and not overlaps:
            found.append(Finding("phone", m.start(), m.end(), m.group(0)))
    return sorted(found, key=lambda f: f.start)


def redact_pii(text: str) -> tuple[str, list[Finding]]:
    """`text` with each PII span replaced by a label such as [EMAIL REDACTED]."""
    findings = pii_findings(text)
    out, cursor = [], 0
    for f in findings:
        if f.start < cursor:
            continue  # overlapping matches: the first one already covers it
        out += [text[cursor : f.start], f"[{PII_LABELS[f.kind]} REDACTED]"]
        cursor = f.end
    out.append(text[cursor:])
    return "".join(out), findings


def _luhn(candidate: str) -> bool:
    digits = [int(c) for c in candidate if c.isdigit()]
    if not 13 <= len(digits) <= 19 or len(set(digits)) == 1:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0
