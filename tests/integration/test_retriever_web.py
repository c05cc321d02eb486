"""The retriever service answering a web search task, then a fetch task over the pages it offered,
over a real JetStream, against a local SearXNG JSON API and a local website (robots.txt,
boilerplate, traps, an injection attempt)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contracts import subjects
from contracts.task import TaskDispatched, TaskDispatchedPayload
from contracts.work import FetchInput, FetchOutput, PagesWanted, SearchInput, SearchOutput
from quarry_runtime.bus import Bus, Subscription
from quarry_runtime.service import run
from services.retriever.bootstrap import RetrieverSettings, build
from tests.fakes.website import (
    BINARY_PATH,
    HUGE_PATH,
    INJECTED,
    KELP,
    MIRROR,
    PRIVATE_PATH,
    SLOW_PATH,
    TIDE_POOLS,
)
from tests.support.jetstream import drained, service_drained
from tests.support.polling import eventually
from tests.support.web import Web, served_web

pytestmark = pytest.mark.infra


@pytest.fixture(scope="module")
def web() -> Iterator[Web]:
    with served_web() as served:
        yield served


def search_task(tenant: str, inp: SearchInput | FetchInput, kind: str = "search") -> TaskDispatched:
    payload = TaskDispatchedPayload(
        task_id=str(uuid.uuid4()),
        kind=kind,
        role="retriever",
        input=inp.model_dump(),
    )
    return TaskDispatched.create(payload, tenant_id=tenant, run_id=str(uuid.uuid4()))


async def test_the_retriever_searches_then_fetches_as_two_tasks_each_metered_once(
    nats_url: str, tmp_path: Path, web: Web
) -> None:
    site, engine, searxng, site_url = web
    settings = RetrieverSettings(
        nats_url=nats_url,
        data_dir=tmp_path,
        seed_corpus=False,
        searxng_url=searxng,
        web_allow_private_hosts=True,  # the local website lives on 127.0.0.1
        web_pages_per_search=20,
        # Roomy enough for an ordinary local page on a loaded machine, short of the slow page's
        # SLOW_S, which must still time out.
        web_read_timeout_s=3.0,
        web_page_timeout_s=4.0,
        web_max_page_bytes=1024 * 1024,
    )
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    seen: list[Any] = []
    probe = Bus(nats_url, f"probe-{uuid.uuid4().hex[:6]}")

    async def collect(ev: Any) -> None:
        if ev.tenant_id == tenant:
            seen.append(ev)

    outcomes = (subjects.TASK_SUCCEEDED, subjects.TASK_FAILED, subjects.USAGE_RECORDED, subjects.GUARDRAIL_TRIPPED)
    collectors = [f"{probe.service}-{subject.replace('.', '-')}" for subject in outcomes]
    for subject, durable in zip(outcomes, collectors, strict=True):
        probe.subscribe(Subscription(subject, durable, collect))
    stop = asyncio.Event()
    service = build(settings)
    runner = asyncio.create_task(run(service, settings, stop))
    await probe.start()
    try:
        inp = SearchInput(question="tide pools", sub_question="tide pools zonation", limit=8, sources=["web"])
        await probe.publish(search_task(tenant, inp), subjects.task_lane("retriever"))
        await eventually(lambda: any(e.type == "task.succeeded" for e in seen), what="the search task's result")
        searched = next(e for e in seen if e.type == "task.succeeded")
        offered = SearchOutput.model_validate(searched.payload.output)
        assert offered.passages == [] and site.paths() == []  # the search offers pages, fetches none
        urls = [c.url for c in offered.candidates]
        wanted = PagesWanted(sub_question=inp.sub_question, query="tide pools zonation tide pools", urls=urls, limit=8)
        task = search_task(tenant, FetchInput(url=urls[0], urls=urls, wanted=[wanted]), kind="fetch")
        await probe.publish(task, subjects.task_lane("retriever"))
        await eventually(lambda: sum(e.type == "task.succeeded" for e in seen) == 2, what="the fetch task's result")
        fetched_once = sorted(site.paths())
        # The same task again (a redelivery after a crash before the ack): the journal answers it.
        await probe.broker.publish(
            task.to_bytes(),
            subjects.task_lane("retriever"),
            headers={"Nats-Msg-Id": f"{task.event_id}-again"},
            stream=subjects.STREAM,
        )
        js = probe.broker.connection.jetstream()
        await service_drained(js, "retriever")
        await drained(js, *collectors)
    finally:
        await probe.stop()
        stop.set()
        await runner

    assert not [e for e in seen if e.type == "task.failed"]
    done = next(e for e in seen if e.type == "task.succeeded" and e.payload.task_id == task.payload.task_id)
    (found,) = FetchOutput.model_validate(done.payload.output).findings
    assert found.passages and all(p.source_id.startswith(site_url) for p in found.passages)
    assert found.passages[0].source_id.endswith(TIDE_POOLS.path)
    assert not any(
        p.source_id.endswith((MIRROR.path, PRIVATE_PATH, BINARY_PATH, HUGE_PATH, SLOW_PATH)) for p in found.passages
    )
    assert all("Ignore all previous instructions" not in p.text and "Copyright" not in p.text for p in found.passages)

    recorded = {e.event_id: e for e in seen if e.type == "usage.recorded"}.values()
    assert sorted(e.payload.tool for e in recorded) == ["fetch_url", "web_search"]  # the redelivery metered nothing
    usage = {e.payload.tool: e for e in recorded}
    assert usage["web_search"].payload.search_calls == 1 and usage["fetch_url"].payload.search_calls == 10
    assert done.payload.usage_event_ids == [usage["fetch_url"].event_id]
    assert searched.payload.usage_event_ids == [usage["web_search"].event_id]
    (trip,) = {e.event_id: e for e in seen if e.type == "guardrail.tripped"}.values()
    assert trip.payload.where == "source" and trip.payload.task_id == task.payload.task_id
    assert trip.payload.counts == {"ignore_instructions": 1, "prompt_exfiltration": 1}

    assert PRIVATE_PATH not in fetched_once and fetched_once.count("/robots.txt") == 1
    assert INJECTED.path in fetched_once and KELP.path in fetched_once
    assert sorted(site.paths()) == fetched_once  # the redelivered task fetched nothing again
    assert len(engine.asked("searxng")) == 1  # nor searched again
