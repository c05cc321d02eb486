"""The PDF's typefaces: the bundled Unicode fonts with fallbacks for what one face lacks, or the
PDF core fonts when the bundle cannot be read."""

from __future__ import annotations

import functools
import logging
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fontTools.ttLib import TTFont  # type: ignore[import-untyped]
from fpdf import FPDF
from fpdf.fonts import TTFFont

_logger = logging.getLogger(__name__)

SANS = "QuarrySans"
MONO = "QuarryMono"
_CORE_SANS = "helvetica"
_CORE_MONO = "courier"
_FACES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf", "I": "DejaVuSans-Oblique.ttf"}
_MONO_FILE = "DejaVuSansMono.ttf"
# Tried in order for a character the current face lacks: the regular face (the oblique and mono
# cuts cover less), then Chinese and Japanese ideographs, then Hangul.
_FALLBACKS = (
    ("QuarryFallback", "DejaVuSans.ttf"),
    ("QuarryHan", "DroidSansFallback-Han.ttf"),
    ("QuarryHangul", "NotoSansCJKkr-Hangul.otf"),
)

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
        "\u2026": "...",
        "\u20ac": "EUR",
    }
)


@dataclass(frozen=True)
class Typeface:
    """The font families to use and how to make text drawable in them."""

    family: str
    mono: str
    clean: Callable[[str], str]
    shaped: bool  # right-to-left text to join and reorder, with Unicode fonts to do it


def _strip_controls(text: str) -> str:
    # Control and format characters (NUL, zero-width joiners, bidi overrides) have no glyph in
    # any font and would show up as boxes.
    return "".join(ch for ch in text if ch == "\n" or unicodedata.category(ch)[0] != "C")


def latin1(text: str) -> str:
    """Approximate text in latin-1 for the core fonts: decompose accents, then replace the rest."""
    out: list[str] = []
    for ch in _strip_controls(text).translate(_LATIN1_FALLBACKS):
        if ord(ch) < 256:
            out.append(ch)
            continue
        decomposed = unicodedata.normalize("NFKD", ch).encode("latin-1", "ignore").decode("latin-1")
        out.append(decomposed or "?")
    return "".join(out)


def glyph_filter(coverage: set[int]) -> Callable[[str], str]:
    """Replace characters no font can draw, so gaps are visible instead of silently empty."""
    # U+FFFD cannot be mistaken for a real question mark in the text, when the font has it.
    placeholder = "\ufffd" if 0xFFFD in coverage else "?"

    def clean(text: str) -> str:
        return "".join(ch if ch == "\n" or ord(ch) in coverage else placeholder for ch in _strip_controls(text))

    return clean


CORE = Typeface(_CORE_SANS, _CORE_MONO, latin1, shaped=False)


@functools.lru_cache(maxsize=32)
def _cmap(path: Path) -> frozenset[int]:
    """The code points a font file covers (read once per process: loading a face costs more)."""
    with TTFont(str(path), lazy=True) as font:
        return frozenset(font.getBestCmap())


def needs_shaping(text: str) -> bool:
    """True when the text has right-to-left script, which must be joined and reordered."""
    return any(unicodedata.bidirectional(ch) in ("R", "AL") for ch in set(text))


def _ttf_fonts(pdf: FPDF) -> list[TTFFont]:
    return [font for font in pdf.fonts.values() if isinstance(font, TTFFont)]


def install_fonts(pdf: FPDF, folder: Path, text: str) -> Typeface:
    """Register with `pdf` the bundled fonts in `folder` that `text` (all the document will show)
    needs; the core fonts if the regular face is missing or any file is unreadable."""
    regular = folder / _FACES[""]
    if not regular.is_file():
        _logger.warning("no %s in %s: the PDF uses core Helvetica (latin-1 only)", _FACES[""], folder)
        return CORE
    wanted = {ord(ch) for ch in set(text)}
    try:
        for style, name in _FACES.items():
            path = folder / name
            pdf.add_font(SANS, style, str(path if path.is_file() else regular))
        mono = folder / _MONO_FILE
        pdf.add_font(MONO, "", str(mono if mono.is_file() else regular))
        # Every face must draw what it may be asked to; the regular one covers most.
        covered = set.intersection(*(set(font.cmap) for font in _ttf_fonts(pdf)))
        fallbacks = []
        for family, name in _FALLBACKS:
            path = folder / name
            # Loading a face takes a good part of a second: only those the text needs.
            if path.is_file() and (wanted & _cmap(path)) - covered:
                pdf.add_font(family, "", str(path))
                fallbacks.append(family)
                covered |= _cmap(path)
    except Exception:
        # fontTools raises its own error types on a corrupt file; no font problem may cost the
        # report, so any failure degrades to the core fonts.
        _logger.exception("cannot load the fonts in %s, using core Helvetica", folder)
        return CORE
    pdf.set_fallback_fonts(fallbacks, exact_match=False)
    for font in _ttf_fonts(pdf):
        covered |= set(font.cmap)
    return Typeface(SANS, MONO, glyph_filter(covered), shaped=needs_shaping(text))
