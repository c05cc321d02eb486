"""The web as the retriever meets it in tests: a website of its own and a search engine over it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tests.fakes.search_apis import IndexedPage, SearchEngine, searxng_app
from tests.fakes.serving import serve_app
from tests.fakes.website import Website

Web = tuple[Website, SearchEngine, str, str]  # the site, the engine, the SearXNG URL, the site's URL


@contextmanager
def served_web() -> Iterator[Web]:
    """The fake website and a SearXNG-like engine that indexes its catalogue, both listening."""
    site, engine = Website(), SearchEngine()
    with serve_app(site.app, "website") as site_url, serve_app(searxng_app(engine), "searxng") as searxng:
        engine.pages = [IndexedPage(site_url + path, title, text) for path, title, text in site.catalogue()]
        yield site, engine, searxng, site_url
