"""Untrusted files are parsed in limited worker processes: a bomb is refused with the reason, the
pool replaces a process that died, and the next ordinary document is read as usual."""

from __future__ import annotations

import os
import signal
import time
import zlib
from collections.abc import Iterator
from typing import Any, cast

import pytest

from contracts.document import DocumentRejected, DocumentUploaded, DocumentUploadedPayload
from contracts.envelope import Event
from quarry_runtime.buckets import Buckets
from quarry_runtime.bus import Bus
from services.retriever.extraction import extract_file
from services.retriever.handlers import Components, subscriptions
from services.retriever.parsing import ParseLimits, ParserPool
from services.retriever.providers import SearchHit
from services.retriever.web.extract import ExtractionError, OverLimit, PageKind, extract_page
from services.retriever.web.fetch import FetchedPage, PageFetcher
from services.retriever.web.search import WebSearch
from tests.fakes.pdf import pdf_of
from tests.unit.test_datasets import PAGES, TITLE

# The CPU limit bounds the work; the wall clock is generous, as a loaded CI machine may give a
# parse a fraction of a core.
LIMITS = ParseLimits(memory_mb=512, cpu_s=2, wall_s=30.0, max_pages=500, max_chars=200_000, workers=1)


@pytest.fixture(scope="module")
def parsers() -> Iterator[ParserPool]:
    pool = ParserPool(LIMITS)
    yield pool
    pool.close()


def raw_pdf(content: bytes, *, pages: int = 1) -> bytes:
    """A PDF of `pages` pages that all show one Flate-compressed content stream."""
    stream = zlib.compress(content, 9)
    kids = b" ".join([b"3 0 R"] * pages)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count " + str(pages).encode() + b" >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" /Filter /FlateDecode >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def text_lines(line: bytes, times: int) -> bytes:
    # each line a little lower than the last: pdfium drops text drawn twice in one place
    return b"BT /F1 1 Tf 10 780 Td\n" + (b"(" + line + b") Tj 0 -1 Td\n") * times + b"ET\n"


def hog_memory(size: int) -> int:
    return len(bytearray(size))


def crash() -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def spin() -> None:
    while True:
        pass


def dawdle(seconds: float) -> None:
    time.sleep(seconds)


async def read_pdf(parsers: ParserPool, data: bytes) -> str:
    return (await parsers.run(extract_file, data, "application/pdf", "x.pdf", LIMITS.text)).text


async def still_reads_an_ordinary_pdf(parsers: ParserPool) -> None:
    text = await read_pdf(parsers, pdf_of(TITLE, PAGES))
    assert "Barnacle fouling" in text


async def test_an_ordinary_pdf_is_read_in_a_worker_as_it_was_in_process(parsers: ParserPool) -> None:
    data = pdf_of(TITLE, PAGES)
    assert await read_pdf(parsers, data) == extract_file(data, "application/pdf", "x.pdf").text
    started = time.monotonic()
    for _ in range(5):
        await read_pdf(parsers, data)
    assert (time.monotonic() - started) / 5 < 1.0  # a warm worker, not a process per document


async def test_a_pdf_whose_stream_unpacks_into_millions_of_characters_is_refused(parsers: ParserPool) -> None:
    bomb = raw_pdf(text_lines(b"A" * 1000, 40_000))  # 40 M characters from a few dozen KB
    assert len(bomb) < 200_000
    started = time.monotonic()
    with pytest.raises(OverLimit, match=r"CPU time|longer than|characters|MiB"):
        await read_pdf(parsers, bomb)
    assert time.monotonic() - started < LIMITS.wall_s + 5
    await still_reads_an_ordinary_pdf(parsers)


async def test_a_pdf_past_the_character_cap_is_refused_before_its_text_is_copied(parsers: ParserPool) -> None:
    wordy = raw_pdf(text_lines(b"tide " * 100, 600))  # 300 K characters, over the 200 K cap
    with pytest.raises(OverLimit, match="longer than 200000 characters"):
        await read_pdf(parsers, wordy)


async def test_a_pdf_of_too_many_pages_is_refused(parsers: ParserPool) -> None:
    many = raw_pdf(text_lines(b"page", 1), pages=20_000)
    with pytest.raises(OverLimit, match="20000 pages, more than 500"):
        await read_pdf(parsers, many)


async def test_huge_and_deeply_nested_html_is_refused_or_read_within_bounds(parsers: ParserPool) -> None:
    huge = (
        b"<html><body><article>"
        + b"<p>The tide comes in and goes out again.</p>" * 10_000
        + b"</article></body></html>"
    )
    with pytest.raises(OverLimit, match="longer than 200000 characters"):
        await parsers.run(extract_file, huge, "text/html", "huge.html", LIMITS.text)
    nested = b"<html><body>" + b"<div>" * 200_000 + b"deep" + b"</div>" * 200_000 + b"</body></html>"
    started = time.monotonic()
    try:
        await parsers.run(extract_page, nested, "html", url="https://example.org/deep", limits=LIMITS.text)
    except ExtractionError as exc:
        assert str(exc)  # refused with a reason, not a crash of the caller
    assert time.monotonic() - started < LIMITS.wall_s + 5
    await still_reads_an_ordinary_pdf(parsers)


