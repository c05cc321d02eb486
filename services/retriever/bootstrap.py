"""Composition root of the retriever."""

from __future__ import annotations

import asyncio
import logging
import time
from functools import partial

from pydantic import Field

from quarry_runtime.bus import Bus
from quarry_runtime.service import Service
from quarry_runtime.settings import RuntimeSettings
from services.retriever.corpus import sample_corpus
from services.retriever.handlers import subscriptions
from services.retriever.index import PUBLIC_TENANT, SourceIndex, close_client, ingest_documents, open_client
from services.retriever.memory import memory_index

NAME = "retriever"
log = logging.getLogger(__name__)


class RetrieverSettings(RuntimeSettings):
    qdrant_url: str | None = Field(default=None, description="Qdrant server; local mode under data_dir when unset")
    qdrant_api_key: str | None = None
    seed_corpus: bool = Field(default=True, description="index the shipped sample corpus at start-up if absent")


def build(settings: RuntimeSettings) -> Service:
    s = settings if isinstance(settings, RetrieverSettings) else RetrieverSettings()
    # One client for both collections: local mode allows a single client per directory.
    if s.qdrant_url:
        client = open_client(url=s.qdrant_url, api_key=s.qdrant_api_key)
    else:
        client = open_client(path=settings.service_dir(NAME) / "qdrant")
    try:
        index = SourceIndex(client)
        memory = memory_index(client)
        index.ensure_collection()
        memory.ensure_collection()
    except BaseException:
        close_client(client)  # else a retried start finds the local directory still locked
        raise
    bus = Bus.from_settings(settings, NAME)
    for sub in subscriptions(bus, index, memory):
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

    return Service(
        NAME, bus, background=[seed], checks={"corpus": corpus_ready}, on_stop=[partial(close_client, client)]
    )
