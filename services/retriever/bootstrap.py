"""Composition root of the retriever."""

from __future__ import annotations

import asyncio
import logging
import time

from pydantic import Field

from quarry_runtime.bus import Bus
from quarry_runtime.service import Service
from quarry_runtime.settings import RuntimeSettings
from services.retriever.corpus import sample_corpus
from services.retriever.handlers import subscriptions
from services.retriever.index import PUBLIC_TENANT, SourceIndex, ingest_documents

NAME = "retriever"
log = logging.getLogger(__name__)


class RetrieverSettings(RuntimeSettings):
    qdrant_url: str | None = Field(default=None, description="Qdrant server; local mode under data_dir when unset")
    qdrant_api_key: str | None = None
    seed_corpus: bool = Field(default=True, description="index the shipped sample corpus at start-up if absent")


def build(settings: RuntimeSettings) -> Service:
    s = settings if isinstance(settings, RetrieverSettings) else RetrieverSettings()
    if s.qdrant_url:
        index = SourceIndex(url=s.qdrant_url, api_key=s.qdrant_api_key)
    else:
        index = SourceIndex(path=settings.service_dir(NAME) / "qdrant")
    index.ensure_collection()
    bus = Bus.from_settings(settings, NAME)
    for sub in subscriptions(bus, index):
        bus.subscribe(sub)
    ready = asyncio.Event()

    async def seed() -> None:
        if s.seed_corpus and index.count(PUBLIC_TENANT) == 0:
            started = time.monotonic()
            chunks = await asyncio.to_thread(ingest_documents, index, sample_corpus(), PUBLIC_TENANT)
            log.info("indexed the sample corpus: %d chunks in %.1fs", chunks, time.monotonic() - started)
        ready.set()

    async def corpus_ready() -> bool:
        return ready.is_set()

    return Service(NAME, bus, background=[seed], checks={"corpus": corpus_ready}, on_stop=[index.close])
