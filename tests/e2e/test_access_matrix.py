"""Who may do what, end to end: two tenants, each with an owner, an admin, a member and a viewer,
against every endpoint of the gateway; every cross-tenant attempt is a 404 or a 403 that shows
nothing of the other tenant; API keys and SSE stream tickets.

The matrix states its expectations on its own (it does not read the gateway's permission
table), and it must name every endpoint the running gateway serves: an endpoint added without
an entry here fails `test_every_endpoint_has_a_matrix_entry`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from devtools.client import QuarryClient
from devtools.stack import Stack
from tests.support.polling import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.infra]

PASSWORD = "correct-horse-battery"
ROLES = ("owner", "admin", "member", "viewer")
EVERYONE = frozenset(ROLES)
WRITERS = frozenset({"owner", "admin", "member"})
ADMINS = frozenset({"owner", "admin"})
NOBODY: frozenset[str] = frozenset()  # platform operators only, never a tenant role
PUBLIC = "public"
SIGNED_IN = "signed in"
YEARLY = "0 0 1 1 *"  # monitors made here never fire during the test


def _token() -> str:
    return uuid.uuid4().hex[:10]


@dataclass
class Tenant:
    name: str
    tenant_id: str
    users: dict[str, QuarryClient]
    user_ids: dict[str, str]
    emails: dict[str, str]
    run_id: str = ""
    question: str = ""
    question_id: str = ""  # a follow-up on the run, answered
    document_id: str = ""
    document_title: str = ""
    monitor_id: str = ""
    monitor_question: str = ""
    key_id: str = ""
    key_name: str = ""
    dataset: str = ""  # a dataset's name (its path segment)
    template_id: str = ""
    template_name: str = ""
    markers: set[str] = field(default_factory=set)

    @property
    def owner(self) -> QuarryClient:
        return self.users["owner"]

    def fresh_run(self) -> str:
        return self.owner.create_run("What is a Python decorator?", depth=1, max_sources=1)

    def fresh_monitor(self, paused: bool = False) -> str:
        body = {"question": f"What changed in Python packaging {_token()}?", "cron": YEARLY}
        monitor_id = str(body_of(self.owner.request("POST", "/v1/monitors", json=body))["monitor_id"])
        if paused:
            body_of(self.owner.request("POST", f"/v1/monitors/{monitor_id}/pause"))
            # The gateway's view follows the orchestrator's confirmation, not the request.
            wait_for(
                lambda: body_of(self.owner.request("GET", f"/v1/monitors/{monitor_id}"))["status"] == "paused",
                timeout_s=150.0,  # many monitors at once on PostgreSQL under a loaded CI machine
                what="the monitor to pause",
            )
        return monitor_id

    def fresh_template(self) -> str:
        body = {"name": f"target {_token()}", "outline": [{"heading": "Findings"}]}
        return str(body_of(self.owner.request("POST", "/v1/templates", json=body))["template_id"])

    def fresh_dataset(self) -> str:
        return str(body_of(self.owner.request("POST", "/v1/datasets", json={"name": f"target-{_token()}"}))["name"])

    def fresh_member(self) -> str:
        return str(self.owner.invite(f"target-{_token()}@example.com", "viewer")["user_id"])

    def fresh_key(self) -> str:
        return str(self.owner.create_key(f"target-{_token()}", ["runs:read"])["key_id"])

    def fresh_invite(self) -> str:
        return str(self.owner.invite(f"invitee-{_token()}@example.com", "viewer")["invite_token"])

    def fresh_share(self) -> dict[str, str]:
        """A new share link to the tenant's finished run: {share_id, token, ...}."""
        return dict(body_of(self.owner.request("POST", f"/v1/runs/{self.run_id}/shares")))

    def fresh_session(self) -> str:
        """A new access token of the viewer's, for a call that ends it (log-out)."""
        r = self.owner.http.post("/v1/auth/login", json={"email": self.emails["viewer"], "password": PASSWORD})
        return str(body_of(r)["access_token"])


def body_of(response: httpx.Response) -> Any:
    assert response.status_code < 300, (
        response.request.method,
        response.request.url,
        response.status_code,
        response.text,
    )
    return response.json() if response.content else None


