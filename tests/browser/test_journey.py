"""A customer's first hour in a real browser, on a whole stack: from the landing page through
sign-up, a run watched live and approved, its report, a citation followed, the PDF, a
follow-up, the charge on /billing, to logging out. Also: another tenant's run is not found,
and a network drop mid-run loses no event."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from devtools.client import QuarryClient
from tests.browser.pages import settled

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

PASSWORD = "a long passphrase for the browser journey"
QUESTION = "How does Python's garbage collector handle reference cycles?"
# Long enough for a run on a loaded machine: the stack plans, searches, synthesises, verifies.
RUN_S = 240_000


def sign_up(page: Page, email: str, workspace: str) -> None:
    page.goto("/signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Workspace name").fill(workspace)
    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(re.compile(r"/research/?$"))


def start_run(page: Page, question: str, approval: bool) -> str:
    page.get_by_label("Question").fill(question)
    if approval:
        page.get_by_label("Approval").select_option(label="Approve before publishing")
    page.get_by_role("button", name="Start research").click()
    expect(page).to_have_url(re.compile(r"/research/runs/[0-9a-f-]{36}$"))
    return page.url.rsplit("/", 1)[1]


def test_the_journey_from_the_landing_page_to_the_charge_and_out(page: Page, base_url: str) -> None:
    page.goto("/")
    settled(page, "journey landing")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Pricing").click()
    expect(page).to_have_url(re.compile(r"/pricing/?$"))
    page.get_by_role("main").get_by_role("link", name=re.compile("sign up", re.I)).first.click()
    expect(page).to_have_url(re.compile(r"/signup/?$"))
    settled(page, "journey signup")

    # The session lives in an HttpOnly cookie; nothing of it is in localStorage.
    email = f"journey-{uuid.uuid4().hex[:8]}@example.com"
    sign_up(page, email, "Journey Labs")
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["quarry_session"]["httpOnly"] and cookies["quarry_session"]["sameSite"] in ("Lax", "Strict")
    assert page.evaluate("Object.keys(localStorage).length") == 0
    settled(page, "journey research")

    run_id = start_run(page, QUESTION, approval=True)
    # Watched live: the plan's sub-questions and the sources arrive on the run's stream.
    expect(page.get_by_role("region", name="Plan").get_by_role("listitem").first).to_be_visible(timeout=RUN_S)
    expect(page.get_by_role("region", name=re.compile(r"^Sources found \([1-9]"))).to_be_visible(timeout=RUN_S)
    expect(page.get_by_role("region", name="Policy decisions").get_by_role("listitem").first).to_be_visible()
    approve = page.get_by_role("button", name="Approve")
    expect(approve).to_be_visible(timeout=RUN_S)
    settled(page, "journey awaiting approval")
    page.get_by_role("region", name="Approval needed").get_by_label("Comment").fill("Looks right; publish it.")
    approve.click()

    report = page.get_by_role("region", name="Report", exact=True)
    expect(report).to_be_visible(timeout=RUN_S)
    settled(page, "journey report")
    citation = report.get_by_role("link", name=re.compile(r"^Source 1: ")).first
    expect(citation).to_be_visible()
    citation.click()
    # Following [1] lands on its source and the passage it cites.
    expect(page).to_have_url(re.compile(r"#source-1$"))
    cited = report.get_by_role("region", name="Sources", exact=True).get_by_role("listitem").first
    expect(cited).to_be_in_viewport()
    expect(cited.get_by_role("blockquote")).not_to_be_empty()

    with page.expect_download() as download:
        page.get_by_role("link", name="PDF").click()
    pdf = download.value
    assert pdf.suggested_filename.endswith(".pdf")
    with open(pdf.path(), "rb") as f:
        assert f.read(5) == b"%PDF-"

    follow_ups = page.get_by_role("region", name="Follow-up questions")
    follow_ups.get_by_label("Follow-up question").fill("Which module exposes the collector?")
    follow_ups.get_by_role("button", name="Ask a follow-up").click()
    answer = follow_ups.get_by_role("article").last
    expect(answer.get_by_role("heading", name="Which module exposes the collector?")).to_be_visible()
    # Answered in place as it streams, with its own citations.
    expect(answer.get_by_role("link", name=re.compile(r"^Source \d+: ")).first).to_be_visible(timeout=RUN_S)
    settled(page, "journey follow-up")

    page.goto("/billing")
    expect(page.get_by_role("heading", name=re.compile("billing", re.I)).first).to_be_visible()
    ledger = page.get_by_role("region", name="Ledger table")
    expect(ledger.get_by_role("link", name=f"run {run_id[:8]}").first).to_be_visible(timeout=60_000)
    settled(page, "journey billing")

    page.get_by_role("button", name="Log out").click()
    page.goto("/research")
    expect(page).to_have_url(re.compile(r"/login\?next=(%2F|/)research$"))
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    settled(page, "journey login")
    # Logging in again goes back to where the visitor was sent from, signed in.
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/research$"))
    expect(page.get_by_role("link", name=re.compile(QUESTION[:20]))).to_be_visible()


def test_another_tenants_run_is_not_found(browser: Browser, base_url: str) -> None:
    owner = QuarryClient(base_url)
    owner.signup(f"owner-{uuid.uuid4().hex[:8]}@example.com", PASSWORD, "Owner Co")
    run_id = owner.create_run("What is a Python descriptor?", depth=1, max_sources=3)
    owner.close()
    context = browser.new_context(base_url=base_url)
    page = context.new_page()
    sign_up(page, f"other-{uuid.uuid4().hex[:8]}@example.com", "Other Co")
    page.goto(f"/research/runs/{run_id}")
    expect(page.get_by_role("heading", name=re.compile("not found", re.I))).to_be_visible()
    expect(page.get_by_text(re.compile("descriptor", re.I))).to_have_count(0)
    settled(page, "run not found")
    context.close()


def event_ids(page: Page) -> list[str]:
    """The ids of the run's events the page shows in its log, in order."""
    log = page.get_by_role("log", name=re.compile("events", re.I))
    ids = log.get_by_role("listitem").evaluate_all("items => items.map(i => i.dataset.eventId)")
    return [str(i) for i in ids]


