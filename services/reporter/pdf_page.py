"""The report's A4 page in fpdf2: its measures, footer, headings and running text."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos

from services.reporter.pdf_fonts import Typeface, install_fonts

FONT_DIR = Path(__file__).resolve().parent / "fonts"

MARGIN = 20.0
BODY_SIZE = 10.5
LINE = 5.5
INDENT = 8.0
MUTED = 100
TOC_LINE = 6.5
TABLE_SIZE = 8.5
CODE_SIZE = 8.5
# More columns than this do not fit across A4 legibly: wider tables are split into column groups.
TABLE_COLUMNS = 7
RULE = 190
CELL_PAD = 1.5
FILL = 244


class ReportPDF(FPDF):
    """A4 document whose footer carries the run id and page numbers."""

    def __init__(self, footer_note: str, font_dir: Path, text: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.footer_note = footer_note
        self.typeface: Typeface = install_fonts(self, font_dir, text)
        if self.typeface.shaped and importlib.util.find_spec("uharfbuzz") is not None:
            self.set_text_shaping(True)

    def footer(self) -> None:
        """Draw "run · generated" on the left and "Page n of N" on the right."""
        self.set_y(-14)
        self.set_font(self.typeface.family, "", 8)
        self.set_text_color(MUTED)
        self.cell(0, 5, self.typeface.clean(self.footer_note), align=Align.L)
        self.set_x(self.l_margin)
        self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align=Align.R)

    @property
    def text_width(self) -> float:
        return self.w - self.l_margin - self.r_margin

    def write_text(self, text: str, *, style: str = "", size: float = BODY_SIZE, indent: float = 0.0) -> None:
        """Write a wrapped paragraph; overlong tokens are broken so nothing runs off the page."""
        self.set_font(self.typeface.family, style, size)
        self.set_x(self.l_margin + indent)
        self.multi_cell(
            0,
            size * 0.52,
            self.typeface.clean(text),
            align=Align.L,
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )

    def keep_space(self, height: float) -> None:
        """Start a new page unless `height` millimetres are left on this one."""
        if self.get_y() + height > self.page_break_trigger:
            self.add_page()

    def heading(self, text: str, *, listed: bool = True) -> None:
        """Write a section heading; a listed one is in the outline (bookmarks and contents)."""
        # Keep a heading together with at least a couple of lines of what follows it.
        self.keep_space(30)
        self.ln(4)
        if listed:
            self.start_section(self.typeface.clean(text) or "Untitled", strict=False)
        self.set_text_color(0)
        self.write_text(text, style="B", size=15)
        self.ln(1.5)

    def note(self, text: str) -> None:
        """A small muted line, e.g. where a table or a code block was quoted from."""
        self.set_text_color(MUTED)
        self.write_text(text, size=8.5)
        self.set_text_color(0)