@dataclass(frozen=True)
class Call:
    path: str
    json: Any = None
    params: dict[str, Any] | None = None
    files: dict[str, Any] | None = None
    token: str | None = None  # sent instead of the caller's own (a call that would end the caller's session)


@dataclass(frozen=True)
class Case:
    """`allowed`: the roles that get `ok`; every other role gets 403. `ok` None: anything but
    401/403 (the route's outcome is its own business here). `target(tenant, live)` builds the
    call; `live` asks for a resource the call may consume (the caller is allowed to)."""

    allowed: frozenset[str] | str
    ok: int | None
    target: Callable[[Tenant, bool], Call]
    tenant_scoped: bool = False  # its path names a resource of a tenant: tried across tenants
    own_only: frozenset[str] = frozenset()  # roles allowed on their own resources only (the targets are not theirs)

    def expected(self, role: str) -> int | None:
        if self.allowed in (PUBLIC, SIGNED_IN) or role in self.allowed:
            return self.ok
        return 403

    def expected_across(self, role: str) -> int:
        """Another tenant's resource does not exist for anyone who could act on one of their own."""
        return 404 if role in self.allowed or role in self.own_only else 403


def run_path(suffix: str = "") -> Callable[[Tenant, bool], Call]:
    return lambda t, _: Call(f"/v1/runs/{t.run_id}{suffix}")


