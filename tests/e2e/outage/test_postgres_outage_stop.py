"""PostgreSQL stopped for 30 s under a whole stack with 50 runs in flight: while it is away the
gateway answers 503, never 500, and it answers again once the server is back."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest

from devtools.client import QuarryClient
from devtools.pgserver import EphemeralCluster
from devtools.stack import Stack
from tests.e2e.outage.postgres_outage import (
    ASKED_DURING_OUTAGE,
    HALT_S,
    SMALL_RUN,
    assert_healed,
    base_url,
    dead_letter_seq,
    in_flight,
    start_batch,
)
from tests.support.polling import wait_for

# The stack's start (the retriever indexes its corpus first) counts toward the test's timeout;
# the case's own time is asserted against CASE_BUDGET_S.
pytestmark = [pytest.mark.e2e, pytest.mark.infra, pytest.mark.timeout(900)]


class Prober:
    """Asks the gateway for a run's view and for a sign-up, over and over, recording the codes."""

    def __init__(self, stack: Stack, client: QuarryClient, run_id: str, asker: QuarryClient) -> None:
        self.url = base_url(stack)
        self.token = client.token
        self.run_id = run_id
        # A tenant of its own asks for new runs during the outage: whatever is admitted must complete.
        self.asker = asker
        self.admitted: list[str] = []
        self.codes: Counter[str] = Counter()
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._probe, name="prober", daemon=True)

    def _probe(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10.0) as http:
            n = 0
            while not self._stop.wait(0.5):
                n += 1
                try:
                    view = http.get(f"/v1/runs/{self.run_id}", headers={"Authorization": f"Bearer {self.token}"})
                    self._record("view", view)
                    if n % 6 == 3 and len(self.admitted) < ASKED_DURING_OUTAGE:
                        asked = http.post(
                            "/v1/runs",
                            json={
                                "question": f"How do generators work in Python (asked in the outage {n})?",
                                **SMALL_RUN,
                            },
                            headers={"Authorization": f"Bearer {self.asker.token}"},
                        )
                        self._record("create", asked)
                        if asked.status_code == 202:
                            self.admitted.append(str(asked.json()["run_id"]))
                    if n % 4 == 0:
                        signup = http.post(
                            "/v1/auth/signup",
                            json={
                                "email": f"probe-{uuid.uuid4().hex[:8]}@example.com",
                                "password": "correct-horse-battery",
                                "tenant_name": "probe",
                            },
                        )
                        self._record("signup", signup)
                except httpx.HTTPError as exc:
                    self.codes[f"no answer ({type(exc).__name__})"] += 1

    def _record(self, what: str, response: httpx.Response) -> None:
        self.codes[f"{what} {response.status_code}"] += 1
        if response.status_code >= 500 and response.status_code != 503:
            self.errors.append(f"{what} {response.status_code}: {response.text[:300]}")

    def __enter__(self) -> Prober:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def answers(stack: Stack, client: QuarryClient, run_id: str) -> bool:
    try:
        view: dict[str, Any] = client.run(run_id)
    except httpx.HTTPError:
        return False
    return bool(view["run_id"] == run_id)


def test_postgres_stopped_for_thirty_seconds_under_fifty_runs_heals_by_itself(
    pg_stack: Stack, pg_cluster: EphemeralCluster
) -> None:
    stack = pg_stack
    dead_before = dead_letter_seq(stack)
    batch = start_batch(stack, "halt")
    try:
        in_flight(batch)
        run_id, client = next(iter(batch.runs.items()))
        asker = QuarryClient(base_url(stack))
        batch.clients.append(asker)
        batch.tenants.append(
            str(
                asker.signup(f"asker-{uuid.uuid4().hex[:6]}@example.com", "correct-horse-battery", "asker")["tenant_id"]
            )
        )
        with Prober(stack, client, run_id, asker) as prober:
            pg_cluster.halt()
            halted = time.monotonic()
            print(f"stopped PostgreSQL {halted - batch.started:.1f}s after the first run")
            try:
                time.sleep(HALT_S)  # the outage itself: its length is the point, nothing to poll for
                during = Counter(prober.codes)
            finally:
                pg_cluster.resume()
            wait_for(lambda: answers(stack, client, run_id), 60.0, "the gateway to answer once PostgreSQL is back")
            print(f"the gateway answered {time.monotonic() - halted - HALT_S:.1f}s after PostgreSQL was back")
        print(f"during the stop: {dict(during)}")
        assert not prober.errors, "the gateway answered with errors other than 503:\n" + "\n".join(prober.errors)
        assert during["view 503"] + during["signup 503"] > 0, f"no 503 while PostgreSQL was stopped: {dict(during)}"
        # Admitted while the database was away: held, never lost.
        batch.runs.update(dict.fromkeys(prober.admitted, asker))
        signup = client.http.post(
            "/v1/auth/signup",
            json={
                "email": f"after-{uuid.uuid4().hex[:8]}@example.com",
                "password": "correct-horse-battery",
                "tenant_name": "after",
            },
        )
        assert signup.status_code == 201, signup.text
        assert_healed(stack, batch, dead_before, "a 30 s PostgreSQL stop")
    finally:
        batch.close()
