"""Cost attribution per step, folded from a run's log as the gateway stores it (real contract
events, dumped as the log keeps them): retries, a run refunded in full, a capped settlement,
usage missing from the log, billing silent."""

from __future__ import annotations

from typing import Any

from contracts.credits import (
    CreditsRefunded,
    CreditsRefundedPayload,
    CreditsReserved,
    CreditsReservedPayload,
    CreditsSettled,
    CreditsSettledPayload,
)
from contracts.ids import new_id
from contracts.run import (
    RunCompleted,
    RunCompletedPayload,
    RunFailed,
    RunFailedPayload,
    RunRequested,
    RunRequestedPayload,
)
from quarry_runtime.shares import apportion
from services.gateway.domain.costs import run_costs
from tests.support.run_log import RunLog


def researched(log: RunLog) -> dict[str, str]:
    """A plan, a search per sub-question (the first retried once) and a synthesis; usage ids by name."""
    log.add(0, RunRequested.create(RunRequestedPayload(question="How?", depth=1, max_sources=2), **log.ids))
    log.add(0.5, CreditsReserved.create(CreditsReservedPayload(amount=40, balance=960), **log.ids))
    ids: dict[str, str] = {}
    log.dispatch(1, "plan", "plan", "analyst")
    ids["plan"] = log.usage(2, "plan", "plan", "llm_generate", tokens_in=1000, tokens_out=50, model="m-a")
    log.succeed(2.5, "plan", "plan", [ids["plan"]])
    log.dispatch(3, "s1", "search", "retriever", sub_question="What is a cycle?")
    ids["s1-try1"] = log.usage(4, "s1", "search", "web_search", search_calls=2)
    log.fail(5, "s1", "search", [ids["s1-try1"]])
    log.dispatch(6, "s1", "search", "retriever", attempt=2, sub_question="What is a cycle?")
    ids["s1-try2"] = log.usage(7, "s1", "search", "web_search", search_calls=3)
    log.succeed(7.5, "s1", "search", [ids["s1-try2"]], attempt=2)
    log.dispatch(3, "s2", "search", "retriever", sub_question="Who collects it?")
    ids["s2"] = log.usage(4, "s2", "search", "web_search", search_calls=1)
    log.succeed(4.5, "s2", "search", [ids["s2"]])
    log.dispatch(8, "syn", "synthesise", "analyst")
    ids["syn-a"] = log.usage(9, "syn", "synthesise", "llm_generate", tokens_in=900, tokens_out=300, model="m-a")
    ids["syn-b"] = log.usage(9, "syn", "synthesise", "llm_generate", tokens_in=100, tokens_out=20, model="m-b")
    log.succeed(10, "syn", "synthesise", [ids["syn-a"], ids["syn-b"]])
    return ids


PRICES = {"plan": 3, "s1-try1": 1, "s1-try2": 2, "s2": 1, "syn-a": 5, "syn-b": 1}


def metered_for(ids: dict[str, str]) -> dict[str, int]:
    return {ids[name]: credits for name, credits in PRICES.items()}


def settle(log: RunLog, at: float, amount: int, used: list[str], released: int) -> None:
    log.add(at, RunCompleted.create(RunCompletedPayload(usage_event_ids=used, sources=2), **log.ids))
    log.add(at, CreditsSettled.create(CreditsSettledPayload(amount=amount, usage_event_ids=used, balance=0), **log.ids))
    payload = CreditsRefundedPayload(amount=released, reason="unused reservation", balance=0)
    log.add(at, CreditsRefunded.create(payload, **log.ids))


def by_task(costs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["task_id"]: s for s in costs["steps"]}


def test_each_step_shows_its_time_tokens_by_model_tool_calls_and_the_credits_charged() -> None:
    log = RunLog()
    ids = researched(log)
    settle(log, 12, 13, list(ids.values()), released=27)
    costs = run_costs(log.as_json(), metered_for(ids))
    steps = by_task(costs)
    assert [s["kind"] for s in costs["steps"]] == ["plan", "search", "search", "synthesise"]
    syn = steps["syn"]
    assert syn["wall_ms"] == 2000 and syn["tokens_in"] == 1000 and syn["tokens_out"] == 320
    assert syn["by_model"] == [
        {"model": "m-a", "tokens_in": 900, "tokens_out": 300},
        {"model": "m-b", "tokens_in": 100, "tokens_out": 20},
    ]
    assert syn["tool_calls"] == {"llm_generate": 2}
    assert syn["credits"] == {"metered": 6, "charged": 6, "refunded": 0, "unmetered_records": 0}
    assert steps["s2"]["sub_question"] == "Who collects it?" and steps["s2"]["search_calls"] == 1
    totals = costs["totals"]
    assert totals["wall_ms"] == 12000 and totals["tokens_in"] == 2000 and totals["tokens_out"] == 370
    assert totals["tool_calls"] == {"llm_generate": 3, "web_search": 3}
    assert totals["credits"] == {
        "available": True,
        "settlement": "settled",
        "reserved": 40,
        "metered": 13,
        "charged": 13,
        "refunded": 0,
        "settled": 13,
        "released": 27,
        "unmetered_records": 0,
    }


