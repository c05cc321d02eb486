"""A real PDF, made with fpdf2, as a tenant would upload it or a website serve it."""

from __future__ import annotations

from collections.abc import Sequence

from fpdf import FPDF


def pdf_of(title: str, pages: Sequence[str]) -> bytes:
    """A PDF with the given title and one page of text per item of `pages`."""
    pdf = FPDF()
    pdf.set_title(title)
    pdf.set_font("helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())
