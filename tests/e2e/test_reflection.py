"""The integration reflection in a real browser: one prompt per screen, and nothing lost on closing."""

from __future__ import annotations

from playwright.sync_api import BrowserContext, expect

from tests.e2e.conftest import sign_in


def test_stepper_shows_one_prompt_at_a_time_with_progress(context: BrowserContext) -> None:
    page = context.new_page()
    sign_in(page)
    page.goto("/reflect/integration")
    prompts = page.locator(".prompt")
    expect(page.locator(".stepper-progress")).to_have_text("Question 1 of 10")
    expect(prompts.nth(0)).to_be_visible()
    expect(prompts.nth(1)).to_be_hidden()
    page.click("[data-step=skip]")
    expect(page.locator(".stepper-progress")).to_have_text("Question 2 of 10")
    expect(prompts.nth(1)).to_be_visible()
    page.click("[data-step=back]")
    expect(page.locator(".stepper-progress")).to_have_text("Question 1 of 10")


def test_draft_autosaves_to_the_server_and_survives_closing_the_tab(context: BrowserContext) -> None:
    page = context.new_page()
    sign_in(page)
    page.goto("/reflect/integration")
    entry_id = page.locator(".reflect-form").get_attribute("data-entry-id")
    page.fill("#answer-intention_revisited", "The door was never locked")
    expect(page.locator(".save-status")).to_contain_text("Draft saved")
    page.close()  # closing the tab: the words must already be on the server

    again = context.new_page()
    response = again.request.get(f"/api/v1/reflections/{entry_id}")
    assert response.status == 200
    saved = response.json()
    assert saved["status"] == "draft"
    assert saved["answers"][0]["text"] == "The door was never locked"
    assert saved["answers"][0]["prompt"].startswith("Your intention, revisited")

    again.goto(f"/reflect/integration?entry={entry_id}")
    expect(again.locator("#answer-intention_revisited")).to_have_value("The door was never locked")