MATRIX: dict[tuple[str, str], Case] = {
    ("POST", "/v1/auth/signup"): Case(
        PUBLIC,
        201,
        lambda t, _: Call(
            "/v1/auth/signup",
            {"email": f"new-{_token()}@example.com", "password": PASSWORD, "tenant_name": "n"},
        ),
    ),
    ("POST", "/v1/auth/login"): Case(
        PUBLIC, 200, lambda t, _: Call("/v1/auth/login", {"email": t.emails["viewer"], "password": PASSWORD})
    ),
    ("POST", "/v1/auth/accept"): Case(
        PUBLIC, 200, lambda t, _: Call("/v1/auth/accept", {"invite_token": t.fresh_invite(), "password": PASSWORD})
    ),
    ("GET", "/v1/auth/me"): Case(SIGNED_IN, 200, lambda t, _: Call("/v1/auth/me")),
    ("POST", "/v1/auth/logout"): Case(SIGNED_IN, 204, lambda t, _: Call("/v1/auth/logout", token=t.fresh_session())),
    ("GET", "/healthz"): Case(PUBLIC, 200, lambda t, _: Call("/healthz")),
    # runs
    ("POST", "/v1/runs"): Case(
        WRITERS,
        202,
        lambda t, _: Call("/v1/runs", {"question": "What is a Python list?", "depth": 1, "max_sources": 1}),
    ),
    ("GET", "/v1/runs"): Case(EVERYONE, 200, lambda t, _: Call("/v1/runs")),
    ("GET", "/v1/runs/{run_id}"): Case(EVERYONE, 200, run_path(), tenant_scoped=True),
    # A member may cancel only their own runs: the target here is the owner's.
    ("POST", "/v1/runs/{run_id}/cancel"): Case(
        ADMINS,
        202,
        lambda t, live: Call(f"/v1/runs/{t.fresh_run() if live else t.run_id}/cancel", {}),
        tenant_scoped=True,
        own_only=frozenset({"member"}),
    ),
    # The run is over, so an allowed caller gets past authorisation to "not waiting" (409).
    ("POST", "/v1/runs/{run_id}/approval"): Case(
        ADMINS, 409, lambda t, _: Call(f"/v1/runs/{t.run_id}/approval", {"decision": "approve"}), tenant_scoped=True
    ),
    # A member may review only the plans of their own runs (the target is the owner's); the run is
    # over, so an allowed caller gets past authorisation to "not waiting" (409).
    ("POST", "/v1/runs/{run_id}/plan"): Case(
        ADMINS,
        409,
        lambda t, _: Call(f"/v1/runs/{t.run_id}/plan", {"action": "cancel"}),
        tenant_scoped=True,
        own_only=frozenset({"member"}),
    ),
    ("GET", "/v1/runs/{run_id}/state"): Case(EVERYONE, 200, run_path("/state"), tenant_scoped=True),
    ("GET", "/v1/runs/{run_id}/log"): Case(EVERYONE, 200, run_path("/log"), tenant_scoped=True),
    ("GET", "/v1/runs/{run_id}/tasks"): Case(EVERYONE, 200, run_path("/tasks"), tenant_scoped=True),
    ("POST", "/v1/runs/{run_id}/events/ticket"): Case(EVERYONE, 201, run_path("/events/ticket"), tenant_scoped=True),
    ("GET", "/v1/runs/{run_id}/events"): Case(EVERYONE, 200, run_path("/events"), tenant_scoped=True),
    ("GET", "/v1/runs/{run_id}/report.md"): Case(EVERYONE, 200, run_path("/report.md"), tenant_scoped=True),
    ("GET", "/v1/runs/{run_id}/report.pdf"): Case(EVERYONE, 200, run_path("/report.pdf"), tenant_scoped=True),
    ("GET", "/v1/runs/{run_id}/report.docx"): Case(EVERYONE, 200, run_path("/report.docx"), tenant_scoped=True),
    # follow-up questions: asking is metered, so writers ask and everyone reads the answers
    ("POST", "/v1/runs/{run_id}/questions"): Case(
        WRITERS,
        202,
        lambda t, _: Call(f"/v1/runs/{t.run_id}/questions", {"question": "What does a context manager do?"}),
        tenant_scoped=True,
    ),
    ("GET", "/v1/runs/{run_id}/questions"): Case(EVERYONE, 200, run_path("/questions"), tenant_scoped=True),
    ("GET", "/v1/runs/{run_id}/questions/{question_id}"): Case(
        EVERYONE, 200, lambda t, _: Call(f"/v1/runs/{t.run_id}/questions/{t.question_id}"), tenant_scoped=True
    ),
    # The question is answered, so its stream replays the answer and ends by itself.
    ("GET", "/v1/runs/{run_id}/questions/{question_id}/events"): Case(
        EVERYONE, 200, lambda t, _: Call(f"/v1/runs/{t.run_id}/questions/{t.question_id}/events"), tenant_scoped=True
    ),
    # share links: writers make and revoke them, everyone lists them, the link itself needs no account
    ("POST", "/v1/runs/{run_id}/shares"): Case(WRITERS, 201, run_path("/shares"), tenant_scoped=True),
    ("GET", "/v1/runs/{run_id}/shares"): Case(EVERYONE, 200, run_path("/shares"), tenant_scoped=True),
    ("DELETE", "/v1/shares/{share_id}"): Case(
        WRITERS, 204, lambda t, _: Call(f"/v1/shares/{t.fresh_share()['share_id']}"), tenant_scoped=True
    ),
    ("GET", "/v1/shared/{token}"): Case(PUBLIC, 200, lambda t, _: Call(f"/v1/shared/{t.fresh_share()['token']}")),
    # documents
    ("POST", "/v1/documents"): Case(
        WRITERS, 202, lambda t, _: Call("/v1/documents", {"title": "Notes", "content": "Lists are mutable sequences."})
    ),
    ("GET", "/v1/documents"): Case(EVERYONE, 200, lambda t, _: Call("/v1/documents")),
    # datasets: everyone reads them, writers make, fill and delete them
    ("POST", "/v1/datasets"): Case(WRITERS, 201, lambda t, _: Call("/v1/datasets", {"name": f"matrix-{_token()}"})),
    ("GET", "/v1/datasets"): Case(EVERYONE, 200, lambda t, _: Call("/v1/datasets")),
    ("DELETE", "/v1/datasets/{name}"): Case(
        WRITERS,
        202,
        lambda t, live: Call(f"/v1/datasets/{t.fresh_dataset() if live else t.dataset}"),
        tenant_scoped=True,
    ),
    ("GET", "/v1/datasets/{name}/documents"): Case(
        EVERYONE, 200, lambda t, _: Call(f"/v1/datasets/{t.dataset}/documents"), tenant_scoped=True
    ),
    ("POST", "/v1/datasets/{name}/documents"): Case(
        WRITERS,
        202,
        lambda t, _: Call(f"/v1/datasets/{t.dataset}/documents", {"title": "Notes", "content": "Sets are unordered."}),
        tenant_scoped=True,
    ),
    ("POST", "/v1/datasets/{name}/files"): Case(
        WRITERS,
        202,
        lambda t, _: Call(
            f"/v1/datasets/{t.dataset}/files",
            files={"file": ("notes.md", b"# Notes\n\nDicts map keys.", "text/markdown")},
        ),
        tenant_scoped=True,
    ),
    # monitors
    ("POST", "/v1/monitors"): Case(
        WRITERS, 202, lambda t, _: Call("/v1/monitors", {"question": "What is new in asyncio?", "cron": YEARLY})
    ),
    ("GET", "/v1/monitors"): Case(EVERYONE, 200, lambda t, _: Call("/v1/monitors")),
    ("GET", "/v1/monitors/{monitor_id}"): Case(
        EVERYONE, 200, lambda t, _: Call(f"/v1/monitors/{t.monitor_id}"), tenant_scoped=True
    ),
    ("POST", "/v1/monitors/{monitor_id}/pause"): Case(
        WRITERS,
        202,
        lambda t, live: Call(f"/v1/monitors/{t.fresh_monitor() if live else t.monitor_id}/pause"),
        tenant_scoped=True,
    ),
    ("POST", "/v1/monitors/{monitor_id}/resume"): Case(
        WRITERS,
        202,
        lambda t, live: Call(f"/v1/monitors/{t.fresh_monitor(paused=True) if live else t.monitor_id}/resume"),
        tenant_scoped=True,
    ),
    ("DELETE", "/v1/monitors/{monitor_id}"): Case(
        WRITERS,
        202,
        lambda t, live: Call(f"/v1/monitors/{t.fresh_monitor() if live else t.monitor_id}"),
        tenant_scoped=True,
    ),
    # research templates: members write them (a template presets only what they may ask of a run)
    ("POST", "/v1/templates"): Case(
        WRITERS, 201, lambda t, _: Call("/v1/templates", {"name": f"matrix {_token()}", "tone": "technical"})
    ),
    ("GET", "/v1/templates"): Case(EVERYONE, 200, lambda t, _: Call("/v1/templates")),
    ("GET", "/v1/templates/{template_id}"): Case(
        EVERYONE, 200, lambda t, _: Call(f"/v1/templates/{t.template_id}"), tenant_scoped=True
    ),
    ("PUT", "/v1/templates/{template_id}"): Case(
        WRITERS,
        200,
        lambda t, _: Call(f"/v1/templates/{t.template_id}", {"name": t.template_name, "tone": "executive"}),
        tenant_scoped=True,
    ),
    ("DELETE", "/v1/templates/{template_id}"): Case(
        WRITERS,
        204,
        lambda t, live: Call(f"/v1/templates/{t.fresh_template() if live else t.template_id}"),
        tenant_scoped=True,
    ),
    # tenant settings
    ("GET", "/v1/tenant/settings"): Case(EVERYONE, 200, lambda t, _: Call("/v1/tenant/settings")),
    ("PATCH", "/v1/tenant/settings"): Case(ADMINS, 200, lambda t, _: Call("/v1/tenant/settings", {})),
    # the tenant's own model endpoint (owners and admins; the API key is write-only)
    ("GET", "/v1/tenant/model"): Case(ADMINS, 200, lambda t, _: Call("/v1/tenant/model")),
    ("PUT", "/v1/tenant/model"): Case(
        ADMINS,
        200,
        lambda t, _: Call("/v1/tenant/model", {"base_url": "http://127.0.0.1:9/v1", "model": "m", "api_key": "sk-x"}),
    ),
    ("DELETE", "/v1/tenant/model"): Case(ADMINS, 204, lambda t, _: Call("/v1/tenant/model")),
    # policy (answers come from the policy service: only authorisation is this matrix's business)
    ("POST", "/v1/policy/simulate"): Case(
        ADMINS, None, lambda t, _: Call("/v1/policy/simulate", {"resource": {"tool": "web_search"}})
    ),
    ("GET", "/v1/policy/decisions"): Case(ADMINS, None, lambda t, _: Call("/v1/policy/decisions")),
    ("GET", "/v1/policy/versions"): Case(ADMINS, None, lambda t, _: Call("/v1/policy/versions")),
    ("GET", "/v1/policy/versions/{version}"): Case(NOBODY, None, lambda t, _: Call("/v1/policy/versions/v1")),
    ("POST", "/v1/policy/versions"): Case(
        NOBODY,
        None,
        lambda t, _: Call("/v1/policy/versions", {"files": {"x.cedar": "permit(principal, action, resource);"}}),
    ),
    # billing (answers come from billing; mock mode: a checkout applies at once)
    ("GET", "/v1/billing/summary"): Case(ADMINS, 200, lambda t, _: Call("/v1/billing/summary")),
    ("GET", "/v1/billing/ledger"): Case(ADMINS, 200, lambda t, _: Call("/v1/billing/ledger")),
    ("POST", "/v1/billing/checkout"): Case(
        ADMINS, 201, lambda t, _: Call("/v1/billing/checkout", {"kind": "pack", "item": "pack_1k"})
    ),
    ("POST", "/v1/billing/portal"): Case(ADMINS, None, lambda t, _: Call("/v1/billing/portal", {})),
    # Stripe's webhook: public, and an unsigned call is refused by billing, never applied.
    ("POST", "/v1/billing/webhook"): Case(PUBLIC, 400, lambda t, _: Call("/v1/billing/webhook", {"id": "evt"})),
    # members
    ("POST", "/v1/members"): Case(
        ADMINS, 201, lambda t, _: Call("/v1/members", {"email": f"m-{_token()}@example.com", "role": "viewer"})
    ),
    ("GET", "/v1/members"): Case(ADMINS, 200, lambda t, _: Call("/v1/members")),
    ("PATCH", "/v1/members/{user_id}"): Case(
        ADMINS,
        200,
        lambda t, live: Call(f"/v1/members/{t.fresh_member() if live else t.user_ids['viewer']}", {"role": "member"}),
        tenant_scoped=True,
    ),
    ("DELETE", "/v1/members/{user_id}"): Case(
        ADMINS,
        204,
        lambda t, live: Call(f"/v1/members/{t.fresh_member() if live else t.user_ids['viewer']}"),
        tenant_scoped=True,
    ),
    # the audit log
    ("GET", "/v1/audit"): Case(ADMINS, 200, lambda t, _: Call("/v1/audit", params={"kind": "member"})),
    # API keys
    ("POST", "/v1/keys"): Case(ADMINS, 201, lambda t, _: Call("/v1/keys", {"name": "matrix", "scopes": ["runs:read"]})),
    ("GET", "/v1/keys"): Case(ADMINS, 200, lambda t, _: Call("/v1/keys")),
    ("DELETE", "/v1/keys/{key_id}"): Case(
        ADMINS,
        204,
        lambda t, live: Call(f"/v1/keys/{t.fresh_key() if live else t.key_id}"),
        tenant_scoped=True,
    ),
}


