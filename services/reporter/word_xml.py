"""WordprocessingML that python-docx has no API for: fields, bookmarks, internal and external
hyperlinks, repeated header rows, paragraph shading and direction, reproducible packaging."""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from datetime import datetime

from docx.opc.constants import RELATIONSHIP_TYPE
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.oxml.xmlchemy import BaseOxmlElement
from docx.table import _Row
from docx.text.paragraph import Paragraph

# XML 1.0 forbids these; python-docx refuses strings that hold them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_LINK_BLUE = "1E50A0"
# Word rejects a document whose property elements are out of schema order, so new ones go
# before the first of these that is present.
_AFTER_BIDI = (
    "w:adjustRightInd",
    "w:snapToGrid",
    "w:spacing",
    "w:ind",
    "w:contextualSpacing",
    "w:mirrorIndents",
    "w:suppressOverlap",
    "w:jc",
    "w:textDirection",
    "w:textAlignment",
    "w:textboxTightWrap",
    "w:outlineLvl",
    "w:divId",
    "w:cnfStyle",
    "w:rPr",
    "w:sectPr",
    "w:pPrChange",
)
_AFTER_PARAGRAPH_SHADING = (
    "w:tabs",
    "w:suppressAutoHyphens",
    "w:kinsoku",
    "w:wordWrap",
    "w:overflowPunct",
    "w:topLinePunct",
    "w:autoSpaceDE",
    "w:autoSpaceDN",
    "w:bidi",
    *_AFTER_BIDI,
)
_AFTER_CELL_SHADING = ("w:noWrap", "w:tcMar", "w:textDirection", "w:tcFitText", "w:vAlign", "w:hideMark")


def xml_safe(text: str) -> str:
    """The text without characters XML cannot carry (NUL, C0/C1 controls, lone surrogates)."""
    return _NOT_XML.sub("", text)


def is_rtl(text: str) -> bool:
    """True when the text's first strongly directional character is right-to-left."""
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if kind in ("R", "AL"):
            return True
        if kind == "L":
            return False
    return False


def set_rtl(paragraph: Paragraph) -> None:
    """Lay the paragraph out right to left (Arabic, Hebrew)."""
    paragraph._p.get_or_add_pPr().insert_element_before(OxmlElement("w:bidi"), *_AFTER_BIDI)


def _shading(fill: str) -> BaseOxmlElement:
    shd = OxmlElement("w:shd")
    shd.set(qn("w:val"), "clear")
    shd.set(qn("w:color"), "auto")
    shd.set(qn("w:fill"), fill)
    return shd


def shade(paragraph: Paragraph, fill: str) -> None:
    """Give the paragraph a background colour (hex RGB), as for a code block."""
    paragraph._p.get_or_add_pPr().insert_element_before(_shading(fill), *_AFTER_PARAGRAPH_SHADING)


def bookmark(paragraph: Paragraph, name: str, ident: int) -> None:
    """Wrap the paragraph's content in a bookmark a hyperlink can point at."""
    start = OxmlElement("w:bookmarkStart")
    start.set(qn("w:id"), str(ident))
    start.set(qn("w:name"), name)
    end = OxmlElement("w:bookmarkEnd")
    end.set(qn("w:id"), str(ident))
    ppr = paragraph._p.pPr
    paragraph._p.insert(1 if ppr is not None else 0, start)
    paragraph._p.append(end)


def _run(text: str, *, link_style: bool = False) -> BaseOxmlElement:
    run = OxmlElement("w:r")
    if link_style:
        rpr = OxmlElement("w:rPr")
        color = OxmlElement("w:color")
        color.set(qn("w:val"), _LINK_BLUE)
        underline = OxmlElement("w:u")
        underline.set(qn("w:val"), "single")
        rpr.append(color)
        rpr.append(underline)
        run.append(rpr)
    t = OxmlElement("w:t")
    t.set(qn("xml:space"), "preserve")
    t.text = xml_safe(text)
    run.append(t)
    return run


def internal_link(paragraph: Paragraph, text: str, anchor: str) -> None:
    """Append a link to a bookmark of this document."""
    link = OxmlElement("w:hyperlink")
    link.set(qn("w:anchor"), anchor)
    link.set(qn("w:history"), "1")
    link.append(_run(text))
    paragraph._p.append(link)


def external_link(paragraph: Paragraph, text: str, url: str) -> None:
    """Append a clickable web address."""
    rel = paragraph.part.relate_to(url, RELATIONSHIP_TYPE.HYPERLINK, is_external=True)
    link = OxmlElement("w:hyperlink")
    link.set(qn("r:id"), rel)
    link.append(_run(text, link_style=True))
    paragraph._p.append(link)


def _field_char(kind: str) -> BaseOxmlElement:
    run = OxmlElement("w:r")
    char = OxmlElement("w:fldChar")
    char.set(qn("w:fldCharType"), kind)
    run.append(char)
    return run


def field_begin(paragraph: Paragraph, instruction: str) -> None:
    """Open a field (e.g. TOC) whose current result follows until `field_end`."""
    paragraph._p.append(_field_char("begin"))
    run = OxmlElement("w:r")
    instr = OxmlElement("w:instrText")
    instr.set(qn("xml:space"), "preserve")
    instr.text = f" {instruction} "
    run.append(instr)
    paragraph._p.append(run)
    paragraph._p.append(_field_char("separate"))


def field_end(paragraph: Paragraph) -> None:
    paragraph._p.append(_field_char("end"))


def repeat_as_header(row: _Row) -> None:
    """Repeat this table row at the top of every page the table spans."""
    trpr = row._tr.get_or_add_trPr()
    header = OxmlElement("w:tblHeader")
    header.set(qn("w:val"), "true")
    trpr.append(header)


def cell_shading(row: _Row, fill: str) -> None:
    for cell in row.cells:
        cell._tc.get_or_add_tcPr().insert_element_before(_shading(fill), *_AFTER_CELL_SHADING)


def reproducible(package: bytes, moment: datetime) -> bytes:
    """The same document zipped with every entry stamped `moment`, so equal input gives equal bytes."""
    stamp = (max(moment.year, 1980), moment.month, moment.day, moment.hour, moment.minute, moment.second)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(package)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=stamp)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            target.writestr(entry, source.read(info.filename))
    return out.getvalue()
