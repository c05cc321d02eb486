"""Length control: the analyst writes to the run's length, the reporter holds any draft to it, and
the published report is measurably shorter for `brief` than for `detailed`."""

from __future__ import annotations

from datetime import UTC, datetime
from pydoc_data.topics import topics

import pytest

from contracts.report import ReportLength
from contracts.work import Claim, Draft, Passage, SearchOutput, Section, SourceRef, SynthesiseInput
from quarry_runtime.words import count_words
from services.analyst.domain.synthesis import check_citations, synthesise
from services.reporter.domain.layout import RenderOptions
from services.reporter.domain.length import EXCERPT_BY_LENGTH, findings_words, fit_draft
from services.reporter.domain.markdown import render_markdown
from services.reporter.domain.structure import length_asked

WHEN = datetime(2025, 3, 14, 9, 26, tzinfo=UTC)
QUESTION = "How do Python's compound statements work?"
TOPICS = {
    "What does the with statement do?": ["with", "context-managers"],
    "How are exceptions handled in try statements?": ["try", "exceptions"],
    "How do for loops iterate?": ["for"],
    "What does the import statement do?": ["import"],
}


def _passages(topic: str, size: int = 1500) -> list[Passage]:
    """The reference topic in chunks, as the retriever would return it."""
    chunks, current = [], ""
    for para in topics[topic].split("\n\n"):
        if current and len(current) + len(para) > size:
            chunks.append(current)
            current = ""
        current = f"{current}\n\n{para}" if current else para
    chunks.append(current)
    return [
        Passage(source_id=f"pydoc:topic:{topic}", title=topic, location=f"part {i + 1}", text=text, score=1 / (i + 1))
        for i, text in enumerate(chunks)
    ]


def _synthesised(length: ReportLength = "standard", target_words: int | None = None) -> Draft:
    inp = SynthesiseInput(
        question=QUESTION,
        sub_questions=list(TOPICS),
        findings=[
            SearchOutput(sub_question=q, passages=[p for t in names for p in _passages(t)])
            for q, names in TOPICS.items()
        ],
        max_sources=12,
        length=length,
        target_words=target_words,
    )
    draft = synthesise(inp).draft
    assert check_citations(draft) == []
    return draft


def _report(draft: Draft, length: ReportLength = "standard", target_words: int | None = None) -> str:
    return render_markdown(
        fit_draft(draft, length, target_words),
        RenderOptions(run_id="r", generated_at=WHEN, excerpt_chars=EXCERPT_BY_LENGTH[length]),
    )


def test_brief_standard_and_detailed_grow_in_findings_and_in_the_report() -> None:
    lengths: tuple[ReportLength, ...] = ("brief", "standard", "detailed")
    drafts = {length: _synthesised(length) for length in lengths}
    words = {length: findings_words(d) for length, d in drafts.items()}
    reports = {length: count_words(_report(d, length)) for length, d in drafts.items()}

    assert words["brief"] < words["standard"] < words["detailed"]
    assert reports["brief"] < reports["standard"] < reports["detailed"]
    assert words["detailed"] >= 2 * words["brief"]
    assert all(len(s.claims) == 1 for s in drafts["brief"].sections)
    assert len(drafts["brief"].summary) <= 2


@pytest.mark.parametrize("target", [150, 300, 450])
def test_a_word_target_is_met_within_a_sentence_when_there_is_material(target: int) -> None:
    draft = _synthesised(target_words=target)
    words = findings_words(draft)

    # Under the target, and short of it by less than one more finding would add.
    assert 0.85 * target <= words <= target
    assert fit_draft(draft, "standard", target) is draft  # the reporter has nothing left to cut


def test_a_target_beyond_the_material_gives_all_there_is() -> None:
    generous = findings_words(_synthesised(target_words=5000))
    assert findings_words(_synthesised("detailed")) <= generous < 5000


def _claim(words: int, *citations: int) -> Claim:
    return Claim(text=" ".join(["word"] * (words - 1) + ["end."]), citations=list(citations))


def _long_draft() -> Draft:
    sources = [SourceRef(number=n, source_id=f"s{n}", title=f"S{n}", location="§", passage="p") for n in (1, 2, 3, 4)]
    return Draft(
        title="t",
        question="q",
        summary=[_claim(20, 1), _claim(20, 2), _claim(20, 3)],
        sections=[
            Section(heading="A", claims=[_claim(30, 1), _claim(30, 2), _claim(30, 4)]),
            Section(heading="B", claims=[_claim(30, 3), _claim(30, 4)]),
        ],
        sources=sources,
    )


def test_the_reporter_cuts_a_long_draft_to_the_target_and_renumbers_its_sources() -> None:
    draft = _long_draft()
    assert findings_words(draft) == 210

    cut = fit_draft(draft, "standard", 130)

    # Sections' last findings go first, from the section with the most; the summary stays whole.
    assert findings_words(cut) == 120
    assert [len(s.claims) for s in cut.sections] == [1, 1]
    assert len(cut.summary) == 3
    cited = {n for c in [*cut.summary, *(c for s in cut.sections for c in s.claims)] for n in c.citations}
    assert [s.number for s in cut.sources] == sorted(cited) == list(range(1, len(cut.sources) + 1))
    assert [s.source_id for s in cut.sources] == ["s1", "s2", "s3"]


def test_brief_keeps_two_summary_findings_and_one_per_section() -> None:
    cut = fit_draft(_long_draft(), "brief", None)

    assert len(cut.summary) == 2 and [len(s.claims) for s in cut.sections] == [1, 1]
    assert fit_draft(_long_draft(), "detailed", None) == _long_draft()


def test_a_target_below_the_minimum_keeps_one_finding_everywhere() -> None:
    cut = fit_draft(_long_draft(), "standard", 10)
    assert len(cut.summary) == 1 and [len(s.claims) for s in cut.sections] == [1, 1]


def test_the_report_says_what_length_was_asked() -> None:
    assert length_asked("brief", None) == "brief"
    assert length_asked("brief", 400) == "about 400 words"