class Clients:
    """Clients of one gateway, closed together."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.made: list[QuarryClient] = []

    def __call__(self, token: str | None = None) -> QuarryClient:
        client = QuarryClient(self.base_url, token)
        self.made.append(client)
        return client


@dataclass
class World:
    base_url: str
    a: Tenant
    b: Tenant
    client: Clients


def _tenant(new_client: Clients, name: str) -> Tenant:
    owner = new_client()
    email = f"owner-{name}-{_token()}@example.com"
    signed = owner.signup(email, PASSWORD, f"{name}-{_token()}")
    # The matrix tests roles, not plans: a plan whose limits (concurrent runs, monitors,
    # datasets) its many requests stay within, bought in mock mode (the stack is development).
    body_of(owner.request("POST", "/v1/billing/checkout", json={"kind": "subscription", "item": "enterprise"}))
    tenant = Tenant(name, signed["tenant_id"], {"owner": owner}, {"owner": signed["user_id"]}, {"owner": email})
    for role in ("admin", "member", "viewer"):
        email = f"{role}-{name}-{_token()}@example.com"
        invited = owner.invite(email, role)
        client = new_client()
        client.accept(invited["invite_token"], PASSWORD)
        tenant.users[role], tenant.user_ids[role], tenant.emails[role] = client, invited["user_id"], email
    token = _token()
    tenant.question = f"What is a Python context manager, asks {name}{token}?"
    tenant.run_id = owner.create_run(tenant.question, depth=1, max_sources=3)
    tenant.document_title = f"Notes of {name}{token}"
    tenant.document_id = owner.upload(tenant.document_title, "Generators yield values lazily.")
    tenant.dataset = str(body_of(owner.request("POST", "/v1/datasets", json={"name": f"ds-{name}{token}"}))["name"])
    tenant.monitor_question = f"What changed for {name}{token}?"
    body = {"question": tenant.monitor_question, "cron": YEARLY}
    tenant.monitor_id = body_of(owner.request("POST", "/v1/monitors", json=body))["monitor_id"]
    tenant.key_name = f"key of {name}{token}"
    tenant.key_id = owner.create_key(tenant.key_name, ["runs:read"])["key_id"]
    tenant.template_name = f"Template of {name}{token}"
    made = body_of(owner.request("POST", "/v1/templates", json={"name": tenant.template_name}))
    tenant.template_id = made["template_id"]
    tenant.markers = {
        tenant.tenant_id,
        f"{name}{token}",
        tenant.run_id,
        tenant.document_id,
        tenant.monitor_id,
        tenant.key_id,
        tenant.template_id,
        *tenant.user_ids.values(),
        *tenant.emails.values(),
    }
    return tenant


@pytest.fixture(scope="module")
def world(stack: Stack) -> Iterator[World]:
    base_url = f"http://127.0.0.1:{stack.config.http_port}"
    clients = Clients(base_url)
    w = World(base_url, _tenant(clients, "alpha"), _tenant(clients, "bravo"), clients)
    for t in (w.a, w.b):
        # Streams of a finished, billed run end by themselves: the matrix can read them whole.
        assert list(t.owner.events(t.run_id))[-1].event == "end"
        assert t.owner.run(t.run_id)["state"] == "completed", t.owner.run(t.run_id).get("error")
        asked = body_of(t.owner.request("POST", f"/v1/runs/{t.run_id}/questions", json={"question": t.question}))
        t.question_id = asked["question_id"]
        t.markers.add(t.question_id)
        answer_path = f"/v1/runs/{t.run_id}/questions/{t.question_id}"
        owner = t.owner
        wait_for(
            lambda: body_of(owner.request("GET", answer_path))["status"] == "answered",  # noqa: B023 - called at once
            what="the follow-up to be answered",
        )
    yield w
    for c in clients.made:
        c.close()


def _send(client: QuarryClient, method: str, call: Call) -> httpx.Response:
    headers = {"Authorization": f"Bearer {call.token}"} if call.token else {}
    return client.request(
        method, call.path, json=call.json, params=call.params, files=call.files, headers=headers, timeout=60.0
    )


def _check(got: httpx.Response, want: int | None, what: str, foreign: set[str], failures: list[str]) -> None:
    if want is None:
        if got.status_code in (401, 403):
            failures.append(f"{what}: {got.status_code}, expected authorisation to pass: {got.text[:200]}")
    elif got.status_code != want:
        failures.append(f"{what}: {got.status_code}, expected {want}: {got.text[:200]}")
    leaked = [m for m in foreign if m in got.text]
    if leaked:
        failures.append(f"{what}: the body shows another tenant's {leaked}")


def test_every_endpoint_has_a_matrix_entry(world: World) -> None:
    schema = httpx.get(f"{world.base_url}/api/openapi.json", timeout=30).json()
    served = {(method.upper(), path) for path, item in schema["paths"].items() for method in item}
    assert served - MATRIX.keys() == set(), "endpoints without a matrix entry"
    assert MATRIX.keys() - served == set(), "matrix entries for endpoints the gateway does not serve"


@pytest.mark.parametrize("home_name", ["a", "b"])
def test_each_role_gets_what_the_matrix_says(world: World, home_name: str) -> None:
    home = getattr(world, home_name)
    other = world.b if home is world.a else world.a
    failures: list[str] = []
    for (method, _), case in MATRIX.items():
        for role in ROLES:
            want = case.expected(role)
            call = case.target(home, want is not None and want < 300)
            got = _send(home.users[role], method, call)
            _check(got, want, f"{role} {method} {call.path}", other.markers, failures)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("direction", ["b->a", "a->b"])
def test_cross_tenant_attempts_are_404_or_403_and_show_nothing(world: World, direction: str) -> None:
    victim, intruder = (world.a, world.b) if direction == "b->a" else (world.b, world.a)
    failures: list[str] = []
    for (method, _), case in MATRIX.items():
        if not case.tenant_scoped:
            continue
        for role in ROLES:
            want = case.expected_across(role)
            call = case.target(victim, want == 404)  # a live resource: a leak would act on it
            got = _send(intruder.users[role], method, call)
            _check(got, want, f"{role} of the other tenant {method} {call.path}", victim.markers, failures)
    # A stream ticket cannot even be asked for another tenant's run, and a key is held to its tenant.
    key = world.client(intruder.owner.create_key("cross", ["runs:read", "documents:read"])["api_key"])
    for path in (f"/v1/runs/{victim.run_id}", f"/v1/runs/{victim.run_id}/events", f"/v1/runs/{victim.run_id}/log"):
        _check(key.request("GET", path), 404, f"key GET {path}", victim.markers, failures)
    for path in ("/v1/runs", "/v1/documents"):
        _check(key.request("GET", path), 200, f"key GET {path}", victim.markers, failures)
    assert not failures, "\n".join(failures)


def test_a_member_cancels_their_own_runs_only(world: World) -> None:
    member = world.a.users["member"]
    own = member.create_run("What is a Python tuple?", depth=1, max_sources=1)
    assert member.request("POST", f"/v1/runs/{own}/cancel", json={}).status_code == 202
    others = world.a.fresh_run()
    r = member.request("POST", f"/v1/runs/{others}/cancel", json={})
    assert r.status_code == 403 and "requester" in r.text
    assert world.a.users["admin"].request("POST", f"/v1/runs/{others}/cancel", json={}).status_code == 202


def test_only_owners_and_admins_decide_approvals(world: World) -> None:
    owner = world.a.owner
    r = owner.request(
        "POST",
        "/v1/runs",
        json={"question": "What is a Python set?", "depth": 1, "max_sources": 1, "approval_required": True},
    )
    run_id = body_of(r)["run_id"]
    wait_for(
        lambda: owner.run(run_id)["state"] == "waiting_approval", timeout_s=120, what="the run to wait for approval"
    )
    for role in ("viewer", "member"):
        assert (
            world.a.users[role].request("POST", f"/v1/runs/{run_id}/approval", json={"decision": "approve"}).status_code
            == 403
        )
    assert world.b.owner.request("POST", f"/v1/runs/{run_id}/approval", json={"decision": "approve"}).status_code == 404
    r = world.a.users["admin"].request("POST", f"/v1/runs/{run_id}/approval", json={"decision": "reject"})
    assert r.status_code == 202, r.text


def test_stream_tickets_are_single_use_bound_to_their_run_and_tenant(world: World) -> None:
    a, b = world.a, world.b
    viewer = a.users["viewer"]
    events = list(viewer.events(a.run_id, via_ticket=True))
    assert events[0].event == "run.requested" and events[-1].event == "end"

    anonymous = world.client()
    ticket = viewer.stream_ticket(a.run_id)
    assert anonymous.http.get(f"/v1/runs/{a.run_id}/events", params={"ticket": ticket}).status_code == 200
    again = anonymous.http.get(f"/v1/runs/{a.run_id}/events", params={"ticket": ticket})
    assert again.status_code == 401 and a.question not in again.text

    other_run = a.fresh_run()
    misused = viewer.stream_ticket(a.run_id)
    assert anonymous.http.get(f"/v1/runs/{other_run}/events", params={"ticket": misused}).status_code == 401
    assert anonymous.http.get(f"/v1/runs/{a.run_id}/events", params={"ticket": misused}).status_code == 401

    foreign = b.owner.stream_ticket(b.run_id)
    r = anonymous.http.get(f"/v1/runs/{a.run_id}/events", params={"ticket": foreign})
    assert r.status_code == 401 and a.question not in r.text
    assert b.owner.request("POST", f"/v1/runs/{a.run_id}/events/ticket").status_code == 404

    # Never the long-lived token in the URL, and nothing without a credential.
    for params in ({"access_token": viewer.token}, {"token": viewer.token}, {}):
        assert anonymous.http.get(f"/v1/runs/{a.run_id}/events", params=params).status_code == 401


def test_api_keys_are_scoped_revocable_and_follow_their_creators_role(world: World) -> None:
    a = world.a
    owner, admin = a.owner, a.users["admin"]
    created = admin.create_key("ci", ["runs:read", "runs:create"], expires_in_days=7)
    key = world.client(created["api_key"])
    assert created["api_key"].startswith(f"qk_{created['key_id']}_")
    assert key.request("GET", "/v1/runs").status_code == 200
    question = {"question": "What is a Python dict?", "depth": 1, "max_sources": 1}
    assert key.request("POST", "/v1/runs", json=question).status_code == 202
    # The creator is an admin: each of these passes a check on the role alone, not one on the key.
    for method, path, body in (
        ("GET", "/v1/documents", None),
        ("GET", "/v1/members", None),
        ("GET", "/v1/keys", None),
        ("PATCH", "/v1/tenant/settings", {}),
        ("POST", "/v1/policy/simulate", {"resource": {"tool": "web_search"}}),
    ):
        assert key.request(method, path, json=body).status_code == 403, path
    assert key.request("POST", "/v1/keys", json={"name": "child", "scopes": ["runs:read"]}).status_code == 403
    events = list(key.events(a.run_id, via_ticket=True))
    assert events[-1].event == "end"
    assert a.users["member"].request("POST", "/v1/keys", json={"name": "m", "scopes": ["runs:read"]}).status_code == 403
    assert owner.request("POST", "/v1/keys", json={"name": "x", "scopes": ["members:write"]}).status_code == 422

    listed = body_of(owner.request("GET", "/v1/keys"))["keys"]
    mine = next(k for k in listed if k["key_id"] == created["key_id"])
    assert mine["scopes"] == ["runs:create", "runs:read"] and mine["last_used_at"] and mine["status"] == "active"
    assert created["api_key"].split("_", 2)[2] not in str(listed)

    # Demoted to viewer, the admin's key keeps only what a viewer may do; a ticket it got before revocation dies with it.
    body_of(owner.request("PATCH", f"/v1/members/{a.user_ids['admin']}", json={"role": "viewer"}))
    try:
        assert key.request("POST", "/v1/runs", json={"question": "What is a Python frozenset?"}).status_code == 403
        assert key.request("GET", "/v1/runs").status_code == 200
        ticket = key.stream_ticket(a.run_id)
    finally:
        body_of(owner.request("PATCH", f"/v1/members/{a.user_ids['admin']}", json={"role": "admin"}))
    assert owner.request("DELETE", f"/v1/keys/{created['key_id']}").status_code == 204
    assert key.request("GET", "/v1/runs").status_code == 401
    assert key.http.get(f"/v1/runs/{a.run_id}/events", params={"ticket": ticket}).status_code == 401
    assert world.b.owner.request("DELETE", f"/v1/keys/{a.key_id}").status_code == 404
    assert world.client(f"qk_{created['key_id']}_forged").request("GET", "/v1/runs").status_code == 401


def test_the_last_owner_stays_and_a_removed_member_is_locked_out(world: World) -> None:
    founder = world.client()
    founder_email = f"founder-{_token()}@example.com"
    founder_id = founder.signup(founder_email, PASSWORD, "solo")["user_id"]
    assert founder.request("PATCH", f"/v1/members/{founder_id}", json={"role": "admin"}).status_code == 409
    assert founder.request("DELETE", f"/v1/members/{founder_id}").status_code == 409

    invited = founder.invite(f"second-{_token()}@example.com", "admin")
    second = world.client()
    second.accept(invited["invite_token"], PASSWORD)
    make_owner = {"email": f"x-{_token()}@example.com", "role": "owner"}
    assert second.request("POST", "/v1/members", json=make_owner).status_code == 403
    assert second.request("PATCH", f"/v1/members/{founder_id}", json={"role": "viewer"}).status_code == 403
    assert second.request("DELETE", f"/v1/members/{founder_id}").status_code == 403
    body_of(founder.request("PATCH", f"/v1/members/{invited['user_id']}", json={"role": "owner"}))
    # Two owners: now either may step down, and the other is the last one.
    body_of(founder.request("PATCH", f"/v1/members/{founder_id}", json={"role": "admin"}))
    assert second.request("DELETE", f"/v1/members/{invited['user_id']}").status_code == 409
    key = world.client(founder.create_key("founder", ["runs:read"])["api_key"])
    assert second.request("DELETE", f"/v1/members/{founder_id}").status_code == 204
    assert founder.request("GET", "/v1/runs").status_code == 401
    assert key.request("GET", "/v1/runs").status_code == 401
    assert founder.http.post("/v1/auth/login", json={"email": founder_email, "password": PASSWORD}).status_code == 401
