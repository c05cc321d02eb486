"""Main text of a fetched page, with its title and headings kept so citations can name the section.

HTML goes through trafilatura, which drops navigation, footers, cookie banners and the like and
gives the article as Markdown (`#` headings, which the chunker reads as sections). PDFs are read
with pdfium, one `# Page N` section per page. Pure: bytes in, text out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pypdfium2  # type: ignore[import-untyped]
import trafilatura
from trafilatura.metadata import extract_metadata
from trafilatura.utils import load_html

from services.retriever.domain.errors import RetrieverError
from services.retriever.domain.spans import EMPHASIS

PageKind = Literal["html", "text", "pdf"]

MEDIA_TYPES: dict[str, PageKind] = {
    "text/html": "html",
    "application/xhtml+xml": "html",
    "text/plain": "text",
    "application/pdf": "pdf",
}
"""The content types fetched at all; anything else is refused before its body is read."""

_MAX_TITLE = 300


class ExtractionError(RetrieverError, ValueError):
    """The page has no main text to offer (or is not what its content type says)."""


class OverLimit(ExtractionError):
    """The document is past a limit on its pages, its text, or the work of parsing it; the message says which."""


@dataclass(frozen=True, slots=True)
class TextLimits:
    """How much a document may yield: characters of text, and pages of a PDF (None: no limit)."""

    max_chars: int | None = None
    max_pages: int | None = None


UNLIMITED = TextLimits()


@dataclass(frozen=True, slots=True)
class ExtractedPage:
    title: str
    text: str


def extract_page(
    body: bytes, kind: PageKind, *, url: str, charset: str | None = None, limits: TextLimits = UNLIMITED
) -> ExtractedPage:
    """The title and main text of a page body of the given kind; `OverLimit` past the limits."""
    match kind:
        case "html":
            page = _html(body, url)
        case "text":
            text = _decode(body, charset).replace("\r\n", "\n").strip()
            if not text:
                raise ExtractionError("the page is empty")
            first = text.split("\n", 1)[0].strip()
            page = ExtractedPage(title=first[:_MAX_TITLE] or url, text=text)
        case "pdf":
            page = _pdf(body, url, limits)
    check_length(page.text, limits.max_chars)
    return page


def check_length(text: str, max_chars: int | None) -> None:
    """`OverLimit` if the text is longer than `max_chars` (None: no limit)."""
    if max_chars is not None and len(text) > max_chars:
        raise OverLimit(f"the text is longer than {max_chars} characters")


def _html(body: bytes, url: str) -> ExtractedPage:
    text = trafilatura.extract(
        body,
        url=url,
        output_format="markdown",
        include_formatting=True,  # keeps headings, and with them the sections citations point at
        include_links=False,
        include_images=False,
        include_comments=False,
        include_tables=True,
    )
    if not text or not text.strip():
        raise ExtractionError("no main text found in the page")
    tree = load_html(body)
    metadata = extract_metadata(tree, default_url=url) if tree is not None else None
    title = (metadata.title if metadata is not None else None) or _first_heading(text) or url
    # The `**` and `*` trafilatura writes around bold and italic words would be noise in a quotation.
    # (Underscores are left alone: snake_case names are common in technical pages.)
    return ExtractedPage(title=_clean_title(title), text=EMPHASIS.strip(text).strip())


def _pdf(body: bytes, url: str, limits: TextLimits) -> ExtractedPage:
    max_chars, max_pages = limits.max_chars, limits.max_pages
    try:
        pdf = pypdfium2.PdfDocument(body)
    except pypdfium2.PdfiumError as exc:
        raise ExtractionError(f"not a readable PDF: {exc}") from exc
    try:
        if max_pages is not None and len(pdf) > max_pages:
            raise OverLimit(f"the PDF has {len(pdf)} pages, more than {max_pages}")
        sections: list[str] = []
        chars = 0
        for n in range(len(pdf)):
            page = pdf[n]
            textpage = page.get_textpage()
            try:
                # Counted before the text is copied out: a page can hold millions of characters.
                chars += textpage.count_chars()
                if max_chars is not None and chars > max_chars:
                    raise OverLimit(f"the PDF's text is longer than {max_chars} characters (by page {n + 1})")
                text = textpage.get_text_range().replace("\r\n", "\n").replace("\r", "\n").strip()
            finally:
                textpage.close()
                page.close()
            if text:
                sections.append(f"# Page {n + 1}\n\n{text}")
        title = str(pdf.get_metadata_dict().get("Title") or "").strip()
    finally:
        pdf.close()
    if not sections:
        raise ExtractionError("the PDF has no text layer")
    return ExtractedPage(title=_clean_title(title or url), text="\n\n".join(sections))


def _decode(body: bytes, charset: str | None) -> str:
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return body.decode("utf-8", errors="replace")


def _first_heading(text: str) -> str | None:
    for line in text.splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip() or None
    return None


def _clean_title(title: str) -> str:
    return " ".join(title.split())[:_MAX_TITLE]
