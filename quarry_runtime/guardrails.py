"""Guardrails shared by the services that screen text: prompt injection in, PII out. Pure.

Injection screening finds text that addresses the model instead of informing the reader:
orders to ignore instructions, role-play or system-prompt talk, chat-template markers. Such
text in a question stops the run; in a source it is cut before synthesis, so an instruction
planted in a document can be quoted by nobody and followed by nothing.

PII screening finds e-mail addresses, phone numbers, payment card numbers (Luhn-checked) and
national ids (US SSN, UK National Insurance number), for redaction or for blocking a report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

INJECTION_PATTERNS: dict[str, re.Pattern[str]] = {
    "ignore_instructions": re.compile(
        r"\b(ignore|disregard|forget|override|bypass)\b[^.\n]{0,40}\b(previous|prior|above|earlier|all|any|your|the)\b"
        r"[^.\n]{0,30}\b(instructions?|prompts?|rules|directions|guidelines|context)\b",
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
        r"\b(reveal|print|show|repeat|output|leak)\b[^.\n]{0,30}\b(system\s+prompt|hidden\s+instructions|"
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

_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
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


def injection_findings(text: str) -> list[Finding]:
    """Every span of `text` that reads as an instruction to the model."""
    found = [
        Finding(name, m.start(), m.end(), m.group(0))
        for name, pattern in INJECTION_PATTERNS.items()
        for m in pattern.finditer(text)
    ]
    return sorted(found, key=lambda f: f.start)


def strip_injections(text: str) -> tuple[str, list[Finding]]:
    """`text` without the sentences (or lines) that carry an injection, and what was cut."""
    findings = injection_findings(text)
    if not findings:
        return text, []
    # Split keeping the separators, so what stays keeps its sentences, lines and headings.
    parts = re.split(r"((?<=[.!?])\s+|\n+)", text)
    kept: list[str] = []
    for piece, separator in zip(parts[::2], [*parts[1::2], ""], strict=True):
        if not injection_findings(piece):
            kept += [piece, separator]
    return "".join(kept).strip(), findings


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
