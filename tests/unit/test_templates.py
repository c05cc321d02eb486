"""Research templates: how a template and a request resolve into a run, versions that stay put,
and the API's rules (in process, on SQLite, no bus)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from quarry_runtime.store import SqlDatabase
from services.gateway.settings import GatewaySettings
from services.gateway.templates import TemplateConflict, TemplateStore, resolve
from tests.support.gateway import Caller, signup
from tests.support.templates import DEFAULTS, TEMPLATE

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
