"""A tenant of a running stack with one user per role and a resource of each kind, as the access
matrix's calls need them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from devtools.client import QuarryClient
from tests.support.polling import wait_for

PASSWORD = "correct-horse-battery"
ROLES = ("owner", "admin", "member", "viewer")


YEARLY = "0 0 1 1 *"  # monitors made here never fire during the test


def unique() -> str:
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
        body = {"question": f"What changed in Python packaging {unique()}?", "cron": YEARLY}
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
        body = {"name": f"target {unique()}", "outline": [{"heading": "Findings"}]}
        return str(body_of(self.owner.request("POST", "/v1/templates", json=body))["template_id"])

    def fresh_dataset(self) -> str:
        return str(body_of(self.owner.request("POST", "/v1/datasets", json={"name": f"target-{unique()}"}))["name"])

    def fresh_member(self) -> str:
        return str(self.owner.invite(f"target-{unique()}@example.com", "viewer")["user_id"])

    def fresh_key(self) -> str:
        return str(self.owner.create_key(f"target-{unique()}", ["runs:read"])["key_id"])

    def fresh_invite(self) -> str:
        return str(self.owner.invite(f"invitee-{unique()}@example.com", "viewer")["invite_token"])

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
