"""Render a draft as a self-contained Markdown report with numbered, checkable citations."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from contracts.work import CLAIM_LABEL, Changes, Claim, CodeBlock, Draft, ReportMethods, SourceRef, Table
from services.reporter.domain.layout import EXCERPT_CHARS, RenderOptions, lay_out
from services.reporter.domain.length import findings_words
from services.reporter.domain.structure import (
    CONTENTS,
    code_language,
    code_lines,
    contents,
    flat,
    grid,
    methods_facts,
    searches_table,
)

# Characters that can start inline constructs anywhere in a line (emphasis, code, links, raw HTML,
# GFM tables and strikethrough); escaping them keeps claim text literal.
_INLINE_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")
# Entity references would otherwise be decoded ("&amp;" would render as "&").
_ENTITY = re.compile(r"&(?=#?[0-9A-Za-z]+;)")
# Block constructs that only matter at the start of a line: headings, quotes, lists, setext rules.
_LINE_START = re.compile(r"^(?:[#>+=-]|\d+(?=[.)]))")
# A heading's trailing " ###" is read as a closing sequence and dropped.
_TRAILING_HASHES = re.compile(r"(?<=\s)(#+)$")
_URL = re.compile(r"https?://[^\s<>]+")


def collapse(text: str) -> str:
    """Fold every run of whitespace, newlines included, into one space and drop control codes."""
    return flat(text)


def escape(text: str) -> str:
    """Make arbitrary text render literally as one Markdown paragraph line."""
    flat = _ENTITY.sub("&amp;", collapse(text))
    flat = _INLINE_SPECIAL.sub(r"\\\1", flat)
    flat = _TRAILING_HASHES.sub(r"\\\1", flat)
    match = _LINE_START.match(flat)
    if match is None:
        return flat
    # An ordered-list marker is digits plus "." or ")": escaping the punctuation defuses it.
    if match.group().isdigit():
        return f"{flat[: match.end()]}\\{flat[match.end() :]}"
    return f"\\{flat}"


def markers(citations: Iterable[int]) -> str:
    """Format citation numbers as "[1][3]", keeping first-seen order and dropping repeats."""
    return "".join(f"[{number}]" for number in dict.fromkeys(citations))


def cite(text: str, citations: Sequence[int]) -> str:
    """Append citation markers after a sentence, e.g. "Water boils at 100 °C. [2][5]"."""
    # Markers go after the closing punctuation, never inside it: moving a "?" or "." would
    # corrupt claims that quote code or grammar rules.
    text = text.rstrip()
    tag = markers(citations)
    return f"{text} {tag}" if tag else text


def excerpt(passage: str, limit: int = EXCERPT_CHARS) -> str:
    """Shorten a passage to about `limit` characters, on a word boundary when one is near."""
    flat = collapse(passage)
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1]
    space = cut.rfind(" ")
    # Backing off to a space far from the limit would throw most of the quote away (long URLs,
    # identifiers), so such a token is cut mid-way instead.
    if space >= limit * 2 // 3:
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "…"


def format_timestamp(moment: datetime) -> str:
    """Show a timestamp in UTC, treating a naive one as already UTC."""
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%d %H:%M UTC")


def _claim(claim: Claim) -> str:
    # Escape first, then add markers: the markers' brackets must stay unescaped.
    return cite(_labelled(claim.text), claim.citations)


def _labelled(text: str) -> str:
    """The claim's text escaped, its API label ("`math.fsum()`: ...") kept as inline code: a label
    is a dotted name, which a code span shows literally, while escaped it would show its backticks."""
    found = CLAIM_LABEL.match(collapse(text))
    if found is None:
        return escape(text)
    return f"`{found.group('name')}{found.group('call') or ''}`: {escape(found.group('quote'))}"


def source_url(source: SourceRef) -> str | None:
    """The source's address when it is a web page, for a link a reader can follow."""
    url = source.source_id.strip()
    return url if _URL.fullmatch(url) else None


def _source(source: SourceRef, excerpt_chars: int) -> list[str]:
    label = escape(source.title) or "Untitled source"
    if source.location.strip():
        label = f"{label} — {escape(source.location)}"
    url = source_url(source)
    if url:
        label = f"{label} · <{url}>"
    lines = [f"{source.number}. {label}"]
    quoted = excerpt(source.passage, excerpt_chars)
    if quoted:
        # Indented to the list item's content column so the quote belongs to this item.
        indent = " " * (len(str(source.number)) + 2)
        lines += ["", f"{indent}> {escape(quoted)}"]
    return lines


