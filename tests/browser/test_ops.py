"""The operations console in Chromium on a whole stack, as operators granted by `quarry operator`
use it: every page accessible and within the screen on a phone and a desktop; a platform admin
finds a dead letter by its service, reads its reason, redrives it once the consumer is fixed and
it leaves the open list; the event browser's live tail shows an event as it is stored; a run's
events across services in order; a platform operator sees dead letters but no button to change
them; a tenant owner is refused, by the page and by the API."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from devtools.stack import Stack
from tests.browser.dead_letters import PolicyProbe, refusal
from tests.browser.pages import DESKTOP, fits, on_every_screen, page_on, settled
from tests.browser.test_journey import sign_up, start_run
from tests.support.operators import quarry_operator

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

DEAD_S = 30.0  # a refused event reaches the dead-letter stream
HOSTILE = "<img src=x onerror=window.__pwned=1>"
OPS_PAGES = (
    ("/ops", "Operations"),
    ("/ops/streams", "Streams"),
    ("/ops/consumers", "Consumers"),
    ("/ops/events", "Events"),
    ("/ops/deadletters", "Dead letters"),
)


def grant(stack: Stack, email: str, role: str, cwd: Path) -> None:
    """`quarry operator grant` on the stack's store, as a person runs it (off Playwright's thread)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        done = pool.submit(
            asyncio.run, quarry_operator("grant", email, "--role", role, data_dir=stack.data_dir, cwd=cwd)
        ).result()
    assert done.returncode == 0, done.stderr + done.stdout


