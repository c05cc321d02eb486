"""A template's outline and tone through offline synthesis, the orchestrator and the report."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from contracts.envelope import Actor
from contracts.ids import new_id
from contracts.monitor import MonitorCreated, MonitorCreatedPayload, MonitorTemplate, Schedule
from contracts.report import OutlineSection
from contracts.run import RunRequested, RunRequestedPayload
from contracts.timer import TimerFired, TimerFiredPayload
from contracts.work import Claim, Draft, Passage, PlanInput, ReportMethods, SearchOutput, SourceRef, SynthesiseInput
from services.analyst.application.live import _shape
from services.analyst.domain.outline import OTHER_FINDINGS, assign, names_code, with_outline
from services.analyst.domain.synthesis import synthesise
from services.gateway.readmodels.run_view import fold_run
from services.orchestrator.application import Orchestrator
from services.orchestrator.runs.methods import report_methods
from services.orchestrator.runs.workflow import task_input
from services.reporter.domain.layout import RenderOptions
from services.reporter.domain.markdown import render_markdown
from services.reporter.domain.structure import EMPTY_SECTION
from tests.support.orchestrator import POPO, decide, outputs_for, relayed_monitors, reserved, succeed, with_status

# --- outline and tone in offline synthesis --------------------------------------------------------

PASSAGES = {
    "How much does the service cost?": [
        Passage(
            source_id="pricing",
            title="Pricing",
            location="§1",
            text="The standard plan of the hosting service costs twenty dollars per month. "
            "Annual billing of the hosting service lowers the monthly price by a fifth.",
        )
    ],
    "How is the service deployed?": [
        Passage(
            source_id="deploy",
            title="Deployment guide",
            location="§2",
            text="The hosting service is deployed with the deploy_app() command from the client library. "
            "Deployments of the hosting service roll out to every region within ten minutes.",
        )
    ],
}
OUTLINE = [
    OutlineSection(heading="Costs", hint="price, plans, billing per month"),
    OutlineSection(heading="Deployment", hint="how it is deployed and rolled out"),
    OutlineSection(heading="Security", hint="certifications and audits"),
]


def synth(**kwargs: Any) -> Draft:
    inp = SynthesiseInput(
        question="What does the hosting service cost and how is it deployed?",
        sub_questions=list(PASSAGES),
        findings=[SearchOutput(sub_question=q, passages=p) for q, p in PASSAGES.items()],
        max_sources=5,
        **kwargs,
    )
    return synthesise(inp).draft


def test_findings_go_under_the_outline_heading_they_fit_and_empty_headings_stay_empty() -> None:
    draft = synth(outline=OUTLINE)
    assert [s.heading for s in draft.sections] == ["Costs", "Deployment", "Security"]
    costs, deployment, security = draft.sections
    assert costs.claims and all("plan" in c.text or "billing" in c.text.lower() for c in costs.claims)
    assert deployment.claims and all("deploy" in c.text.lower() for c in deployment.claims)
    assert security.claims == []  # nothing found on it, and nothing made up
    markdown = render_markdown(draft, RenderOptions(run_id="r1", generated_at=datetime(2026, 1, 1, tzinfo=UTC)))
    after_security = markdown.split("## Security", 1)[1]
    assert after_security.lstrip().startswith(f"*{EMPTY_SECTION}*")


def test_assignment_uses_the_hint_and_leaves_unrelated_findings_out_of_the_outline() -> None:
    places = assign(
        [
            ("Invoices are issued monthly.", "How is billing done?"),
            ("Rollouts reach every region.", "How is it deployed?"),
            ("Penguins live in Antarctica.", "Where do penguins live?"),
        ],
        OUTLINE,
    )
    assert places == [0, 1, None]
    outline = [OutlineSection(heading="Money", hint="price")]
    draft = synth(outline=outline)
    assert draft.sections[0].heading == "Money" and draft.sections[-1].heading == OTHER_FINDINGS


def test_with_outline_restores_headings_a_cut_emptied_but_not_for_an_answerless_draft() -> None:
    claim = Claim(text="It costs twenty dollars.", citations=[1])
    source = SourceRef(number=1, source_id="s", title="S", location="l", passage="It costs twenty dollars.")
    cut = Draft(title="t", question="q", summary=[claim], sections=[], sources=[source])
    assert [s.heading for s in with_outline(cut, OUTLINE).sections] == ["Costs", "Deployment", "Security"]
    empty = Draft(title="t", question="q", summary=[], sections=[], sources=[])
    assert with_outline(empty, OUTLINE).sections == []


def test_tone_changes_the_framing_modestly() -> None:
    neutral, executive = synth(), synth(tone="executive")
    assert len(executive.summary) <= 3
    assert all(len(s.claims) <= 2 for s in executive.sections)
    assert {c.text for c in executive.summary} <= {
        c.text for c in [*neutral.summary, *(x for s in neutral.sections for x in s.claims)]
    }
    technical = synth(tone="technical")
    assert any(names_code(c.text) for c in technical.summary)
    assert names_code("Call deploy_app() first") and names_code("see `json.loads`") and not names_code("Plain prose.")


def test_the_live_planning_prompt_names_the_outline_and_tone() -> None:
    text = _shape(PlanInput(question="q?", depth=1, outline=OUTLINE, tone="technical"))
    assert "- Costs: price, plans, billing per month" in text and "engineers" in text
    assert _shape(PlanInput(question="q?", depth=1)) == ""


# --- through the orchestrator --------------------------------------------------------------------


def templated_request() -> RunRequested:
    return RunRequested.create(
        RunRequestedPayload(
            question="what does the hosting service cost",
            depth=1,
            max_sources=5,
            template_id="tpl-1",
            template_version=3,
            template_name="Vendor scan",
            outline=OUTLINE,
            tone="executive",
        ),
        tenant_id="tenant-a",
        run_id=new_id(),
        actor=Actor(user_id="u1", roles=["owner"]),
    )


def test_the_run_carries_outline_and_tone_to_plan_synthesis_and_the_methods_section() -> None:
    app = Orchestrator(env=POPO)
    req = templated_request()
    app.start_run(req)
    app.admit_run(reserved(req))
    run_id = req.run_id or ""
    seen: dict[str, dict[str, Any]] = {}
    for _ in range(12):
        for task_id in with_status(app, run_id, "requested"):
            app.apply_decision(decide(app.get_run(run_id), task_id))
        for task_id in with_status(app, run_id, "dispatched"):
            run = app.get_run(run_id)
            task = run.tasks[task_id]
            seen[task.kind] = task_input(run, task)
            app.finish_task(succeed(run, task_id, outputs_for(task.kind, seen[task.kind])))
    for kind in ("plan", "synthesise"):
        assert [s["heading"] for s in seen[kind]["outline"]] == ["Costs", "Deployment", "Security"], kind
        assert seen[kind]["tone"] == "executive"
    methods = ReportMethods.model_validate(seen["report"]["methods"])
    assert (methods.template_id, methods.template_version, methods.template_name) == ("tpl-1", 3, "Vendor scan")
    markdown = render_markdown(
        synth(outline=OUTLINE),
        RenderOptions(run_id=run_id, generated_at=datetime(2026, 1, 1, tzinfo=UTC), methods=methods),
    )
    assert "Vendor scan (id tpl-1, version 3), executive tone" in markdown
    assert report_methods(app.get_run(run_id)).tone == "executive"


def test_a_monitor_made_with_a_template_fires_runs_that_use_it() -> None:
    app = Orchestrator(env=POPO)
    template = MonitorTemplate(
        template_id="tpl-1",
        version=2,
        name="Vendor scan",
        sources=["web"],
        target_words=400,
        outline=OUTLINE,
        tone="technical",
    )
    payload = MonitorCreatedPayload(
        monitor_id=new_id(),
        question="What changed in the hosting service?",
        depth=2,
        max_sources=6,
        schedule=Schedule(interval_s=600),
        template=template,
    )
    ev = MonitorCreated.create(payload, tenant_id="t1", actor=Actor(user_id="u1", roles=["owner"]))
    app.create_monitor(ev)
    monitor = app.get_monitor(payload.monitor_id)
    slot = monitor.next_slot
    assert slot is not None
    app.clock = lambda: slot
    timer = TimerFiredPayload(timer_id=new_id(), purpose="monitor_slot", monitor_id=payload.monitor_id, slot=slot)
    app.fire_monitor(TimerFired.create(timer, tenant_id="t1"))
    out = relayed_monitors(app, limit=20)
    run = next(o.event for o in out if o.subject == "run.v1.requested")
    p = run.payload
    assert (p.template_id, p.template_version, p.template_name, p.tone) == ("tpl-1", 2, "Vendor scan", "technical")
    assert p.outline == OUTLINE and (p.depth, p.max_sources, p.sources, p.target_words) == (2, 6, ["web"], 400)
    view = fold_run([run.model_dump(mode="json")])
    assert view["template"] == {
        "template_id": "tpl-1",
        "version": 2,
        "name": "Vendor scan",
        "tone": "technical",
        "outline": ["Costs", "Deployment", "Security"],
    }
