"""Rebuild the reporter's bundled fonts (`services/reporter/fonts/`) from Debian's font packages.

    apt-get install fonts-dejavu-core fonts-droid-fallback fonts-noto-cjk
    python -m devtools.report_fonts

The PDF must draw Latin, Greek, Cyrillic, Hebrew, Arabic, Chinese, Japanese and Korean text on a
machine with no system fonts, so the reporter ships its own, cut down to what reports need:
hinting dropped (a PDF viewer does not use it) and the CJK faces limited to the common characters
(GB 2312 and JIS X 0208 level 1 ideographs, kana, the 2,350 Hangul syllables of KS X 1001). A
character outside them is drawn as U+FFFD, visibly. Licences: `fonts/LICENSES.md`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import typer
from fontTools import subset  # type: ignore[import-untyped]
from fontTools.ttLib import TTFont  # type: ignore[import-untyped]

TARGET = Path(__file__).resolve().parent.parent / "services" / "reporter" / "fonts"
DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
DROID = Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf")
NOTO_CJK = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
NOTO_CJK_KR = 1  # the Korean member of the collection


def _span(first: int, last: int) -> set[int]:
    return set(range(first, last + 1))


# Latin, IPA, Greek, Cyrillic, Hebrew, Arabic (with presentation forms), punctuation, currency,
# arrows, mathematical operators, technical symbols, box drawing, shapes, dingbats, U+FFFD.
WESTERN = (
    _span(0x20, 0x7E)
    | _span(0xA0, 0x36F)
    | _span(0x370, 0x52F)
    | _span(0x590, 0x6FF)
    | _span(0x1E00, 0x1FFF)
    | _span(0x2000, 0x23FF)
    | _span(0x2500, 0x27BF)
    | _span(0xFB00, 0xFDFF)
    | _span(0xFE70, 0xFEFF)
    | {0xFFFD}
)
CJK_MARKS = _span(0x3000, 0x30FF) | _span(0xFF00, 0xFFEF)


def _double_byte(codec: str, leads: range) -> set[int]:
    """Every character a legacy double-byte character set encodes with these lead bytes."""
    found: set[int] = set()
    for lead in leads:
        for trail in range(0x40, 0xFF):
            try:
                text = bytes([lead, trail]).decode(codec)
            except UnicodeDecodeError:
                continue
            if len(text) == 1:
                found.add(ord(text))
    return found


def common_han() -> set[int]:
    """The level-1 ideographs of GB 2312 (simplified Chinese) and JIS X 0208 (Japanese)."""
    chars = _double_byte("gb2312", range(0xB0, 0xD8)) | _double_byte("shift_jis", range(0x88, 0x99))
    return {c for c in chars if 0x4E00 <= c <= 0x9FFF}


def hangul() -> set[int]:
    """The Hangul syllables of KS X 1001 and the compatibility jamo."""
    syllables = {c for c in _double_byte("euc_kr", range(0xB0, 0xC9)) if 0xAC00 <= c <= 0xD7AF}
    return syllables | _span(0x3130, 0x318F)


def cut(source: Path, unicodes: Iterable[int], target: Path, *, number: int = 0) -> int:
    """Write the subset of `source` covering `unicodes` to `target`; its size in bytes."""
    font = TTFont(str(source), fontNumber=number)
    wanted = set(unicodes) & set(font.getBestCmap())
    options = subset.Options()
    options.hinting = False
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.notdef_outline = True
    options.layout_features = ["*"]
    options.glyph_names = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=wanted)
    subsetter.subset(font)
    font.save(str(target))
    return target.stat().st_size


def main(target: Path = TARGET) -> None:
    """Cut the bundled faces from the installed Debian fonts."""
    jobs = [
        (DEJAVU / "DejaVuSans.ttf", WESTERN, "DejaVuSans.ttf", 0),
        (DEJAVU / "DejaVuSans-Bold.ttf", WESTERN, "DejaVuSans-Bold.ttf", 0),
        (DEJAVU / "DejaVuSans-Oblique.ttf", WESTERN, "DejaVuSans-Oblique.ttf", 0),
        (DEJAVU / "DejaVuSansMono.ttf", WESTERN, "DejaVuSansMono.ttf", 0),
        (DROID, common_han() | CJK_MARKS, "DroidSansFallback-Han.ttf", 0),
        (NOTO_CJK, hangul(), "NotoSansCJKkr-Hangul.otf", NOTO_CJK_KR),
    ]
    target.mkdir(parents=True, exist_ok=True)
    for source, unicodes, name, number in jobs:
        size = cut(source, unicodes, target / name, number=number)
        typer.echo(f"{name}: {size:,} bytes")


if __name__ == "__main__":
    typer.run(main)
