"""The eval gate's metrics for agent configurations: computed by `make eval`'s pipeline with the
configurations applied (faults left out), named as the gate judges them, written by
`python -m evals --agent ... --metrics-out`, and refused with the reason when unusable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contracts.agents import EVAL_TARGETS, EVAL_ZERO, AgentConfig, eval_failures
from evals.__main__ import main
from evals.gate import gate_metrics_for
from evals.summary import TEST_TARGETS

QUESTIONS = 20  # the first twenty of the test split: each run indexes the corpus and takes ~15 s


def test_the_test_targets_are_the_gate_s() -> None:
    assert {
        "recall_at_10": TEST_TARGETS.recall_at_10,
        "key_in_report": TEST_TARGETS.key_in_report,
        "key_in_summary": TEST_TARGETS.key_in_summary,
        "citation_support": TEST_TARGETS.citation_support,
    } == EVAL_TARGETS


async def test_a_configuration_s_metrics_are_its_own_and_named_for_the_gate() -> None:
    built_in = await gate_metrics_for({}, questions=QUESTIONS)
    terse = AgentConfig(mode="offline", parameters={"claims_per_section": 1})
    tuned = await gate_metrics_for({"synthesiser": terse}, questions=QUESTIONS)
    assert set(built_in) == set(tuned) == set(EVAL_TARGETS) | set(EVAL_ZERO)
    assert all(0.0 <= v <= 1.0 for k, v in tuned.items() if k in EVAL_TARGETS)
    assert tuned != built_in  # one finding per section states fewer key terms
    assert tuned["key_in_report"] < built_in["key_in_report"]
    assert eval_failures(tuned, stable=built_in) != []  # the gate sees the regression


def test_the_command_line_applies_agents_without_faults_and_writes_the_metrics(tmp_path: Path) -> None:
    config = tmp_path / "planner.json"
    # As `GET /v1/ops/agents/planner` lists a version: the configuration under `config`.
    listed = {"version": "x", "config": {"mode": "offline", "fault": {"fail_rate": 1.0}}}
    config.write_text(json.dumps(listed))
    out = tmp_path / "metrics.json"
    code = main(
        ["--offline", "--split", "test", "--questions", "3", "--agent", f"planner={config}", "--metrics-out", str(out)]
    )
    written = json.loads(out.read_text())
    assert written["split"] == "test" and set(written["metrics"]) == set(EVAL_TARGETS) | set(EVAL_ZERO)
    assert written["metrics"]["fabricated_citations"] == 0.0 and code in (0, 1)  # the fault never fired


@pytest.mark.parametrize(
    ("spec", "content"),
    [
        ("critic={path}", {"mode": "offline"}),
        ("planner={path}", {"mode": "genius"}),
        ("planner={path}", {"mode": "llm"}),  # a model to write with, evaluated --offline
        ("ranker={path}", {"mode": "offline", "parameters": {"bm25_b": 7}}),
        ("planner={path}", {"nope": 1}),
    ],
)
def test_an_unusable_agent_is_refused_before_any_work(tmp_path: Path, spec: str, content: object) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(content))
    assert main(["--offline", "--split", "test", "--questions", "1", "--agent", spec.format(path=path)]) == 2
