"""The access matrix: for every endpoint of the gateway, the call each tenant makes and who may
make it. It states its expectations on its own; it does not read the gateway's permission table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.support.access import PASSWORD, ROLES, YEARLY, Tenant, unique

EVERYONE = frozenset(ROLES)
WRITERS = frozenset({"owner", "admin", "member"})
ADMINS = frozenset({"owner", "admin"})
NOBODY: frozenset[str] = frozenset()  # platform operators only, never a tenant role
PUBLIC = "public"
SIGNED_IN = "signed in"


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


def scoped(
    allowed: frozenset[str],
    ok: int | None,
    path: Callable[[Tenant, bool], str],
    json: Any = None,
    own_only: frozenset[str] = frozenset(),
) -> Case:
    """A call on a resource of the tenant's, at `path(tenant, live)`: tried across tenants too."""
    return Case(allowed, ok, lambda t, live: Call(path(t, live), json), tenant_scoped=True, own_only=own_only)


MATRIX: dict[tuple[str, str], Case] = {
    ("POST", "/v1/auth/signup"): Case(
        PUBLIC,
        201,
        lambda t, _: Call(
            "/v1/auth/signup",
            {"email": f"new-{unique()}@example.com", "password": PASSWORD, "tenant_name": "n"},
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
    ("POST", "/v1/runs/{run_id}/cancel"): scoped(
        ADMINS,
        202,
        lambda t, live: f"/v1/runs/{t.fresh_run() if live else t.run_id}/cancel",
        {},
        own_only=frozenset({"member"}),
    ),
    # The run is over, so an allowed caller gets past authorisation to "not waiting" (409).
    ("POST", "/v1/runs/{run_id}/approval"): scoped(
        ADMINS, 409, lambda t, _: f"/v1/runs/{t.run_id}/approval", {"decision": "approve"}
    ),
    # A member may review only the plans of their own runs (the target is the owner's); the run is
    # over, so an allowed caller gets past authorisation to "not waiting" (409).
    ("POST", "/v1/runs/{run_id}/plan"): scoped(
        ADMINS, 409, lambda t, _: f"/v1/runs/{t.run_id}/plan", {"action": "cancel"}, own_only=frozenset({"member"})
    ),
    ("GET", "/v1/runs/{run_id}/state"): Case(EVERYONE, 200, run_path("/state"), tenant_scoped=True),
    ("GET", "/v1/runs/{run_id}/log"): Case(EVERYONE, 200, run_path("/log"), tenant_scoped=True),
    ("GET", "/v1/runs/{run_id}/tasks"): Case(EVERYONE, 200, run_path("/tasks"), tenant_scoped=True),
    ("GET", "/v1/runs/{run_id}/costs"): Case(EVERYONE, 200, run_path("/costs"), tenant_scoped=True),
    ("POST", "/v1/runs/{run_id}/events/ticket"): Case(EVERYONE, 201, run_path("/events/ticket"), tenant_scoped=True),
    ("GET", "/v1/runs/{run_id}/events"): Case(EVERYONE, 200, run_path("/events"), tenant_scoped=True),
    ("GET", "/v1/runs/{run_id}/report.md"): Case(EVERYONE, 200, run_path("/report.md"), tenant_scoped=True),
    ("GET", "/v1/runs/{run_id}/report.pdf"): Case(EVERYONE, 200, run_path("/report.pdf"), tenant_scoped=True),
    ("GET", "/v1/runs/{run_id}/report.docx"): Case(EVERYONE, 200, run_path("/report.docx"), tenant_scoped=True),
    # follow-up questions: asking is metered, so writers ask and everyone reads the answers
    ("POST", "/v1/runs/{run_id}/questions"): scoped(
        WRITERS, 202, lambda t, _: f"/v1/runs/{t.run_id}/questions", {"question": "What does a context manager do?"}
    ),
    ("GET", "/v1/runs/{run_id}/questions"): Case(EVERYONE, 200, run_path("/questions"), tenant_scoped=True),
    ("GET", "/v1/runs/{run_id}/questions/{question_id}"): scoped(
        EVERYONE, 200, lambda t, _: f"/v1/runs/{t.run_id}/questions/{t.question_id}"
    ),
    # The question is answered, so its stream replays the answer and ends by itself.
    ("GET", "/v1/runs/{run_id}/questions/{question_id}/events"): scoped(
        EVERYONE, 200, lambda t, _: f"/v1/runs/{t.run_id}/questions/{t.question_id}/events"
    ),
    # share links: writers make and revoke them, everyone lists them, the link itself needs no account
    ("POST", "/v1/runs/{run_id}/shares"): Case(WRITERS, 201, run_path("/shares"), tenant_scoped=True),
    ("GET", "/v1/runs/{run_id}/shares"): Case(EVERYONE, 200, run_path("/shares"), tenant_scoped=True),
    ("DELETE", "/v1/shares/{share_id}"): scoped(WRITERS, 204, lambda t, _: f"/v1/shares/{t.fresh_share()['share_id']}"),
    ("GET", "/v1/shared/{token}"): Case(PUBLIC, 200, lambda t, _: Call(f"/v1/shared/{t.fresh_share()['token']}")),
    # documents
    ("POST", "/v1/documents"): Case(
        WRITERS, 202, lambda t, _: Call("/v1/documents", {"title": "Notes", "content": "Lists are mutable sequences."})
    ),
    ("GET", "/v1/documents"): Case(EVERYONE, 200, lambda t, _: Call("/v1/documents")),
    # datasets: everyone reads them, writers make, fill and delete them
    ("POST", "/v1/datasets"): Case(WRITERS, 201, lambda t, _: Call("/v1/datasets", {"name": f"matrix-{unique()}"})),
    ("GET", "/v1/datasets"): Case(EVERYONE, 200, lambda t, _: Call("/v1/datasets")),
    ("DELETE", "/v1/datasets/{name}"): scoped(
        WRITERS, 202, lambda t, live: f"/v1/datasets/{t.fresh_dataset() if live else t.dataset}"
    ),
    ("GET", "/v1/datasets/{name}/documents"): scoped(EVERYONE, 200, lambda t, _: f"/v1/datasets/{t.dataset}/documents"),
    ("POST", "/v1/datasets/{name}/documents"): scoped(
        WRITERS,
        202,
        lambda t, _: f"/v1/datasets/{t.dataset}/documents",
        {"title": "Notes", "content": "Sets are unordered."},
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
    ("GET", "/v1/monitors/{monitor_id}"): scoped(EVERYONE, 200, lambda t, _: f"/v1/monitors/{t.monitor_id}"),
    ("POST", "/v1/monitors/{monitor_id}/pause"): scoped(
        WRITERS, 202, lambda t, live: f"/v1/monitors/{t.fresh_monitor() if live else t.monitor_id}/pause"
    ),
    ("POST", "/v1/monitors/{monitor_id}/resume"): scoped(
        WRITERS, 202, lambda t, live: f"/v1/monitors/{t.fresh_monitor(paused=True) if live else t.monitor_id}/resume"
    ),
    ("DELETE", "/v1/monitors/{monitor_id}"): scoped(
        WRITERS, 202, lambda t, live: f"/v1/monitors/{t.fresh_monitor() if live else t.monitor_id}"
    ),
    # research templates: members write them (a template presets only what they may ask of a run)
    ("POST", "/v1/templates"): Case(
        WRITERS, 201, lambda t, _: Call("/v1/templates", {"name": f"matrix {unique()}", "tone": "technical"})
    ),
    ("GET", "/v1/templates"): Case(EVERYONE, 200, lambda t, _: Call("/v1/templates")),
    ("GET", "/v1/templates/{template_id}"): scoped(EVERYONE, 200, lambda t, _: f"/v1/templates/{t.template_id}"),
    ("PUT", "/v1/templates/{template_id}"): Case(
        WRITERS,
        200,
        lambda t, _: Call(f"/v1/templates/{t.template_id}", {"name": t.template_name, "tone": "executive"}),
        tenant_scoped=True,
    ),
    ("DELETE", "/v1/templates/{template_id}"): scoped(
        WRITERS, 204, lambda t, live: f"/v1/templates/{t.fresh_template() if live else t.template_id}"
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
    # operations (platform operators only: every tenant role, the owner included, gets 403)
    ("GET", "/v1/ops/streams"): Case(NOBODY, None, lambda t, _: Call("/v1/ops/streams")),
    ("GET", "/v1/ops/audit"): Case(NOBODY, None, lambda t, _: Call("/v1/ops/audit")),
    ("POST", "/v1/ops/replays"): Case(NOBODY, None, lambda t, _: Call("/v1/ops/replays", {})),
    ("GET", "/v1/ops/replays"): Case(NOBODY, None, lambda t, _: Call("/v1/ops/replays")),
    ("GET", "/v1/ops/replays/{replay_id}"): Case(NOBODY, None, lambda t, _: Call(f"/v1/ops/replays/{'0' * 32}")),
    ("GET", "/v1/ops/consumers"): Case(NOBODY, None, lambda t, _: Call("/v1/ops/consumers")),
    ("GET", "/v1/ops/consumers/{stream}/{name}/trend"): Case(
        NOBODY, None, lambda t, _: Call("/v1/ops/consumers/QUARRY/gateway-runs/trend")
    ),
    ("GET", "/v1/ops/services"): Case(NOBODY, None, lambda t, _: Call("/v1/ops/services")),
    ("GET", "/v1/ops/events"): Case(NOBODY, None, lambda t, _: Call("/v1/ops/events", params={"limit": 5})),
    ("GET", "/v1/ops/events/tail"): Case(NOBODY, None, lambda t, _: Call("/v1/ops/events/tail")),
    ("GET", "/v1/ops/events/{seq}"): Case(NOBODY, None, lambda t, _: Call("/v1/ops/events/1")),
    ("GET", "/v1/ops/runs/{run_id}/events"): Case(NOBODY, None, lambda t, _: Call(f"/v1/ops/runs/{t.run_id}/events")),
    ("GET", "/v1/ops/runs/{run_id}/costs"): Case(NOBODY, None, lambda t, _: Call(f"/v1/ops/runs/{t.run_id}/costs")),
    ("GET", "/v1/ops/deadletters"): Case(NOBODY, None, lambda t, _: Call("/v1/ops/deadletters")),
    ("GET", "/v1/ops/deadletters/{seq}"): Case(NOBODY, None, lambda t, _: Call("/v1/ops/deadletters/1")),
    ("POST", "/v1/ops/deadletters/{seq}/redrive"): Case(
        NOBODY, None, lambda t, _: Call("/v1/ops/deadletters/1/redrive")
    ),
    ("POST", "/v1/ops/deadletters/{seq}/discard"): Case(
        NOBODY, None, lambda t, _: Call("/v1/ops/deadletters/1/discard")
    ),
    ("POST", "/v1/ops/deadletters/redrive"): Case(NOBODY, None, lambda t, _: Call("/v1/ops/deadletters/redrive", {})),
    ("POST", "/v1/ops/deadletters/discard"): Case(NOBODY, None, lambda t, _: Call("/v1/ops/deadletters/discard", {})),
    ("GET", "/v1/ops/agents"): Case(NOBODY, None, lambda t, _: Call("/v1/ops/agents")),
    ("GET", "/v1/ops/agents/{component}"): Case(NOBODY, None, lambda t, _: Call("/v1/ops/agents/planner")),
    ("POST", "/v1/ops/agents"): Case(
        NOBODY, None, lambda t, _: Call("/v1/ops/agents", {"component": "planner", "config": {"mode": "offline"}})
    ),
    ("POST", "/v1/ops/agents/{component}/{version}/evaluations"): Case(
        NOBODY,
        None,
        lambda t, _: Call(f"/v1/ops/agents/planner/{'0' * 64}/evaluations", {"metrics": {"recall_at_10": 1.0}}),
    ),
    ("GET", "/v1/ops/rollouts"): Case(NOBODY, None, lambda t, _: Call("/v1/ops/rollouts")),
    ("GET", "/v1/ops/rollouts/{rollout_id}"): Case(NOBODY, None, lambda t, _: Call(f"/v1/ops/rollouts/{'0' * 32}")),
    ("POST", "/v1/ops/rollouts"): Case(
        NOBODY, None, lambda t, _: Call("/v1/ops/rollouts", {"component": "planner", "candidate": "0" * 64})
    ),
    ("POST", "/v1/ops/rollouts/{rollout_id}/{action}"): Case(
        NOBODY, None, lambda t, _: Call(f"/v1/ops/rollouts/{'0' * 32}/pause", {})
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
        ADMINS, 201, lambda t, _: Call("/v1/members", {"email": f"m-{unique()}@example.com", "role": "viewer"})
    ),
    ("GET", "/v1/members"): Case(ADMINS, 200, lambda t, _: Call("/v1/members")),
    ("PATCH", "/v1/members/{user_id}"): scoped(
        ADMINS,
        200,
        lambda t, live: f"/v1/members/{t.fresh_member() if live else t.user_ids['viewer']}",
        {"role": "member"},
    ),
    ("DELETE", "/v1/members/{user_id}"): scoped(
        ADMINS, 204, lambda t, live: f"/v1/members/{t.fresh_member() if live else t.user_ids['viewer']}"
    ),
    # the audit log
    ("GET", "/v1/audit"): Case(ADMINS, 200, lambda t, _: Call("/v1/audit", params={"kind": "member"})),
    # API keys
    ("POST", "/v1/keys"): Case(ADMINS, 201, lambda t, _: Call("/v1/keys", {"name": "matrix", "scopes": ["runs:read"]})),
    ("GET", "/v1/keys"): Case(ADMINS, 200, lambda t, _: Call("/v1/keys")),
    ("DELETE", "/v1/keys/{key_id}"): scoped(
        ADMINS, 204, lambda t, live: f"/v1/keys/{t.fresh_key() if live else t.key_id}"
    ),
}
