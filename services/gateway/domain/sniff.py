"""What an uploaded file really is, from its first bytes, its declared type and its name. Pure."""

from __future__ import annotations

import re

from contracts.document import ContentType

_HTML = re.compile(rb"^\s*(<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>])", re.IGNORECASE)
_EXTENSIONS: dict[str, ContentType] = {
    ".pdf": "application/pdf",
    ".html": "text/html",
    ".htm": "text/html",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".txt": "text/plain",
    ".text": "text/plain",
}
_DECLARED: dict[str, ContentType] = {
    "application/pdf": "application/pdf",
    "text/html": "text/html",
    "application/xhtml+xml": "text/html",
    "text/markdown": "text/markdown",
    "text/x-markdown": "text/markdown",
    "text/plain": "text/plain",
}
_VAGUE = frozenset({"", "application/octet-stream"})


class Unsupported(ValueError):
    """The file is not one of the kinds a dataset takes, or is not what it claims to be."""


def sniff(head: bytes, declared: str | None, filename: str | None) -> ContentType:
    """The content type of an upload starting with `head`; Unsupported says why it is refused.

    The bytes decide between PDF, HTML and text; the declared type or the name only tells
    Markdown from plain text (the bytes cannot), and must not contradict the bytes.
    """
    media = (declared or "").split(";")[0].strip().lower()
    claimed = _DECLARED.get(media)
    if claimed is None and media not in _VAGUE and not media.startswith("text/"):
        raise Unsupported(f"files of type {media!r} are not accepted: upload PDF, HTML, Markdown or plain text")
    suffix = ("." + filename.rsplit(".", 1)[-1].lower()) if filename and "." in filename else ""
    named = _EXTENSIONS.get(suffix)
    if head.startswith(b"%PDF-"):
        if claimed not in (None, "application/pdf"):
            raise Unsupported(f"the file is a PDF but was sent as {media!r}")
        return "application/pdf"
    if "application/pdf" in (claimed, named):
        raise Unsupported("the file claims to be a PDF but does not start like one")
    if b"\x00" in head:
        raise Unsupported("the file is binary: upload PDF, HTML, Markdown or plain text")
    if _HTML.match(head) or "text/html" in (claimed, named):
        return "text/html"
    if "text/markdown" in (claimed, named):
        return "text/markdown"
    return "text/plain"


def title_from(filename: str | None, fallback: str) -> str:
    """A document title from an upload's file name (without the extension)."""
    stem = (filename or "").rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    return " ".join(stem.split())[:300] or fallback
