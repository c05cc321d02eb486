"""Settings and datasets in Chromium on a whole stack: every tenant default saved and read back,
the tenant's model endpoint set without its key ever coming back to the page, members invited,
their role changed and the gateway's refusals shown, a typed document indexed into a dataset,
and a dataset deleted only after confirming; on a phone's width."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.pages import PHONE, fits, page_on, settled
from tests.browser.test_journey import sign_up

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

INDEXED_S = 120_000


def test_settings_on_a_phone(browser: Browser, base_url: str) -> None:
    with page_on(browser, base_url, PHONE) as page:
        sign_up(page, f"settings-{uuid.uuid4().hex[:8]}@example.com", "Settings")
        page.goto("/settings")
        expect(page.get_by_role("heading", name="Settings", level=1)).to_be_visible()

        defaults = page.get_by_role("region", name="Workspace defaults")
        defaults.get_by_label("Runs wait for approval before publishing").check()
        defaults.get_by_label("Approval deadline in seconds").fill("7200")
        defaults.get_by_label("Personal data found in a report").select_option(label="Block publishing")
        defaults.get_by_label("The web").check()
        defaults.get_by_role("button", name="Save settings").click()
        expect(defaults.get_by_role("status")).to_have_text("Settings saved; they apply to runs started from now on.")
        page.reload()
        defaults = page.get_by_role("region", name="Workspace defaults")
        expect(defaults.get_by_label("Approval deadline in seconds")).to_have_value("7200")
        expect(defaults.get_by_label("Runs wait for approval before publishing")).to_be_checked()
        expect(defaults.get_by_label("Personal data found in a report")).to_have_value("block")
        expect(defaults.get_by_label("The web")).to_be_checked()

        model = page.get_by_role("region", name="Model endpoint")
        expect(model.get_by_text("Runs use the platform's model.")).to_be_visible()
        model.get_by_label("API root URL").fill("https://user:pw@llm.example.org/v1")
        model.get_by_label("Model name").fill("gpt-4o-mini")
        model.get_by_label("API key").fill("sk-test-secret-wxyz")
        model.get_by_role("button", name="Save model endpoint").click()
        expect(model.get_by_role("alert")).to_contain_text("must not carry credentials")
        model.get_by_label("API root URL").fill("https://llm.example.org/v1")
        model.get_by_label("API key").fill("sk-test-secret-wxyz")
        model.get_by_role("button", name="Save model endpoint").click()
        expect(model.get_by_text("an API key is set (ending in wxyz)")).to_be_visible()
        expect(model.get_by_label("API key")).to_have_value("")
        page.reload()
        model = page.get_by_role("region", name="Model endpoint")
        expect(model.get_by_text("Runs use gpt-4o-mini at https://llm.example.org/v1")).to_be_visible()
        expect(model.get_by_label("API key")).to_have_value("")
        assert "sk-test-secret" not in page.content()

        invite = page.get_by_role("region", name="Invite a member")
        invite.get_by_label("Member's email").fill("colleague@example.com")
        invite.get_by_label("Role").select_option(label="Viewer")
        invite.get_by_role("button", name="Invite").click()
        expect(invite.get_by_role("status")).to_contain_text("invite token")
        members = page.get_by_role("region", name="Members")
        members.get_by_label("Role of colleague@example.com").select_option(label="Admin")
        members.get_by_role("listitem").filter(has_text="colleague@example.com").get_by_role(
            "button", name="Change role"
        ).click()
        expect(members.get_by_role("listitem").filter(has_text="colleague@example.com")).to_contain_text("· admin ·")
        # The only owner cannot step down: the gateway says why.
        me = members.get_by_role("listitem").filter(has_text="(you)")
        me.get_by_role("combobox").select_option(label="Member")
        me.get_by_role("button", name="Change role").click()
        expect(members.get_by_role("alert").filter(has_text="last owner")).to_be_visible()
        fits(page, PHONE["width"])
        settled(page, "settings phone")
        members.get_by_role("button", name="Remove member colleague@example.com").click()
        members.get_by_role("button", name="Remove member", exact=True).click()
        expect(members.get_by_text("colleague@example.com")).to_have_count(0)

        model.get_by_role("button", name="Remove model endpoint").click()
        model.get_by_role("button", name="Remove endpoint").click()
        expect(model.get_by_text("Runs use the platform's model.")).to_be_visible()


def test_a_typed_document_is_indexed_and_a_dataset_deleted_after_confirming(browser: Browser, base_url: str) -> None:
    with page_on(browser, base_url, PHONE) as page:
        sign_up(page, f"datasets-{uuid.uuid4().hex[:8]}@example.com", "Datasets")
        page.goto("/datasets")
        create = page.get_by_role("region", name="New dataset")
        create.get_by_label("Name").fill("notes")
        create.get_by_role("button", name="Create dataset").click()
        page.get_by_role("button", name="Add a text document to notes").click()
        form = page.get_by_role("form", name="Text document for notes")
        form.get_by_label("Document title").fill("Perovskite notes")
        form.get_by_label("Format").select_option(label="Markdown")
        form.get_by_label("Text").fill("# Perovskite notes\n\nCertified single-junction cells reached 26.1% in 2023.")
        form.get_by_role("button", name="Add document").click()
        expect(page.get_by_role("status").filter(has_text="Perovskite notes added")).to_be_visible()
        documents = page.get_by_role("list", name="Documents in notes")
        expect(documents).to_contain_text("Perovskite notes: indexed", timeout=INDEXED_S)
        fits(page, PHONE["width"])
        settled(page, "datasets phone")

        page.get_by_role("button", name="Delete dataset notes").click()
        page.get_by_role("button", name="Keep it").click()
        expect(page.get_by_role("button", name="Delete dataset notes")).to_be_focused()
        page.get_by_role("button", name="Delete dataset notes").click()
        page.get_by_role("button", name="Delete dataset", exact=True).click()
        expect(page.get_by_text("No datasets yet.")).to_be_visible()