def test_a_retried_step_shows_each_attempt_with_the_usage_its_outcome_names() -> None:
    log = RunLog()
    ids = researched(log)
    s1 = by_task(run_costs(log.as_json(), metered_for(ids)))["s1"]
    assert [(a["attempt"], a["outcome"], a["duration_ms"], a["credits"]) for a in s1["attempts"]] == [
        (1, "failed", 2000, 1),
        (2, "succeeded", 1500, 2),
    ]
    assert s1["attempts"][0]["reason"] == "timeout"
    assert s1["wall_ms"] == 4500 and s1["search_calls"] == 5 and s1["tool_calls"] == {"web_search": 2}
    # Open: metered, nothing charged or refunded yet.
    assert s1["credits"] == {"metered": 3, "charged": None, "refunded": None, "unmetered_records": 0}


def test_a_failed_attempt_the_settlement_does_not_name_is_refunded() -> None:
    log = RunLog()
    ids = researched(log)
    charged = [u for name, u in ids.items() if name != "s1-try1"]
    settle(log, 12, 12, charged, released=28)
    costs = run_costs(log.as_json(), metered_for(ids))
    assert by_task(costs)["s1"]["credits"] == {"metered": 3, "charged": 2, "refunded": 1, "unmetered_records": 0}
    assert costs["totals"]["credits"]["charged"] == costs["totals"]["credits"]["settled"] == 12
    assert costs["totals"]["credits"]["refunded"] == 1


def test_a_run_failed_on_the_platform_is_refunded_step_by_step() -> None:
    log = RunLog()
    ids = researched(log)
    log.add(11, RunFailed.create(RunFailedPayload(reason="report lane down", fault="platform"), **log.ids))
    payload = CreditsRefundedPayload(amount=40, reason="the platform failed", balance=1000)
    log.add(11.5, CreditsRefunded.create(payload, **log.ids))
    costs = run_costs(log.as_json(), metered_for(ids))
    assert by_task(costs)["syn"]["credits"] == {"metered": 6, "charged": 0, "refunded": 6, "unmetered_records": 0}
    credits = costs["totals"]["credits"]
    assert (credits["settlement"], credits["charged"], credits["refunded"], credits["released"]) == (
        "refunded",
        0,
        13,
        40,
    )


def test_a_capped_settlement_is_shared_out_so_the_steps_add_up_to_it() -> None:
    log = RunLog()
    ids = researched(log)
    settle(log, 12, 7, list(ids.values()), released=0)
    costs = run_costs(log.as_json(), metered_for(ids))
    charged = {s["task_id"]: s["credits"]["charged"] for s in costs["steps"]}
    assert sum(charged.values()) == costs["totals"]["credits"]["settled"] == 7
    assert all(s["credits"]["charged"] <= s["credits"]["metered"] for s in costs["steps"])
    assert charged["syn"] >= charged["plan"] >= charged["s2"]


def test_usage_missing_from_the_log_or_from_billing_is_counted_not_guessed() -> None:
    log = RunLog()
    log.add(0, RunRequested.create(RunRequestedPayload(question="How?", depth=1, max_sources=2), **log.ids))
    log.dispatch(1, "plan", "plan", "analyst")
    log.succeed(2, "plan", "plan", [new_id()])  # its usage record has not reached the gateway yet
    log.dispatch(3, "idx", "index", "retriever")  # still running, nothing recorded
    log.usage(4, "rep", "report", "publish_report")  # a task whose dispatch is not logged yet
    costs = run_costs(log.as_json(), {})
    steps = by_task(costs)
    assert steps["plan"]["missing_usage"] == 1 and steps["plan"]["usage_records"] == 0
    assert steps["plan"]["tokens_in"] == 0 and steps["plan"]["credits"]["metered"] == 0
    assert steps["idx"]["status"] == "running" and steps["idx"]["wall_ms"] is None
    assert steps["rep"]["kind"] == "report" and steps["rep"]["status"] == "unknown"
    assert steps["rep"]["usage_records"] == 1 and steps["rep"]["credits"]["unmetered_records"] == 1
    assert costs["totals"]["missing_usage"] == 1 and costs["totals"]["credits"]["unmetered_records"] == 1
    assert costs["totals"]["wall_ms"] is None  # the run has not ended


def test_without_billing_the_steps_keep_their_usage_and_the_credits_are_unknown() -> None:
    log = RunLog()
    ids = researched(log)
    settle(log, 12, 13, list(ids.values()), released=27)
    costs = run_costs(log.as_json(), None)
    assert costs["totals"]["credits"]["available"] is False
    assert costs["totals"]["credits"]["metered"] is None and costs["totals"]["credits"]["settled"] == 13
    assert by_task(costs)["plan"]["credits"] == {
        "metered": None,
        "charged": None,
        "refunded": None,
        "unmetered_records": None,
    }
    assert by_task(costs)["plan"]["tokens_in"] == 1000


def test_a_usage_record_logged_twice_counts_once() -> None:
    log = RunLog()
    ids = researched(log)
    events = log.as_json()
    events.append(dict(next(e for e in events if e["event_id"] == ids["plan"])))
    assert by_task(run_costs(events, metered_for(ids)))["plan"]["tokens_in"] == 1000


def test_apportioning_keeps_every_part_and_adds_up() -> None:
    assert apportion({"a": 5, "b": 3, "c": 1}, 7) == {"a": 4, "b": 2, "c": 1}
    assert sum(apportion({"a": 1, "b": 1, "c": 1}, 2).values()) == 2
    assert apportion({"a": 0}, 0) == {"a": 0}