def stream_ids(page: Page, run_id: str, until: str) -> list[str]:
    """The ids of the run's stream from its start up to the first `until` event, read over the
    API with the page's session (the stream stays open while the run waits, so it is cut there)."""
    ids: list[str] = []
    body = page.evaluate(
        """async ([runId, until]) => {
            const res = await fetch(`/v1/runs/${runId}/events`);
            const reader = res.body.getReader();
            const decoder = new TextDecoder();
            let text = "";
            while (!text.includes(`event: ${until}`)) {
                const { value, done } = await reader.read();
                if (done) break;
                text += decoder.decode(value, { stream: true });
            }
            await reader.cancel();
            return text;
        }""",
        [run_id, until],
    )
    for block in str(body).replace("\r\n", "\n").split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "id" in fields:
            ids.append(fields["id"])
        if fields.get("event") == until:
            break
    return ids


def test_a_network_drop_mid_run_loses_no_event_and_shows_none_twice(context: BrowserContext, page: Page) -> None:
    sign_up(page, f"drop-{uuid.uuid4().hex[:8]}@example.com", "Drop Co")
    start_run(page, "How do Python generators keep their state?", approval=True)
    expect(page.get_by_role("region", name="Plan").get_by_role("listitem").first).to_be_visible(timeout=RUN_S)
    # The network drops: the open stream is cut and every request fails until it is restored.
    context.route("**/v1/**", lambda route: route.abort("internetdisconnected"))
    context.set_offline(True)
    status = page.get_by_role("status").filter(has_text=re.compile("reconnect", re.I))
    expect(status).to_have_text("Reconnecting…", timeout=60_000)
    page.wait_for_timeout(5_000)  # the run goes on meanwhile; its events wait in the log
    context.set_offline(False)
    context.unroute("**/v1/**")
    expect(status).to_have_text("Reconnected", timeout=60_000)
    expect(page.get_by_role("button", name="Approve")).to_be_visible(timeout=RUN_S)
    shown = event_ids(page)
    assert len(shown) == len(set(shown)), shown
    # Nothing lost: the page shows every event the run's stream has up to the approval wait.
    run_id = page.url.rsplit("/", 1)[1]
    expected = stream_ids(page, run_id, until="run.waiting_approval")
    assert shown[: len(expected)] == expected, (shown, expected)