def until(check: Callable[[], Any], what: str, timeout_s: float = DEAD_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (found := check()):
        assert time.monotonic() < deadline, f"not within {timeout_s:.0f}s: {what}"
        time.sleep(0.2)
    return found


def open_letters(page: Page, service: str) -> list[dict[str, Any]]:
    """The open dead letters of `service`, as the signed-in operator's API answers them."""
    r = page.request.get(f"/v1/ops/deadletters?service={service}")
    assert r.ok, r.text()
    letters: list[dict[str, Any]] = r.json()["letters"]
    return letters


def operator_signed_in(page: Page, stack: Stack, role: str, cwd: Path) -> str:
    email = f"{role.replace('_', '-')}-{uuid.uuid4().hex[:8]}@example.com"
    sign_up(page, email, f"Ops {role}")
    grant(stack, email, role, cwd)
    page.reload()  # the session is read once a load: the granted role shows from the next
    return email


OperatorPage = Callable[[str, dict[str, int]], AbstractContextManager[Page]]
"""Opens a page in a browser context of its own (closed after), signed in as a new platform `role`."""


@pytest.fixture
def operator_page(browser: Browser, base_url: str, web_stack: Stack, tmp_path: Path) -> OperatorPage:
    """Pages of operators on the module's stack, each one `grant`ed its role from `tmp_path`."""

    @contextmanager
    def opened(role: str, viewport: dict[str, int]) -> Iterator[Page]:
        with page_on(browser, base_url, viewport) as page:
            operator_signed_in(page, web_stack, role, tmp_path)
            yield page

    return opened


def filter_letters(page: Page, service: str) -> None:
    form = page.get_by_role("form", name="Dead letter filters")
    form.get_by_label("Service").fill(service)
    form.get_by_role("button", name="Filter", exact=True).click()
    expect(page).to_have_url(re.compile(rf"service={service}"))


@on_every_screen
def test_every_ops_page_passes_axe_and_fits_the_screen_and_an_operator_changes_nothing(
    operator_page: OperatorPage, web_stack: Stack, viewport: dict[str, int]
) -> None:
    width = viewport["width"]
    with operator_page("platform_operator", viewport) as page:
        service = f"probe{width}"
        with PolicyProbe(web_stack.nats_url, service) as probe:
            probe.publish(f"v{width}{HOSTILE}", refuse=True)
            letter = until(lambda: open_letters(page, service), "the probe's dead letter")[0]

        page.get_by_role("navigation", name="Workspace").get_by_role("link", name="Operations").click()
        expect(page).to_have_url(re.compile(r"/ops$"))
        for path, heading in OPS_PAGES:
            page.goto(path)
            expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
            expect(page.get_by_role("status").filter(has_text="Loading")).to_have_count(0)
            expect(page.get_by_role("alert").filter(has_text=re.compile(r"\w"))).to_have_count(0)
            fits(page, width)
            settled(page, f"ops {path} operator {width}")

        filter_letters(page, service)
        row = page.get_by_role("region", name="Dead letters table").get_by_role("row").filter(has_text=service)
        expect(row).to_have_count(1)
        # The reason is shown as the text it is: the markup in it is not markup on the page.
        expect(row.get_by_role("cell", name=refusal(f"v{width}{HOSTILE}"))).to_be_visible()
        assert page.evaluate("window.__pwned === undefined") and page.locator("main img").count() == 0
        expect(page.get_by_role("button", name=re.compile(r"^(Redrive|Discard)"))).to_have_count(0)
        fits(page, width)
        settled(page, f"ops dead letters operator {width}")

        page.get_by_role("link", name=f"Inspect dead letter {letter['seq']}").click()
        expect(page.get_by_role("heading", name=f"Dead letter #{letter['seq']}", level=1)).to_be_visible()
        expect(page.get_by_text("Payloads are tenant data, shown to platform admins only.")).to_be_visible()
        expect(page.get_by_role("button", name=re.compile(r"^(Redrive|Discard)"))).to_have_count(0)
        fits(page, width)
        settled(page, f"ops dead letter operator {width}")
        # The API refuses what the page does not offer (asked as the page would: with the CSRF token).
        csrf = {c["name"]: c["value"] for c in page.context.cookies()}["quarry_csrf"]
        refused = page.request.post(
            f"/v1/ops/deadletters/{letter['seq']}/redrive", data={}, headers={"X-CSRF-Token": csrf}
        )
        assert refused.status == 403 and "ops:redrive" in refused.text(), refused.text()


def test_an_admin_redrives_a_dead_letter_and_it_leaves_the_open_list(
    page: Page, web_stack: Stack, tmp_path: Path
) -> None:
    page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]
    operator_signed_in(page, web_stack, "platform_admin", tmp_path)
    run_id = start_run(page, "What does Python's with statement do?", approval=False)
    service = "probeadmin"
    with PolicyProbe(web_stack.nats_url, service) as probe:
        refused = probe.publish("v7", refuse=True)
        letter = until(lambda: open_letters(page, service), "the probe's dead letter")[0]
        seq = letter["seq"]

        page.goto("/ops/deadletters")
        filter_letters(page, service)
        table = page.get_by_role("region", name="Dead letters table")
        row = table.get_by_role("row").filter(has_text=service)
        expect(row.get_by_role("cell", name=refusal("v7"))).to_be_visible()
        settled(page, "ops dead letters admin")

        page.get_by_role("link", name=f"Inspect dead letter {seq}").click()
        expect(page.get_by_text(f"{service} gave up: {refusal('v7')}")).to_be_visible()
        expect(page.get_by_role("region", name="Payload")).to_contain_text('"version": "v7"')
        settled(page, "ops dead letter admin")
        page.go_back()

        probe.fixed = True  # the consumer is fixed: now a redrive is handled
        page.get_by_role("button", name=f"Redrive dead letter {seq}").click()
        asked = page.get_by_role("group", name=f"Publish dead letter {seq} to policy.v1.activated again?")
        asked.get_by_role("button", name="Redrive", exact=True).click()
        expect(page.get_by_role("status").filter(has_text=f"Dead letter {seq} redriven")).to_be_visible()
        expect(page.get_by_text("No open dead letter matches.")).to_be_visible()
        expect(page.get_by_role("link", name=f"Inspect dead letter {seq}")).to_have_count(0)
        until(lambda: refused.event_id in probe.handled, "the redriven event handled")
        settled(page, "ops dead letters after redrive")

        # The live tail: an event stored after the tail began shows on top without a reload.
        page.goto("/ops/events")
        events = page.get_by_role("form", name="Event filters")
        events.get_by_label("Subject").fill("policy.v1.activated")
        events.get_by_role("button", name="Filter", exact=True).click()
        expect(page).to_have_url(re.compile(r"subject=policy\.v1\.activated"))
        rows = page.get_by_role("region", name="Events table").get_by_role("row")
        expect(rows.nth(1)).to_contain_text("policy.activated")
        shown = rows.count()
        page.get_by_label("Live tail").check()
        expect(page.get_by_role("status").filter(has_text="Live: new events appear on top.")).to_be_visible()
        tailed = probe.publish("v8", refuse=False)
        expect(rows).to_have_count(shown + 1, timeout=DEAD_S * 1000)
        settled(page, "ops events live tail")
        rows.nth(1).get_by_role("link", name=re.compile(r"^Event \d+$")).click()
        expect(page.get_by_text(tailed.event_id).first).to_be_visible()
        expect(page.get_by_role("region", name="Payload")).to_contain_text('"version": "v8"')
        settled(page, "ops event detail admin")

    # A run's events across the services, in the order stored, the first without a gap.
    def correlated() -> bool:
        page.goto(f"/ops/runs/{run_id}")
        rows = page.get_by_role("region", name="Run events table").get_by_role("row")
        try:
            expect(rows.nth(2)).to_be_visible(timeout=5000)
        except AssertionError:
            return False
        return True

    until(correlated, "the run's events in the correlation view", timeout_s=120)
    rows = page.get_by_role("region", name="Run events table").get_by_role("row")
    expect(rows.nth(1)).to_contain_text("run.requested")
    expect(rows.nth(1).get_by_role("cell").first).to_have_text("first")
    settled(page, "ops run correlation")


def test_a_tenant_owner_is_refused_the_console(page: Page) -> None:
    sign_up(page, f"owner-{uuid.uuid4().hex[:8]}@example.com", "Owner Co")
    expect(page.get_by_role("navigation", name="Workspace").get_by_role("link", name="Operations")).to_have_count(0)
    for path in ("/ops", "/ops/deadletters"):
        page.goto(path)
        expect(page.get_by_role("heading", name="Not an operator", level=1)).to_be_visible()
    settled(page, "ops refused tenant owner")
    for path in ("/v1/ops/streams", "/v1/ops/deadletters"):
        assert page.request.get(path).status == 403, path
