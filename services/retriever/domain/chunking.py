"""Splitting a document into citable chunks that remember the section they came from."""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.retriever.domain.corpus import Document
from services.retriever.domain.spans import atx_heading

MIN_CHARS = 600
MAX_CHARS = 1200
LEAD_CHARS = 200
_HEADING_IN_LOCATION = 80
# RST titles in docstrings are often whole function signatures, so allow long ones.
_MAX_TITLE_LINE = 300

_UNDERLINE = re.compile(r"""^([=\-*~^"#+`:.'_])\1{2,}\s*$""")
_SENTENCE_END = re.compile(r"""[.!?]["')\]]*\s+""")


@dataclass(frozen=True, slots=True)
class Chunk:
    """A citable piece of a document; `location` is what a reader is pointed to."""

    doc_id: str
    title: str
    location: str
    text: str
    index: int
    heading: str = ""
    lead: str = ""
    """The first sentence of the chunk's section: what the section (often one API) is for."""


@dataclass(frozen=True, slots=True)
class _Block:
    text: str
    is_heading: bool


def chunk_document(document: Document, *, min_chars: int = MIN_CHARS, max_chars: int = MAX_CHARS) -> list[Chunk]:
    """Chunks of a document in reading order, each at most `max_chars` long."""
    return chunk_text(document.doc_id, document.title, document.text, min_chars=min_chars, max_chars=max_chars)


def chunk_text(
    doc_id: str, title: str, text: str, *, min_chars: int = MIN_CHARS, max_chars: int = MAX_CHARS
) -> list[Chunk]:
    """Chunks of plain text, at most `max_chars` each, broken at headings, paragraphs, then sentences."""
    if not 0 < min_chars < max_chars:
        raise ValueError("need 0 < min_chars < max_chars")
    builder = _ChunkBuilder(doc_id, title, min_chars, max_chars)
    for block in _blocks(text):
        if block.is_heading:
            builder.heading(block.text)
        else:
            builder.paragraph(block.text)
    return builder.finish()


def location_of(heading: str, index: int) -> str:
    """The human-readable place of chunk `index` (0-based) under `heading`."""
    if not heading:
        return f"part {index + 1}"
    if len(heading) > _HEADING_IN_LOCATION:
        heading = heading[: _HEADING_IN_LOCATION - 1].rstrip() + "…"
    return f"§ {heading}, part {index + 1}"


def _blocks(text: str) -> list[_Block]:
    """Headings (markdown `#`, or a line underlined RST/setext style) and paragraphs."""
    blocks: list[_Block] = []
    paragraph: list[str] = []

    def flush() -> None:
        if any(line.strip() for line in paragraph):
            blocks.append(_Block("\n".join(paragraph).rstrip(), is_heading=False))
        paragraph.clear()

    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        following = lines[i + 1] if i + 1 < len(lines) else ""
        atx = atx_heading(line, lazy_empty=False)
        if not paragraph and _is_title(line, following) and _is_underline_of(following, line):
            blocks.append(_Block(line.strip(), is_heading=True))
            i += 2
            continue
        if atx:
            flush()
            blocks.append(_Block(atx[1], is_heading=True))
        elif not line.strip() or _UNDERLINE.match(line):
            flush()  # blank lines, RST overlines and horizontal rules all end a paragraph
        else:
            paragraph.append(line)
        i += 1
    flush()
    return blocks


def _is_underline_of(line: str, title: str) -> bool:
    # Half the title's length at least, so a stray "---" under a sentence is not taken for one.
    return bool(_UNDERLINE.match(line)) and len(line.strip()) * 2 >= len(title.strip())


def _is_title(line: str, underline: str) -> bool:
    stripped = line.strip()
    if not stripped or line[0].isspace():
        return False
    # A signature can run longer ("class Popen(args, bufsize=-1, executable=None, ...)"): underlined
    # to its full length, it is a heading all the same.
    return len(stripped) <= _MAX_TITLE_LINE or len(underline.strip()) >= len(stripped)