async def test_a_parse_over_its_memory_is_refused_and_the_pool_goes_on(parsers: ParserPool) -> None:
    with pytest.raises(OverLimit, match="more than 512 MiB"):
        await parsers.run(hog_memory, 2 * 1024**3)
    await still_reads_an_ordinary_pdf(parsers)


async def test_a_parser_that_crashes_is_refused_with_the_signal_and_replaced(parsers: ParserPool) -> None:
    with pytest.raises(OverLimit, match="SIGSEGV"):
        await parsers.run(crash)
    await still_reads_an_ordinary_pdf(parsers)


async def test_a_parse_over_its_cpu_time_is_ended_by_the_kernel() -> None:
    # A wall-clock deadline far away, so that on a busy machine it is the CPU limit that ends it.
    pool = ParserPool(ParseLimits(cpu_s=1, wall_s=120.0, workers=1))
    try:
        with pytest.raises(OverLimit, match="more than 1 s of CPU time"):
            await pool.run(spin)
        await still_reads_an_ordinary_pdf(pool)
    finally:
        pool.close()


async def test_a_parse_past_its_wall_clock_deadline_is_stopped(parsers: ParserPool) -> None:
    pool = ParserPool(ParseLimits(wall_s=1.0, workers=1))
    try:
        started = time.monotonic()
        with pytest.raises(OverLimit, match="longer than 1 s"):
            await pool.run(dawdle, 30)
        assert time.monotonic() - started < 15
    finally:
        pool.close()


class _Hits:
    name = "fake"

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls

    async def search(self, query: str, limit: int) -> list[SearchHit]:
        return [SearchHit(url, url, "") for url in self.urls[:limit]]


class _Pages(PageFetcher):
    """Serves bodies from memory instead of the network."""

    def __init__(self, pages: dict[str, tuple[PageKind, bytes]]) -> None:
        self.pages = pages

    async def fetch(self, url: str, host: str | None = None) -> FetchedPage:
        kind, body = self.pages[url]
        return FetchedPage(url=url, kind=kind, body=body)


async def test_a_fetched_bomb_is_skipped_with_its_reason_and_the_other_pages_kept(parsers: ParserPool) -> None:
    bomb, survey = "https://papers.example/bomb.pdf", "https://papers.example/survey.pdf"
    pages: dict[str, tuple[PageKind, bytes]] = {
        bomb: ("pdf", raw_pdf(text_lines(b"A" * 1000, 40_000))),
        survey: ("pdf", pdf_of(TITLE, PAGES)),
    }
    search = WebSearch(_Hits([bomb, survey]), _Pages(pages), parsers=parsers)
    found = await search.fetch([bomb, survey], host="papers.example")
    assert [p.url for p in found.pages.values()] == [survey]
    assert found.refused == {"over_limit": 1} and found.fetches == 2


async def test_an_upload_the_bus_gives_up_on_is_rejected_with_the_reason(parsers: ParserPool) -> None:
    published: list[Event] = []

    class Recorder:
        # The task journal's bucket, never opened here.
        buckets = Buckets(lambda: cast(Any, None), replicas=1)

        async def publish(self, event: Event, subject: str | None = None) -> bool:
            published.append(event)
            return True

    unused: Any = None
    subs = subscriptions(cast(Bus, Recorder()), Components(index=unused, memory=unused, parsers=parsers))
    [documents] = [s for s in subs if s.durable == "retriever-documents"]
    uploaded = DocumentUploaded.create(
        DocumentUploadedPayload(document_id="doc-1", title="Bomb", content_type="text/plain", content="x"),
        tenant_id="t1",
    )
    assert documents.on_give_up is not None
    await documents.on_give_up(uploaded, "its handling never finished 2 times")
    [rejected] = published
    assert isinstance(rejected, DocumentRejected)
    assert rejected.payload.document_id == "doc-1" and "never finished 2 times" in rejected.payload.reason


async def test_workers_that_die_at_once_again_and_again_never_break_the_pool_for_good(parsers: ParserPool) -> None:
    """pebble loses track of a task whose worker dies before it reports taking it, and marks
    the whole pool broken; each parse must still be refused on its own and the next one read."""
    for _ in range(12):
        with pytest.raises(OverLimit, match="died"):
            await parsers.run(crash)
    await still_reads_an_ordinary_pdf(parsers)
