"""One report with everything a format may choke on: tables, code, non-Latin scripts, methods
and numbered sources; rendered in any format, and a PDF read back as text."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pydoc_data.topics import topics

import pypdfium2 as pdfium  # type: ignore[import-untyped]

from contracts.work import Claim, CodeBlock, Draft, ReportMethods, SearchTally, Section, SourceRef, Table
from services.reporter.domain.layout import RenderOptions
from services.reporter.domain.markdown import render_markdown
from services.reporter.domain.structure import contents
from services.reporter.pdf import render_pdf
from services.reporter.word import render_docx

WHEN = datetime(2025, 3, 14, 9, 26, tzinfo=UTC)
RUN = "run-0192-abc"
GREEK, RUSSIAN, CHINESE = "Ελληνικά κείμενα", "Русский текст", "中文文本和東京"
JAPANESE, KOREAN, ARABIC = "日本語のテキスト", "한국어 텍스트", "مرحبا بالعالم"
SCRIPTS = (GREEK, RUSSIAN, CHINESE, JAPANESE, KOREAN, ARABIC)
CODE = "with open('data.csv', encoding='utf-8') as fh:\n\tfor row in fh:  # ``` inside\n\t\tprint(row)  # 東京\n"
URL = "https://example.org/guide/with?lang=el"


def _sentences(topic: str) -> list[str]:
    flat = " ".join(topics[topic].split())
    return [s for s in re.split(r"(?<=[.!?])\s+", flat) if len(s) > 20]


def sample_draft() -> Draft:
    with_ = _sentences("with")
    protocol = Table(
        header=["Method", "Called when", "Returns | notes"],
        rows=[
            ["__enter__()", "entering the block", "the value bound by `as`"],
            ["__exit__(exc_type, exc, tb)", "leaving it, even on error", "true to suppress | swallow"],
            ["ragged row"],  # too short: padded
            ["a", "b", "c", "overflow"],  # too long: folded into the last cell
        ],
        caption="The context manager protocol",
        citations=[1],
    )
    words = Table(header=["Language", "Word"], rows=[[s.split()[0], s] for s in SCRIPTS], citations=[2])
    return Draft(
        title=f"The with statement ({CHINESE})",
        question="What does the `with` statement guarantee?",
        summary=[Claim(text=s, citations=[1]) for s in with_[:2]],
        sections=[
            Section(
                heading="Semantics",
                claims=[Claim(text=s, citations=[1]) for s in with_[2:6]],
                tables=[protocol],
                code=[CodeBlock(code=CODE, language="python", citations=[1])],
            ),
            Section(
                heading=f"In other languages — {GREEK}",
                claims=[Claim(text=f"{s}: the with statement cleans up.", citations=[2]) for s in SCRIPTS],
                tables=[words],
            ),
        ],
        sources=[
            SourceRef(
                number=1,
                source_id="pydoc:topic:with",
                title="The with statement",
                location="§ The with statement, part 1",
                passage=topics["with"],
            ),
            SourceRef(
                number=2,
                source_id=URL,
                title=f"Translations — {RUSSIAN}",
                location="§ Overview, part 2",
                passage=" ".join(SCRIPTS),
            ),
        ],
    )


METHODS = ReportMethods(
    searches=[
        SearchTally(sub_question="What does the with statement guarantee?", passages=8, sources=3),
        SearchTally(sub_question="How do context managers handle exceptions?", passages=7, sources=4),
    ],
    searched=["corpus", "web"],
    passages_retrieved=15,
    sources_retrieved=6,
    passages_kept=12,
    claims_checked=14,
    claims_supported=13,
    support_rate=13 / 14,
    claims_off_question=1,
    credits_reserved=24,
    plan="free",
    usage_records=7,
)
HEADINGS = contents(sample_draft(), None, METHODS)
FACTS = (
    "2 sub-questions in the shared corpus, the web",
    "15 passages from 6 sources; 12 kept after merging duplicates",
    "93%: 13 of 14 claims backed by their sources",
    "1 claim dropped as not answering its sub-question",
    "24 credits reserved on the free plan; 7 usage records metered",
)


def _markdown(draft: Draft, options: RenderOptions) -> bytes:
    return render_markdown(draft, options).encode()


def rendered(fmt: str) -> bytes:
    renderers: dict[str, Callable[[Draft, RenderOptions], bytes]] = {
        "md": _markdown,
        "pdf": render_pdf,
        "docx": render_docx,
    }
    return renderers[fmt](sample_draft(), RenderOptions(run_id=RUN, generated_at=WHEN, methods=METHODS))


def pdf_text(document: pdfium.PdfDocument) -> list[str]:
    return [page.get_textpage().get_text_range() for page in document]
