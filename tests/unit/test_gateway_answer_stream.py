"""A follow-up's answer stream against the real gateway app (SQLite store, no bus): parts are
sent in order without a gap, even when one is written after those behind it (its first delivery
failed and the bus redelivered it late), and a resumed stream loses none."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from contracts.envelope import Actor
from contracts.ids import new_id
from contracts.question import QuestionAnswered, QuestionAnswerPart, QuestionAsked, QuestionAskedPayload
from quarry_runtime.artifacts import ArtifactStore
from quarry_runtime.store import SqlDatabase
from services.gateway.api.deps import Components
from services.gateway.app import create_app
from services.gateway.application import questions as question_use_cases
from services.gateway.readmodels.monitors import MonitorStore
from services.gateway.readmodels.projection import RunFeed
from services.gateway.readmodels.store import GatewayStore
from services.gateway.settings import GatewaySettings

PARTS = ["A with statement ", "calls __enter__, ", "then __exit__."]


@pytest.fixture
def gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, GatewayStore]]:
    # The stream looks again this often when nothing new was told to it (no bus here to tell it).
    monkeypatch.setattr(question_use_cases, "SSE_IDLE_WAIT_S", 0.1)
    settings = GatewaySettings(data_dir=tmp_path, web_dist=tmp_path / "none")
    db = SqlDatabase(settings, "gateway")
    store = GatewayStore(db)
    parts = Components(settings, store, cast(Any, None), RunFeed(), ArtifactStore(tmp_path / "a"), MonitorStore(db))
    yield TestClient(create_app(parts)), store
    db.close()


def signed_up(http: TestClient) -> tuple[dict[str, str], str]:
    r = http.post(
        "/v1/auth/signup",
        json={"email": "ada@example.com", "password": "a-long-passphrase-9", "tenant_name": "Ada"},
    )
    assert r.status_code == 201, r.text
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    return headers, str(http.get("/v1/auth/me", headers=headers).json()["tenant_id"])


def part(tenant_id: str, question_id: str, seq: int) -> QuestionAnswerPart:
    return QuestionAnswerPart.create(
        {"question_id": question_id, "seq": seq, "text": PARTS[seq]}, tenant_id=tenant_id, run_id=question_id
    )


def read(http: TestClient, url: str, headers: dict[str, str]) -> list[tuple[str, str, Any]]:
    """(event, id, data) of each event of the stream, read to its end."""
    events: list[tuple[str, str, Any]] = []
    with http.stream("GET", url, headers=headers) as r:
        assert r.status_code == 200
        block: dict[str, str] = {}
        for line in r.iter_lines():
            if not line.strip():
                if "event" in block:
                    events.append((block["event"], block.get("id", ""), json.loads(block.get("data", "null"))))
                block = {}
            elif ": " in line and not line.startswith(":"):
                key, value = line.split(": ", 1)
                block[key] = value
    return events


def test_parts_written_out_of_order_are_streamed_in_order_without_a_gap(
    gateway: tuple[TestClient, GatewayStore],
) -> None:
    http, store = gateway
    headers, tenant_id = signed_up(http)
    run_id = new_id()
    asked = QuestionAsked.create(
        QuestionAskedPayload(question_id=new_id(), run_id=run_id, text="How does it tear down?", scope="run"),
        tenant_id=tenant_id,
        run_id=new_id(),
        actor=Actor(user_id="u1", roles=["owner"]),
    )
    qid = asked.payload.question_id
    assert store.questions.apply(asked)
    # Parts 1 and 2 are written first; part 0 (redelivered) and the answer come while the
    # client is reading.
    assert store.questions.apply(part(tenant_id, qid, 1)) and store.questions.apply(part(tenant_id, qid, 2))

    def late() -> None:
        store.questions.apply(part(tenant_id, qid, 0))
        store.questions.apply(
            QuestionAnswered.create(
                {"question_id": qid, "run_id": run_id, "answer": "".join(PARTS), "citations": []},
                tenant_id=tenant_id,
                run_id=qid,
            )
        )

    timer = threading.Timer(0.5, late)
    timer.start()
    events = read(http, f"/v1/runs/{run_id}/questions/{qid}/events", headers)
    timer.join()
    sent = [(e, i) for e, i, _ in events if e == "part"]
    assert sent == [("part", "0"), ("part", "1"), ("part", "2")], events
    assert [e for e, _, _ in events][-2:] == ["answered", "end"]
    assert "".join(d["text"] for e, _, d in events if e == "part") == "".join(PARTS)

    # Resumed after part 1: part 2 only, then the answer.
    resumed = read(http, f"/v1/runs/{run_id}/questions/{qid}/events", headers | {"Last-Event-ID": "1"})
    assert [(e, i) for e, i, _ in resumed if e == "part"] == [("part", "2")]