def slugs(headings: Sequence[str]) -> list[str]:
    """GitHub-style anchors of the headings: lower case, punctuation dropped, spaces as hyphens,
    repeats numbered."""
    seen: dict[str, int] = {}
    out = []
    for heading in headings:
        slug = "".join(ch for ch in heading.lower() if ch.isalnum() or ch in " -_").replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        out.append(f"{slug}-{count}" if count else slug)
    return out


def _contents(headings: Sequence[str]) -> list[str]:
    lines = [f"## {CONTENTS}", ""]
    for number, (heading, slug) in enumerate(zip(headings, slugs([CONTENTS, *headings])[1:], strict=True), 1):
        lines.append(f"{number}. [{escape(heading)}](#{slug})")
    return [*lines, ""]


def _cell(text: str) -> str:
    # Inside a table a pipe ends the cell even after other escapes; escape() already covers it.
    return escape(text) or " "


def _table(table: Table) -> list[str]:
    g = grid(table)
    lines = []
    if g.caption or table.citations:
        lines += [cite(f"*{escape(g.caption) or 'Table'}*", table.citations), ""]
    lines.append("| " + " | ".join(_cell(h) for h in g.header) + " |")
    lines.append("|" + "---|" * len(g.header))
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in g.rows]
    return [*lines, ""]


def _code(block: CodeBlock) -> list[str]:
    lines = code_lines(block)
    # The fence must be longer than any run of backticks inside, or the code would close it.
    longest = max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    out = [f"{fence}{code_language(block)}", *lines, fence]
    if block.citations:
        out += ["", f"Quoted from {markers(block.citations)}"]
    return [*out, ""]


def _methods(methods: ReportMethods, draft: Draft, asked: str) -> list[str]:
    facts = methods_facts(methods, draft, findings_words(draft), asked)
    lines = [f"- **{label}:** {escape(value)}" for label, value in facts]
    lines.append("")
    if methods.searches:
        lines += _table(searches_table(methods))
    return lines


CHANGE_HEADINGS = (
    ("new_sources", "New sources"),
    ("dropped_sources", "Sources no longer found"),
    ("new_findings", "New findings"),
    ("dropped_findings", "Findings no longer supported"),
)


def change_lists(changes: Changes) -> list[tuple[str, list[str]]]:
    """The non-empty lists of a monitor run's changes, with their headings, in report order."""
    return [(heading, getattr(changes, field)) for field, heading in CHANGE_HEADINGS if getattr(changes, field)]


def _changes(changes: Changes) -> list[str]:
    lines = [f"*Compared with run {escape(changes.previous_run_id)}.*", ""]
    found = change_lists(changes)
    if not found:
        return [*lines, "Nothing changed: the same sources support the same findings.", ""]
    for heading, items in found:
        lines += [f"**{heading}:**", "", *(f"- {escape(item)}" for item in items), ""]
    return lines


class _Lines:
    """The report's parts as Markdown lines."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def heading(self, text: str) -> None:
        self.lines += [f"## {escape(text)}", ""]

    def summary(self, claims: list[Claim]) -> None:
        self.lines += [" ".join(_claim(claim) for claim in claims), ""]

    def nothing(self, text: str) -> None:
        self.lines += [f"*{text}*", ""]

    note = nothing

    def changes(self, changes: Changes) -> None:
        self.lines += _changes(changes)

    def claim(self, claim: Claim) -> None:
        self.lines += [_claim(claim), ""]

    def table(self, table: Table) -> None:
        self.lines += _table(table)

    def code(self, block: CodeBlock) -> None:
        self.lines += _code(block)

    def methods(self, methods: ReportMethods, draft: Draft, asked: str) -> None:
        self.lines += _methods(methods, draft, asked)

    def source(self, source: SourceRef, excerpt_chars: int) -> None:
        self.lines += [*_source(source, excerpt_chars), ""]


def render_markdown(draft: Draft, options: RenderOptions) -> str:
    """Render the draft as Markdown: title, question, contents, summary, what changed (for a
    monitor's run), sections with their tables and code, methods and numbered sources."""
    lines = [
        f"# {escape(draft.title) or 'Research report'}",
        "",
        f"*Run {escape(options.run_id)} · Generated {format_timestamp(options.generated_at)}*",
        "",
        f"**Question:** {escape(draft.question)}",
        "",
        *_contents(contents(draft, options.changes, options.methods)),
    ]
    lay_out(draft, options, _Lines(lines))
    return "\n".join(lines).rstrip("\n") + "\n"
