"""Render a draft as a paginated PDF with fpdf2, Unicode-safe and byte-for-byte reproducible."""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import fpdf
from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos
from fpdf.fonts import TTFFont

from contracts.work import Changes, Claim, Draft, SourceRef
from services.reporter.markdown import change_lists, collapse, excerpt, format_timestamp, markers, ordered_sources

_logger = logging.getLogger(__name__)

# fpdf2 ships no TTF of its own (only core-font metrics); DejaVu is the usual system font with
# broad Latin, Greek and Cyrillic coverage. The package folder is listed first in case a future
# fpdf2 bundles it.
_FONT_DIRS: tuple[Path, ...] = (
    Path(fpdf.__file__).parent / "font",
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),
)
_FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf", "I": "DejaVuSans-Oblique.ttf"}
_TTF_FAMILY = "QuarrySans"
_CORE_FAMILY = "helvetica"

# Typography the core fonts' latin-1 lacks and NFKD does not decompose.
_LATIN1_FALLBACKS = str.maketrans(
    {
        "\u2013": "-",  # en dash
        "\u2014": "-",  # em dash
        "\u2212": "-",  # minus sign
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": ",",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2022": "*",  # bullet
        "\u20ac": "EUR",
    }
)

_MARGIN = 20.0
_BODY_SIZE = 10.5
_LINE = 5.5
_INDENT = 8.0
_MUTED = 100


@dataclass(frozen=True)
class _Typeface:
    family: str
    clean: Callable[[str], str]


def _find_ttf() -> dict[str, Path] | None:
    """Locate DejaVu Sans; bold and oblique are optional and fall back to the regular face."""
    for folder in _FONT_DIRS:
        regular = folder / _FONT_FILES[""]
        if regular.is_file():
            faces = {style: folder / name for style, name in _FONT_FILES.items()}
            return {style: path if path.is_file() else regular for style, path in faces.items()}
    return None


def _strip_controls(text: str) -> str:
    # Control and format characters (NUL, zero-width joiners, bidi overrides) have no glyph in
    # any font and would show up as boxes.
    return "".join(ch for ch in text if ch == "\n" or unicodedata.category(ch)[0] != "C")


def _latin1(text: str) -> str:
    """Approximate text in latin-1 for the core fonts: decompose accents, then replace the rest."""
    out: list[str] = []
    for ch in _strip_controls(text).translate(_LATIN1_FALLBACKS):
        if ord(ch) < 256:
            out.append(ch)
            continue
        decomposed = unicodedata.normalize("NFKD", ch).encode("latin-1", "ignore").decode("latin-1")
        out.append(decomposed or "?")
    return "".join(out)


def _glyph_filter(coverage: set[int]) -> Callable[[str], str]:
    """Replace characters the font cannot draw, so gaps are visible instead of silently empty."""
    # U+FFFD cannot be mistaken for a real question mark in the text, when the font has it.
    placeholder = "\ufffd" if 0xFFFD in coverage else "?"

    def clean(text: str) -> str:
        return "".join(ch if ch == "\n" or ord(ch) in coverage else placeholder for ch in _strip_controls(text))

    return clean


def _install_font(pdf: FPDF) -> _Typeface:
    faces = _find_ttf()
    if faces is None:
        return _Typeface(_CORE_FAMILY, _latin1)
    try:
        for style, path in faces.items():
            pdf.add_font(_TTF_FAMILY, style, str(path))
    except Exception:
        # fontTools raises its own error types on a corrupt file; no font problem may cost the
        # report, so any failure degrades to the core font.
        _logger.exception("cannot load %s, using core Helvetica", faces[""])
        return _Typeface(_CORE_FAMILY, _latin1)
    font = pdf.fonts.get(_TTF_FAMILY.lower())
    if not isinstance(font, TTFFont):
        return _Typeface(_CORE_FAMILY, _latin1)
    coverage = set(font.cmap)
    return _Typeface(_TTF_FAMILY, _glyph_filter(coverage))


