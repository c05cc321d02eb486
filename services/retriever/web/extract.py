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

from services.retriever.spans import EMPHASIS

PageKind = Literal["html", "text", "pdf"]

MEDIA_TYPES: dict[str, PageKind] = {
    "text/html": "html",
    "application/xhtml+xml": "html",
    "text/plain": "text",
    "application/pdf": "pdf",
}
"""The content types fetched at all; anything else is refused before its body is read."""

_MAX_TITLE = 300


class ExtractionError(ValueError):
    """The page has no main text to offer (or is not what its content type says)."""


@dataclass(frozen=True, slots=True)
class ExtractedPage:
    title: str
    text: str


def extract_page(body: bytes, kind: PageKind, *, url: str, charset: str | None = None) -> ExtractedPage:
    """The title and main text of a page body of the given kind."""
    match kind:
        case "html":
            return _html(body, url)
        case "text":
            text = _decode(body, charset).replace("\r\n", "\n").strip()
            if not text:
                raise ExtractionError("the page is empty")
            first = text.split("\n", 1)[0].strip()
            return ExtractedPage(title=first[:_MAX_TITLE] or url, text=text)
        case "pdf":
            return _pdf(body, url)


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


def _pdf(body: bytes, url: str) -> ExtractedPage:
    try:
        pdf = pypdfium2.PdfDocument(body)
    except pypdfium2.PdfiumError as exc:
        raise ExtractionError(f"not a readable PDF: {exc}") from exc
    try:
        sections: list[str] = []
        for n in range(len(pdf)):
            page = pdf[n]
            textpage = page.get_textpage()
            try:
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
