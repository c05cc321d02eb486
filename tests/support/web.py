"""The web as the retriever meets it in tests: a website of its own and a search engine over it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml  # type: ignore[import-untyped]

from services.policy.domain.registry import DEFAULT_REGISTRY
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


def registry_for_tests(directory: Path) -> Path:
    """The shipped tool registry, with the fake website's host (127.0.0.1, not `localhost`) on
    `fetch_url`'s allow-list and no time box, so the test does not depend on the hour it runs at."""
    registry = yaml.safe_load(DEFAULT_REGISTRY.read_text())
    fetch = registry["tools"]["fetch_url"]
    fetch["allowed_domains"] = [*fetch["allowed_domains"], "127.0.0.1"]
    fetch.pop("time_boxed", None)
    path = directory / "registry.yaml"
    path.write_text(yaml.safe_dump(registry))
    return path