class _ReportPDF(FPDF):
    """A4 document whose footer carries the run id and page numbers."""

    def __init__(self, footer_note: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.footer_note = footer_note
        self.typeface = _install_font(self)

    def footer(self) -> None:
        """Draw "run · generated" on the left and "Page n of N" on the right."""
        self.set_y(-14)
        self.set_font(self.typeface.family, "", 8)
        self.set_text_color(_MUTED)
        self.cell(0, 5, self.typeface.clean(self.footer_note), align=Align.L)
        self.set_x(self.l_margin)
        self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align=Align.R)

    def write_text(self, text: str, *, style: str = "", size: float = _BODY_SIZE, indent: float = 0.0) -> None:
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

    def heading(self, text: str) -> None:
        """Write a section heading and register it in the PDF outline (bookmarks)."""
        # Keep a heading together with at least a couple of lines of what follows it.
        if self.get_y() > self.page_break_trigger - 30:
            self.add_page()
        self.ln(4)
        self.start_section(self.typeface.clean(text) or "Untitled")
        self.set_text_color(0)
        self.write_text(text, style="B", size=15)
        self.ln(1.5)


def _cited(claim: Claim) -> str:
    # A no-break space keeps the markers on the line of the sentence they support.
    tag = markers(claim.citations)
    text = collapse(claim.text)
    return f"{text}\u00a0{tag}" if tag else text


def _claims_text(claims: list[Claim]) -> str:
    return " ".join(_cited(claim) for claim in claims)


def _write_source(pdf: _ReportPDF, source: SourceRef) -> None:
    pdf.set_text_color(0)
    pdf.set_font(pdf.typeface.family, "B", _BODY_SIZE)
    if pdf.get_y() > pdf.page_break_trigger - 15:
        pdf.add_page()
    top = pdf.get_y()
    pdf.cell(_INDENT, _LINE, f"{source.number}.", align=Align.R)
    label = collapse(source.title) or "Untitled source"
    if source.location.strip():
        label = f"{label} — {collapse(source.location)}"
    pdf.set_y(top)
    pdf.write_text(label, style="B", indent=_INDENT + 2)
    quoted = excerpt(source.passage)
    if quoted:
        pdf.set_text_color(_MUTED)
        pdf.write_text(f"“{quoted}”", style="I", size=9.5, indent=_INDENT + 2)
    pdf.ln(2.5)


def render_pdf(draft: Draft, *, run_id: str, generated_at: datetime, changes: Changes | None = None) -> bytes:
    """Render the draft as a PDF: title, question, summary, what changed (for a monitor's run),
    sections, sources and page numbers."""
    stamp = format_timestamp(generated_at)
    pdf = _ReportPDF(footer_note=f"Quarry · run {collapse(run_id)} · {stamp}")
    clean = pdf.typeface.clean
    title = collapse(draft.title) or "Research report"
    # Fixed metadata, including the creation date, is what makes the output reproducible.
    pdf.set_title(clean(title))
    pdf.set_subject(clean(collapse(draft.question)))
    pdf.set_author("Quarry")
    pdf.set_creator("Quarry reporter")
    moment = generated_at.replace(tzinfo=UTC) if generated_at.tzinfo is None else generated_at
    pdf.set_creation_date(moment.astimezone(UTC))
    pdf.set_margins(_MARGIN, _MARGIN, _MARGIN)
    pdf.set_auto_page_break(auto=True, margin=_MARGIN)
    pdf.add_page()

    pdf.write_text(title, style="B", size=20)
    pdf.ln(1)
    pdf.set_text_color(_MUTED)
    pdf.write_text(f"Run {collapse(run_id)} · Generated {stamp}", size=9)
    pdf.ln(4)
    pdf.set_text_color(0)
    pdf.write_text("Question", style="B")
    pdf.write_text(collapse(draft.question))

    pdf.heading("Summary")
    pdf.write_text(_claims_text(draft.summary) or "No summary was produced.")
    if changes is not None:
        pdf.heading("What changed since the previous run")
        pdf.write_text(f"Compared with run {collapse(changes.previous_run_id)}.", size=9)
        found = change_lists(changes)
        if not found:
            pdf.write_text("Nothing changed: the same sources support the same findings.")
        for heading, items in found:
            pdf.write_text(heading, style="B")
            for item in items:
                pdf.write_text(f"• {collapse(item)}", indent=4)
            pdf.ln(2)
    for section in draft.sections:
        pdf.heading(collapse(section.heading) or "Untitled section")
        for claim in section.claims:
            pdf.write_text(_cited(claim))
            pdf.ln(2)

    pdf.heading("Sources")
    if not draft.sources:
        pdf.write_text("No sources.")
    for source in ordered_sources(draft):
        _write_source(pdf, source)
    return bytes(pdf.output())
