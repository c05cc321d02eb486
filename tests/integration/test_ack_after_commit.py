"""Every durable consumer acknowledges a message only once what the message caused is durable.

For each consumer in `contracts.consumers`, on a real nats-server: the service's own handler
takes a message while its store fails between handling and commit (the event store's commit,
the read model's COMMIT or write, the task journal's put, the search index's write). JetStream
must keep the message unacknowledged (its ack floor stays below it) and redeliver it, with
nothing of it applied; once the store works again the message is acknowledged and its effect is
in the store exactly once: for an event-sourced service, exactly the events a copy of the store
records when the same handler applies the message once, with nothing failing. The SQL stores
are proven on SQLite and on a real PostgreSQL whose COMMIT fails (disk full); the group commit
also with copies of one message handled in one group.

Each case runs the consumer under a durable name of its own (the service's name with a suffix),
created to start at the next message, so the stream's earlier traffic is not replayed into it;
everything after the durable's creation (the subscription, the handler, the bus's ack path,
the group commit) is the service's own.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import pytest

from contracts import subjects
from contracts.consumers import CONSUMERS
from tests.integration.ack_cases_applications import BILLING, ORCHESTRATOR, billing_case, durables_of, orchestrator_case
from tests.integration.ack_cases_stores import budget_case, gateway_case, publication_case, tool_request_case
from tests.integration.ack_cases_workers import dataset_case, lane_case, upload_case
from tests.integration.ack_proof import Build, prove_ack_after_commit

pytestmark = pytest.mark.infra


# -- every consumer, and the tests --------------------------------------------------------------

Cases = dict[str, Callable[[Path], Build]]


def every_case() -> Cases:
    """The proof for each durable consumer, by durable name."""
    cases: Cases = {}
    for subject, durable in durables_of("orchestrator").items():
        cases[durable] = functools.partial(orchestrator_case, setup=ORCHESTRATOR[subject], durable=durable)
    for subject, durable in durables_of("billing").items():
        cases[durable] = functools.partial(billing_case, setup=BILLING[subject], durable=durable)
    for durable in durables_of("gateway").values():
        cases[durable] = functools.partial(gateway_case, durable=durable)
    durables = durables_of("policy")
    cases[durables[subjects.TOOL_REQUESTED]] = tool_request_case
    cases[durables[subjects.POLICY_PUBLISHED]] = publication_case
    cases[durables["credits.>"]] = budget_case
    for role in ("retriever", "analyst", "reporter"):
        cases[f"{role}-lane"] = functools.partial(lane_case, role=role)
    durables = durables_of("retriever")
    cases[durables[subjects.DOCUMENT_UPLOADED]] = upload_case
    cases[durables[subjects.DATASET_DELETED]] = dataset_case
    return cases


def _service_of(durable: str) -> str:
    return next(service for service, consumers in CONSUMERS.items() if durable in {c.durable for c in consumers})


def test_every_consumer_has_an_ack_after_commit_proof() -> None:
    """A consumer added to contracts.consumers without a case here fails this test."""
    listed = {c.durable for consumers in CONSUMERS.values() for c in consumers}
    cases = every_case()
    assert sorted(listed - cases.keys()) == [], "consumers without an ack-after-commit case"
    assert sorted(cases.keys() - listed) == [], "cases for consumers that no longer exist"


@pytest.mark.parametrize("durable", sorted(every_case()))
async def test_a_consumer_acks_only_after_its_effect_is_durable(durable: str, nats_url: str, tmp_path: Path) -> None:
    await prove_ack_after_commit(nats_url, _service_of(durable), durable, every_case()[durable](tmp_path))


async def test_a_policy_switch_whose_announcement_failed_is_announced_on_redelivery(
    nats_url: str, tmp_path: Path
) -> None:
    """The switch is committed, then the publish of `policy.v1.activated` fails: the redelivered
    publication must announce it, not find it 'not newer' and be acknowledged unannounced."""
    durable = durables_of("policy")[subjects.POLICY_PUBLISHED]
    await prove_ack_after_commit(nats_url, "policy", durable, publication_case(tmp_path, fail_announcement=True))


@pytest.mark.parametrize("service", ["orchestrator", "billing"])
async def test_copies_handled_in_one_group_are_acked_only_after_its_commit(
    service: str, nats_url: str, tmp_path: Path
) -> None:
    """Three copies of one message fetched together: the first stages its effect, the others find
    it staged and stage nothing. None may be acknowledged before that group is committed; when
    the commit fails all are redelivered, and the effect is applied once when it succeeds."""
    if service == "orchestrator":
        durable = durables_of(service)[subjects.TASK_SUCCEEDED]
        build = orchestrator_case(tmp_path, ORCHESTRATOR[subjects.TASK_SUCCEEDED], durable, copies=3)
    else:
        durable = durables_of(service)[subjects.USAGE_RECORDED]
        build = billing_case(tmp_path, BILLING[subjects.USAGE_RECORDED], durable, copies=3)
    await prove_ack_after_commit(nats_url, service, durable, build)


async def test_the_reporter_acks_only_after_its_artifacts_are_written(nats_url: str, tmp_path: Path) -> None:
    """The report's files are its effect too: a write that fails keeps the task unacknowledged."""
    await prove_ack_after_commit(
        nats_url, "reporter", "reporter-lane", lane_case(tmp_path, "reporter", fail_artifacts=True)
    )


POSTGRES_CONSUMERS = [
    *durables_of("gateway").values(),
    *(c.durable for c in CONSUMERS["policy"]),
]


@pytest.mark.parametrize("durable", POSTGRES_CONSUMERS)
async def test_on_postgres_a_consumer_acks_only_after_its_commit(
    durable: str, nats_url: str, tmp_path: Path, database_url: str
) -> None:
    """The read-model and policy stores on a real PostgreSQL whose COMMIT fails (disk full): the
    handlers run their queries off the event loop there, another path than SQLite's."""
    service = _service_of(durable)
    if service == "gateway":
        build = gateway_case(tmp_path, durable, database_url)
    else:
        build = {
            "policy-tool-requests": tool_request_case,
            "policy-versions": publication_case,
            "policy-budgets": budget_case,
        }[durable](tmp_path, database_url)
    await prove_ack_after_commit(nats_url, service, durable, build)
