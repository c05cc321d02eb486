"""Plain text of an uploaded file: PDF page by page, HTML's main text, Markdown and text as they are.

Pure: bytes in, text out. A PDF becomes one `# Page N` section per page (pdfium, shared with the
web fetcher), so every chunk's location names the page a citation points at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from contracts.document import ContentType
from services.retriever.domain.chunking import Chunk, chunk_text
from services.retriever.domain.corpus import to_text
from services.retriever.web.extract import (
    UNLIMITED,
    ExtractionError,
    OverLimit,
    TextLimits,
    check_length,
    extract_page,
)

_PAGE = re.compile(r"^# Page (\d+)$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Extracted:
    text: str
    pages: int | None = None  # PDF only: pages with a text layer


def extract_file(data: bytes, content_type: ContentType, title: str, limits: TextLimits = UNLIMITED) -> Extracted:
    """The text of an uploaded file of the given (already sniffed) type; ValueError says why there
    is none (`OverLimit`: past the limits on characters or pages)."""
    if content_type == "application/pdf":
        text = extract_page(data, "pdf", url=title, limits=limits).text
        return Extracted(text, pages=len(_PAGE.findall(text)))
    decoded = _decode(data)
    if content_type == "text/html":
        try:
            # trafilatura keeps the article and drops navigation and boilerplate
            return Extracted(extract_page(data, "html", url=title, limits=limits).text)
        except OverLimit:
            raise
        except ExtractionError:
            pass  # a fragment too small for it to call an article: read all of it instead
    text = to_text(decoded, content_type)
    check_length(text, limits.max_chars)
    return Extracted(text)


def chunk_pages(doc_id: str, title: str, text: str) -> list[Chunk]:
    """Chunks of a PDF's text that never span two pages, each located at its page ("page 3", "page 3, part 2").

    The general chunker would merge short pages into one chunk, and a citation would then name the
    wrong page.
    """
    marks = list(_PAGE.finditer(text))
    chunks: list[Chunk] = []
    for n, mark in enumerate(marks):
        end = marks[n + 1].start() if n + 1 < len(marks) else len(text)
        page = int(mark.group(1))
        parts = chunk_text(doc_id, title, text[mark.end() : end].strip())
        for k, part in enumerate(parts):
            where = f"page {page}" if len(parts) == 1 else f"page {page}, part {k + 1}"
            heading = f"Page {page}" + (f" · {part.heading}" if part.heading else "")
            chunks.append(replace(part, index=len(chunks), location=where, heading=heading))
    return chunks


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"the file is not UTF-8 text (byte {exc.start})") from exc
