"""Research templates: how a template and a request resolve into a run, versions that stay put, the
API's rules (in process, on SQLite, no bus), and the outline and tone through synthesis, the
orchestrator and the report."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from contracts.envelope import Actor
from contracts.ids import new_id
from contracts.monitor import MonitorCreated, MonitorCreatedPayload, MonitorTemplate, Schedule
from contracts.report import OutlineSection
from contracts.run import RunRequested, RunRequestedPayload
from contracts.timer import TimerFired, TimerFiredPayload
from contracts.work import Claim, Draft, Passage, PlanInput, ReportMethods, SearchOutput, SourceRef, SynthesiseInput
from quarry_runtime.store import SqlDatabase
from services.analyst.application.live import _shape
from services.analyst.domain.outline import OTHER_FINDINGS, assign, names_code, with_outline
from services.analyst.domain.synthesis import synthesise
from services.gateway.readmodels.run_view import fold_run
from services.gateway.settings import GatewaySettings
from services.gateway.templates import TemplateConflict, TemplateStore, resolve
from services.orchestrator.application import Orchestrator
from services.orchestrator.monitors.domain import Monitor
from services.orchestrator.monitors.translate import translate_monitor
from services.orchestrator.runs.methods import report_methods
from services.orchestrator.runs.workflow import task_input
from services.reporter.domain.markdown import render_markdown
from services.reporter.domain.structure import EMPTY_SECTION
from tests.support.gateway import Caller, signup
from tests.support.orchestrator import decide, outputs_for, reserved, succeed, with_status

POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
DEFAULTS = {"depth": 2, "max_sources": 8, "sources": None, "length": "standard", "target_words": None}
TEMPLATE = {
    "template_id": "tpl-1",
    "version": 3,
    "name": "Vendor scan",
    "depth": 3,
    "max_sources": 20,
    "sources": ["web"],
    "length": None,
    "target_words": 900,
    "outline": [{"heading": "Pricing", "hint": "what it costs"}],
    "tone": "executive",
}


# --- resolution -------------------------------------------------------------------------------------


def test_without_a_template_the_request_and_the_tenant_decide() -> None:
    got = resolve(None, DEFAULTS, set(), fallback_sources=["corpus"])
    assert got == DEFAULTS | {
        "sources": ["corpus"],
        "template_id": None,
        "template_version": None,
        "template_name": None,
        "outline": [],
        "tone": "neutral",
    }


def test_the_template_fills_what_the_request_leaves_out_and_names_its_version() -> None:
    got = resolve(TEMPLATE, DEFAULTS, set(), fallback_sources=["corpus"])
    assert (got["depth"], got["max_sources"], got["sources"]) == (3, 20, ["web"])
    assert (got["length"], got["target_words"]) == ("standard", 900)
    assert (got["template_id"], got["template_version"], got["template_name"]) == ("tpl-1", 3, "Vendor scan")
    assert got["outline"] == TEMPLATE["outline"] and got["tone"] == "executive"


def test_explicit_request_fields_override_the_template() -> None:
    request = DEFAULTS | {"depth": 1, "sources": ["corpus", "datasets"]}
    got = resolve(TEMPLATE, request, {"depth", "sources"}, fallback_sources=["web"])
    assert (got["depth"], got["max_sources"], got["sources"]) == (1, 20, ["corpus", "datasets"])


def test_length_and_word_target_are_one_choice() -> None:
    # Asking for a preset drops the template's word target, which would otherwise take precedence.
    got = resolve(TEMPLATE, DEFAULTS | {"length": "brief"}, {"length"})
    assert (got["length"], got["target_words"]) == ("brief", None)
    preset = TEMPLATE | {"length": "detailed", "target_words": None}
    got = resolve(preset, DEFAULTS | {"target_words": 300}, {"target_words"})
    assert (got["length"], got["target_words"]) == ("standard", 300)
    assert resolve(preset, DEFAULTS, set())["length"] == "detailed"


def test_a_template_without_run_settings_keeps_the_request_defaults() -> None:
    bare = {"template_id": "t", "version": 1, "name": "Outline only", "outline": [], "tone": "technical"}
    got = resolve(bare, DEFAULTS, set(), fallback_sources=["corpus"])
    assert {k: got[k] for k in DEFAULTS} == DEFAULTS | {"sources": ["corpus"]}
    assert got["tone"] == "technical"


# --- the store: versions ---------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.infra)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlDatabase]:
    url = request.getfixturevalue("database_url") if request.param == "postgres" else None
    database = SqlDatabase(GatewaySettings(data_dir=tmp_path, database_url=url), "gateway")
    yield database
    database.close()


def test_each_change_is_a_new_version_and_old_versions_stay(db: SqlDatabase) -> None:
    store = TemplateStore(db)
    first = store.create("t1", {"name": "Scan", "depth": 1, "outline": []}, "u1")
    tid = first["template_id"]
    assert (first["version"], first["current_version"]) == (1, 1)
    second = store.update("t1", tid, {"name": "Scan", "depth": 3, "outline": []}, "u2")
    assert second is not None and (second["version"], second["depth"]) == (2, 3)
    old = store.get("t1", tid, version=1)
    assert old is not None and (old["depth"], old["current_version"], old["version_created_by"]) == (1, 2, "u1")
    assert store.get("t1", tid, version=3) is None
    assert store.get("t2", tid) is None and store.update("t2", tid, {"name": "x"}, None) is None
    assert not store.delete("t2", tid)


def test_names_are_unique_per_tenant_among_live_templates(db: SqlDatabase) -> None:
    store = TemplateStore(db)
    kept = store.create("t1", {"name": "Due  diligence"}, None)
    with pytest.raises(TemplateConflict):
        store.create("t1", {"name": "due diligence"}, None)
    other = store.create("t1", {"name": "Other"}, None)
    with pytest.raises(TemplateConflict):
        store.update("t1", other["template_id"], {"name": "DUE DILIGENCE"}, None)
    store.create("t2", {"name": "Due diligence"}, None)  # another tenant's names are its own
    assert store.delete("t1", kept["template_id"])
    assert store.get("t1", kept["template_id"]) is None
    store.create("t1", {"name": "Due diligence"}, None)  # a deleted template frees its name
    assert [t["name"] for t in store.list("t1")] == ["Due diligence", "Other"]


# --- the API --------------------------------------------------------------------------------------


BODY = {
    "name": "Market scan",
    "description": "What a vendor offers and costs",
    "depth": 3,
    "sources": ["corpus"],
    "outline": [{"heading": "Overview"}, {"heading": "Pricing", "hint": "plans and costs"}],
    "tone": "executive",
}


def test_templates_are_created_read_replaced_and_deleted_per_tenant(http: TestClient) -> None:
    acme, other = signup(http, "acme"), signup(http, "other")
    r = acme("POST", "/v1/templates", json=BODY)
    assert r.status_code == 201, r.text
    made = r.json()
    tid = made["template_id"]
    assert made["version"] == 1 and made["outline"][1] == {"heading": "Pricing", "hint": "plans and costs"}
    assert [t["template_id"] for t in acme("GET", "/v1/templates").json()["templates"]] == [tid]
    assert other("GET", "/v1/templates").json()["templates"] == []

    r = acme("PUT", f"/v1/templates/{tid}", json=BODY | {"tone": "technical"})
    assert r.status_code == 200 and (r.json()["version"], r.json()["tone"]) == (2, "technical")
    assert acme("GET", f"/v1/templates/{tid}", params={"version": 1}).json()["tone"] == "executive"
    assert acme("GET", f"/v1/templates/{tid}", params={"version": 9}).status_code == 404

    for method, kwargs in (("GET", {}), ("PUT", {"json": BODY}), ("DELETE", {})):
        assert other(method, f"/v1/templates/{tid}", **kwargs).status_code == 404, method
    # Naming another tenant's template in a run or a monitor finds nothing either (before any publish).
    run = {"question": "What does it cost?", "template_id": tid}
    assert other("POST", "/v1/runs", json=run).status_code == 404
    assert other("POST", "/v1/monitors", json=run | {"cron": "0 0 1 1 *"}).status_code == 404

    assert acme("POST", "/v1/templates", json=BODY | {"name": "market  SCAN"}).status_code == 409
    assert acme("DELETE", f"/v1/templates/{tid}").status_code == 204
    assert acme("GET", f"/v1/templates/{tid}").status_code == 404
    assert acme("DELETE", f"/v1/templates/{tid}").status_code == 404


@pytest.mark.parametrize(
    "bad",
    [
        {"name": ""},
        {"name": "   "},
        {"tone": "pirate"},
        {"depth": 9},
        {"sources": ["intranet"]},
        {"sources": []},
        {"target_words": 5},
        {"outline": [{"heading": "A"}, {"heading": " a "}]},
        {"outline": [{"heading": ""}]},
        {"outline": [{"heading": f"H{i}"} for i in range(21)]},
    ],
)
def test_bad_template_bodies_are_refused_with_a_reason(http: TestClient, bad: dict[str, Any]) -> None:
    acme = signup(http, "acme")
    r = acme("POST", "/v1/templates", json=BODY | bad)
    assert r.status_code == 422, (bad, r.text)
    assert r.json()["detail"], r.text


def test_viewers_read_templates_and_members_write_them(http: TestClient) -> None:
    owner = signup(http, "acme")
    tid = owner("POST", "/v1/templates", json=BODY).json()["template_id"]
    invited = owner("POST", "/v1/members", json={"email": "vic@example.com", "role": "viewer"}).json()
    accepted = http.post("/v1/auth/accept", json={"invite_token": invited["invite_token"], "password": "long-enough-2"})
    viewer = Caller(http, accepted.json()["access_token"])
    assert viewer("GET", f"/v1/templates/{tid}").status_code == 200
    assert viewer("POST", "/v1/templates", json=BODY | {"name": "mine"}).status_code == 403
    assert viewer("DELETE", f"/v1/templates/{tid}").status_code == 403


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
    markdown = render_markdown(draft, run_id="r1", generated_at=datetime(2026, 1, 1, tzinfo=UTC))
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
        synth(outline=OUTLINE), run_id=run_id, generated_at=datetime(2026, 1, 1, tzinfo=UTC), methods=methods
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

    def monitor_at(originator_id: Any, version: int) -> Monitor:
        found: Monitor = app.repository.get(originator_id, version=version)
        return found

    out = [
        o
        for n in app.recorder.select_notifications(start=1, limit=20)
        for o in translate_monitor(app.mapper.to_domain_event(n), monitor_at)
    ]
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
