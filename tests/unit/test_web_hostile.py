"""Hostile web pages: a page or robots.txt sent as a compression bomb is refused without being
unpacked in memory past the fetcher's caps; a link or redirect to a URL that cannot even be
requested is refused like any other page, not raised through the whole search."""

from __future__ import annotations

import httpx
import pytest

from services.retriever.web.fetch import FetchLimits, FetchRefused, PageFetcher
from services.retriever.web.robots import RobotsRules
from tests.fakes.bombs import Chunked, packed_zeros, peak_memory

AGENT = "QuarryBot/1.0"
LIMITS = FetchLimits(max_bytes=1024 * 1024)
HTML = {"content-type": "text/html"}


def fetcher(page: httpx.Response, robots: httpx.Response) -> PageFetcher:
    def answer(request: httpx.Request) -> httpx.Response:
        return robots if request.url.path == "/robots.txt" else page

    http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    return PageFetcher(http, RobotsRules(http, AGENT), LIMITS)


@pytest.mark.parametrize("encoding", ["gzip", "gzip, gzip"])
async def test_a_page_sent_as_a_compression_bomb_is_refused_within_its_cap(encoding: str) -> None:
    bomb = packed_zeros(128 << 20, layers=encoding.count("gzip"))
    page = httpx.Response(200, headers={**HTML, "content-encoding": encoding}, stream=Chunked(bomb))
    with peak_memory() as peak, pytest.raises(FetchRefused) as refused:
        await fetcher(page, httpx.Response(404)).fetch("https://bomb.example/page")
    assert refused.value.kind in ("too_large", "network"), refused.value
    assert peak.bytes < 16 << 20, f"{peak.bytes} bytes held at once"


async def test_a_robots_txt_sent_as_a_compression_bomb_is_read_no_further_than_its_cap() -> None:
    robots = httpx.Response(200, headers={"content-encoding": "gzip"}, stream=Chunked(packed_zeros(128 << 20, 1)))
    page = httpx.Response(200, headers=HTML, content=b"<p>kelp</p>")
    with peak_memory() as peak:
        fetched = await fetcher(page, robots).fetch("https://bomb.example/page")
    assert fetched.body == b"<p>kelp</p>"
    assert peak.bytes < 16 << 20, f"{peak.bytes} bytes held at once"


@pytest.mark.parametrize("target", ["http://0177.0.0.1/", "http://xn--/"])
async def test_a_url_that_cannot_be_requested_is_refused_as_a_url(target: str) -> None:
    page = httpx.Response(200, headers=HTML, content=b"<p>kelp</p>")
    with pytest.raises(FetchRefused) as refused:
        await fetcher(page, httpx.Response(404)).fetch(target)
    assert refused.value.kind == "url"
    moved = httpx.Response(302, headers={"location": target})
    with pytest.raises(FetchRefused) as refused:
        await fetcher(moved, httpx.Response(404)).fetch("https://hostile.example/")
    # httpx itself may already refuse the Location header as a protocol error.
    assert refused.value.kind in ("url", "network")
