"""Composition root of the retriever."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from functools import partial
from pathlib import Path
from typing import Any, Literal, Self

import httpx
from pydantic import Field, SecretStr, field_validator, model_validator

from contracts.document import UPLOADS_BUCKET
from quarry_runtime.agent_configs import AgentConfigs
from quarry_runtime.blobs import BlobStore
from quarry_runtime.bus import Bus
from quarry_runtime.service import Service
from quarry_runtime.settings import RuntimeSettings
from quarry_security.egress import GuardedTransport
from services.retriever.application.memory import memory_index
from services.retriever.embeddings import EmbeddingsKind, build_embedder
from services.retriever.handlers import Components, subscriptions
from services.retriever.index import (
    DATASET,
    Fusion,
    SourceIndex,
    close_client,
    collection_for,
    open_client,
)
from services.retriever.index.carryover import carry_over
from services.retriever.parsing import ParseLimits, ParserPool
from services.retriever.providers import SearchProvider
from services.retriever.seeding import CorpusCache, default_cache_dir, seed_sample_corpus
from services.retriever.tombstones import DeletedDatasets
from services.retriever.web.brave import BRAVE_URL, BraveProvider
from services.retriever.web.fetch import FetchLimits, PageFetcher
from services.retriever.web.http import JsonApi
from services.retriever.web.robots import RobotsRules
from services.retriever.web.search import Breadth, WebSearch
from services.retriever.web.searxng import SearxngProvider
from services.retriever.web.tavily import TAVILY_URL, TavilyProvider

NAME = "retriever"
log = logging.getLogger(__name__)


class RetrieverSettings(RuntimeSettings):
    qdrant_url: str | None = Field(default=None, description="Qdrant server; local mode under data_dir when unset")
    qdrant_api_key: str | None = None
    seed_corpus: bool = Field(default=True, description="index the shipped sample corpus at start-up if absent")
    corpus_cache_dir: Path | None = Field(
        default_factory=default_cache_dir,
        description="where the sample corpus's chunks and vectors are kept for the next start (shared by "
        "replicas and local stacks); default $XDG_CACHE_HOME/quarry or ~/.cache/quarry; empty: none kept",
    )
    # -- hybrid retrieval: dense vectors beside BM25 (off by default: no model needed) --
    embeddings: EmbeddingsKind = Field(default="none", description="openai: an /v1/embeddings server; fastembed")
    embeddings_url: str | None = Field(default=None, description="OpenAI-compatible API root, e.g. http://h:8080/v1")
    embeddings_model: str | None = None
    embeddings_api_key: SecretStr | None = None
    hybrid_fusion: Fusion = Field(default="qdrant", description="RRF in Qdrant's Query API, or client-side")
    # -- the live web (used by runs whose sources include "web") --
    web_search_provider: Literal["searxng", "tavily", "brave"] | None = Field(
        default=None, description="which search API serves web sources; unset: the first one configured"
    )
    searxng_url: str | None = Field(default=None, description="a SearXNG instance with the json format enabled")
    tavily_url: str = TAVILY_URL
    tavily_api_key: SecretStr | None = None
    brave_url: str = BRAVE_URL
    brave_api_key: SecretStr | None = None
    web_search_timeout_s: float = Field(default=15.0, gt=0)
    web_user_agent: str = Field(default="QuarryBot/1.0 (+https://github.com/quarry/quarry)", min_length=1)
    web_pages_per_search: int = Field(default=5, ge=1, le=20)
    web_fetch_concurrency: int = Field(default=4, ge=1, le=32)
    web_connect_timeout_s: float = Field(default=5.0, gt=0)
    web_read_timeout_s: float = Field(default=10.0, gt=0)
    web_page_timeout_s: float = Field(default=20.0, gt=0)
    web_max_page_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    web_max_redirects: int = Field(default=5, ge=0, le=20)
    web_allow_private_hosts: bool = Field(
        default=False, description="let pages on loopback / private addresses be fetched (tests, intranets)"
    )
    # -- parsing uploads and fetched pages, in worker processes a bomb can kill (defaults: ParseLimits) --
    parse_workers: int = Field(default=ParseLimits.workers, ge=1, le=32, description="parser processes")
    parse_memory_mb: int = Field(
        default=ParseLimits.memory_mb, ge=128, le=65536, description="address space of a parser process"
    )
    parse_cpu_s: int = Field(default=ParseLimits.cpu_s, ge=1, le=600, description="CPU seconds one parse may use")
    parse_timeout_s: float = Field(
        default=ParseLimits.wall_s, gt=0, le=600, description="wall-clock seconds one parse may take"
    )
    parse_max_pages: int = Field(
        default=ParseLimits.max_pages, ge=1, le=100_000, description="pages of a PDF read at most"
    )
    parse_max_chars: int = Field(
        default=ParseLimits.max_chars, ge=1000, le=100_000_000, description="characters of text one document may yield"
    )

    def parse_limits(self) -> ParseLimits:
        return ParseLimits(
            memory_mb=self.parse_memory_mb,
            cpu_s=self.parse_cpu_s,
            wall_s=self.parse_timeout_s,
            max_pages=self.parse_max_pages,
            max_chars=self.parse_max_chars,
            workers=self.parse_workers,
        )

    @field_validator("corpus_cache_dir", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        # QUARRY_CORPUS_CACHE_DIR= (empty) keeps no cache, rather than one in the working directory
        return None if value == "" else value

    @model_validator(mode="after")
    def _chosen_provider_is_configured(self) -> Self:
        for url in (self.searxng_url, self.tavily_url, self.brave_url):
            if url is not None and not url.startswith(("http://", "https://")):
                raise ValueError(f"search API URLs must be http(s), got {url!r}")
        chosen = self.web_search_provider
        if chosen is not None and chosen not in self.configured_providers():
            need = {"searxng": "QUARRY_SEARXNG_URL", "tavily": "QUARRY_TAVILY_API_KEY", "brave": "QUARRY_BRAVE_API_KEY"}
            raise ValueError(f"QUARRY_WEB_SEARCH_PROVIDER={chosen} needs {need[chosen]}")
        return self

    def configured_providers(self) -> list[str]:
        """The search APIs this retriever can reach, in order of preference."""
        configured = [("searxng", self.searxng_url), ("tavily", self.tavily_api_key), ("brave", self.brave_api_key)]
        return [name for name, given in configured if given]


def web_search(
    s: RetrieverSettings, parsers: ParserPool
) -> tuple[WebSearch | None, list[Callable[[], Coroutine[Any, Any, None]]]]:
    """The web search of the configured API, and the closers of its HTTP clients; None when no API is set."""
    configured = s.configured_providers()
    name = s.web_search_provider or (configured[0] if configured else None)
    if name is None:
        return None, []
    api = JsonApi(name, timeout_s=s.web_search_timeout_s, user_agent=s.web_user_agent)
    provider: SearchProvider
    if name == "searxng" and s.searxng_url:
        provider = SearxngProvider(s.searxng_url, api)
    elif name == "tavily" and s.tavily_api_key:
        provider = TavilyProvider(s.tavily_url, s.tavily_api_key.get_secret_value(), api)
    elif name == "brave" and s.brave_api_key:
        provider = BraveProvider(s.brave_url, s.brave_api_key.get_secret_value(), api)
    else:  # the settings validator makes this unreachable
        raise ValueError(f"web search provider {name!r} is not configured")
    pages = httpx.AsyncClient(
        transport=GuardedTransport(allow_private=s.web_allow_private_hosts),
        headers={
            "User-Agent": s.web_user_agent,
            "Accept": "text/html,application/xhtml+xml,text/plain,application/pdf",
        },
        timeout=httpx.Timeout(s.web_read_timeout_s, connect=s.web_connect_timeout_s),
    )
    limits = FetchLimits(
        connect_timeout_s=s.web_connect_timeout_s,
        read_timeout_s=s.web_read_timeout_s,
        page_timeout_s=s.web_page_timeout_s,
        max_bytes=s.web_max_page_bytes,
        max_redirects=s.web_max_redirects,
    )
    fetcher = PageFetcher(pages, RobotsRules(pages, s.web_user_agent), limits)
    breadth = Breadth(pages_per_search=s.web_pages_per_search, concurrency=s.web_fetch_concurrency)
    search = WebSearch(provider, fetcher, parsers=parsers, breadth=breadth)
    log.info("web sources are searched with %s", name)
    return search, [closes_on_stop(api.aclose, pages.aclose)]


def closes_on_stop(*closers: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], Coroutine[Any, Any, None]]:
    """A background job that closes async clients when the service stops (`on_stop` callables are sync)."""

    async def hold() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            for close in closers:
                await close()

    return hold


def build(settings: RuntimeSettings) -> Service:
    s = settings if isinstance(settings, RetrieverSettings) else RetrieverSettings()
    # One client for both collections: local mode allows a single client per directory.
    if s.qdrant_url:
        client = open_client(url=s.qdrant_url, api_key=s.qdrant_api_key)
    else:
        client = open_client(path=settings.service_dir(NAME) / "qdrant")
    try:
        key = s.embeddings_api_key.get_secret_value() if s.embeddings_api_key else None
        embedder = build_embedder(s.embeddings, url=s.embeddings_url, model=s.embeddings_model, api_key=key)
        index = SourceIndex(
            client,
            collection=collection_for(embedder),
            embedder=embedder,
            fusion=s.hybrid_fusion,
            label_fields=(DATASET,),
        )
        memory = memory_index(client)
        index.ensure_collection()
        memory.ensure_collection()
        # Chunks stored under an earlier text analysis: the tenants' own, searchable again.
        carry_over(index)
        carry_over(memory, keep=lambda _: True)
    except BaseException:
        close_client(client)  # else a retried start finds the local directory still locked
        raise
    bus = Bus.from_settings(settings, NAME)
    parsers = ParserPool(s.parse_limits())
    web, closers = web_search(s, parsers)
    blobs = BlobStore(
        lambda: bus.broker.connection.jetstream(),
        UPLOADS_BUCKET,
        replicas=settings.stream_replicas,
        max_bytes=settings.object_store_max_bytes,
    )
    deleted = DeletedDatasets(bus)
    agents = AgentConfigs(lambda: bus.broker.connection.request)
    parts = Components(
        index=index,
        memory=memory,
        parsers=parsers,
        web=web,
        blobs=blobs,
        deleted=deleted,
        agents=agents,
        environment=s.environment,
    )
    for sub in subscriptions(bus, parts):
        bus.subscribe(sub)
    ready = asyncio.Event()

    cache = CorpusCache(s.corpus_cache_dir) if s.corpus_cache_dir else None

    async def seed() -> None:
        if s.seed_corpus:
            started = time.monotonic()
            chunks = await asyncio.to_thread(seed_sample_corpus, index, cache)
            if chunks:
                log.info("indexed the sample corpus: %d chunks in %.1fs", chunks, time.monotonic() - started)
        ready.set()

    async def corpus_ready() -> bool:
        return ready.is_set()

    return Service(
        NAME,
        bus,
        background=[seed, *closers],
        readiness={"corpus": corpus_ready},
        on_stop=[partial(close_client, client), parsers.close],
    )