class _ChunkBuilder:
    """Greedy packing: prefer to break at headings and paragraphs, fall back to sentences."""

    def __init__(self, doc_id: str, title: str, min_chars: int, max_chars: int) -> None:
        self.doc_id = doc_id
        self.title = title
        self.min_chars = min_chars
        self.max_chars = max_chars
        # A heading carried into a chunk with a piece behind it must still fit, hence the thirds.
        self.heading_cap = max_chars // 3
        self.piece_cap = max_chars - self.heading_cap - 2
        self.chunks: list[Chunk] = []
        self.section = ""
        self.chunk_heading = ""
        # The section's lead is its first sentence, known only once its first paragraph arrives.
        self.lead = ""
        self.chunk_lead = ""
        self.wants_lead = False
        self.paragraphs: list[str] = []
        self.last_is_heading = False

    @property
    def size(self) -> int:
        return sum(len(p) for p in self.paragraphs) + 2 * max(0, len(self.paragraphs) - 1)

    def heading(self, text: str) -> None:
        # A new section is worth a shorter chunk (citations then name the right heading); only a
        # scrap of the previous section is merged in rather than left on its own.
        if self.size >= self.min_chars // 2:
            self._flush()
        self.section = text
        self.lead, self.wants_lead = "", True
        self._append(text[: self.heading_cap], new_paragraph=True)
        self.last_is_heading = True

    def paragraph(self, text: str) -> None:
        if self.wants_lead:
            self.lead, self.wants_lead = _lead(text), False
            if self.chunk_heading == self.section:
                self.chunk_lead = self.lead
        if self.size >= self.min_chars and self.size + 2 + len(text) > self.max_chars:
            self._flush()  # enough already, and this paragraph would not fit whole
        for n, piece in enumerate(_pieces(text, self.piece_cap)):
            separator = 2 if n == 0 and self.paragraphs else 0
            if self.paragraphs and self.size + separator + len(piece) > self.max_chars:
                self._flush()
            self._append(piece, new_paragraph=n == 0)
            self.last_is_heading = False

    def finish(self) -> list[Chunk]:
        self._flush(carry_heading=False)
        return self.chunks

    def _append(self, piece: str, *, new_paragraph: bool) -> None:
        if not self.paragraphs:
            self.chunk_heading = self.section
            self.chunk_lead = "" if self.wants_lead else self.lead
        if new_paragraph or not self.paragraphs:
            self.paragraphs.append(piece)
        else:
            self.paragraphs[-1] += piece

    def _flush(self, *, carry_heading: bool = True) -> None:
        carried = None
        if carry_heading and self.last_is_heading and self.paragraphs:
            carried = self.paragraphs.pop()  # never end a chunk on a bare heading
        text = "\n\n".join(p.rstrip() for p in self.paragraphs).strip("\n").rstrip()
        if text.strip():
            index = len(self.chunks)
            self.chunks.append(
                Chunk(
                    doc_id=self.doc_id,
                    title=self.title,
                    location=location_of(self.chunk_heading, index),
                    text=text,
                    index=index,
                    heading=self.chunk_heading,
                    lead=self.chunk_lead,
                )
            )
        self.paragraphs = []
        if carried is not None:
            self._append(carried, new_paragraph=True)


def _lead(paragraph: str) -> str:
    """A paragraph's first sentence, bounded: a section's own one-line account of itself."""
    match = _SENTENCE_END.search(paragraph)
    sentence = paragraph[: match.end()] if match else paragraph
    return " ".join(sentence.split())[:LEAD_CHARS]


def _pieces(paragraph: str, cap: int) -> list[str]:
    """Sentences of a paragraph, each at most `cap` long; concatenated they give it back."""
    pieces: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(paragraph):
        pieces.append(paragraph[start : match.end()])
        start = match.end()
    if start < len(paragraph):
        pieces.append(paragraph[start:])
    out: list[str] = []
    for piece in pieces:
        out.extend(_split_long(piece, cap))
    return out


def _split_long(text: str, cap: int) -> list[str]:
    """Cut at the last newline, else the last space, before `cap`; hard-cut only as a last resort."""
    out: list[str] = []
    while len(text) > cap:
        window = text[:cap]
        newline, space = window.rfind("\n") + 1, window.rfind(" ") + 1
        cut = newline if newline >= cap // 4 else space if space >= cap // 4 else cap
        out.append(text[:cut])
        text = text[cut:]
    if text:
        out.append(text)
    return out


def indexed_text(chunk: Chunk) -> str:
    """What the lexical vector of a chunk is built from: the text plus its document title and section."""
    # A later part of a section does not repeat the heading, yet a query naming the topic should find it.
    return f"{chunk.title}\n{chunk.heading}\n{chunk.text}"
