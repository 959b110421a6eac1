"""Entry forms through the outbox keep the server's behaviour: a check-in that raises a safety alert shows
the crisis card at once, and a finished entry lands where the form without JavaScript would have gone."""

from __future__ import annotations

from playwright.sync_api import BrowserContext, expect

from server.demo import PATIENTS
from tests.e2e.conftest import LiveServer, server_rows, sign_in

PATIENT = PATIENTS[2]


def test_a_check_in_that_raises_a_safety_alert_shows_the_crisis_card_at_once(
    context: BrowserContext, live_server: LiveServer
) -> None:
    page = context.new_page()
    sign_in(page, PATIENT.email)
    [user] = server_rows(live_server, "SELECT id FROM users WHERE email = ?", (PATIENT.email,))
    flags_before = len(server_rows(live_server, "SELECT id FROM flags WHERE patient_id = ?", (user["id"],)))

    # A mood of 1 or less two check-ins running raises the alert; the first one only says thank you, and
    # that navigation must finish before the second form is used or the two navigations race.
    page.goto("/home")
    page.click(".checkin-form .scale-option:has(input[value='0'])")
    page.click(".checkin-form [type=submit]")
    page.wait_for_url("**/home?saved=checkin")
    page.click(".checkin-form .scale-option:has(input[value='0'])")
    page.click(".checkin-form [type=submit]")

    dialog = page.locator("[data-crisis-dialog]")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".crisis-lines")).to_contain_text("988")
    expect(dialog.locator("a[href='tel:988']")).to_be_visible()
    assert len(server_rows(live_server, "SELECT id FROM flags WHERE patient_id = ?", (user["id"],))) > flags_before
    page.click("[data-crisis-close]")
    expect(dialog).to_be_hidden()


def test_a_finished_check_in_goes_to_today_with_its_thank_you(context: BrowserContext) -> None:
    page = context.new_page()
    sign_in(page)
    page.click(".checkin-form .scale-option:has(input[value='7'])")
    page.click(".checkin-form [type=submit]")

    page.wait_for_url("**/home?saved=checkin")
    expect(page.locator(".notice-ok")).to_have_text("Check-in saved. Thank you.")


def test_a_questionnaire_goes_through_the_outbox_and_opens_the_saved_entry(
    context: BrowserContext, live_server: LiveServer
) -> None:
    page = context.new_page()
    sign_in(page)
    page.goto("/questionnaires/gad7")
    entry_id = page.locator("form[data-outbox]").get_attribute("data-entry-id")
    for fieldset in page.locator("form[data-outbox] fieldset").all():
        fieldset.locator(".scale-option").nth(1).click()
    page.click("form[data-outbox] [type=submit]")

    page.wait_for_url(f"**/entries/{entry_id}?saved=1")
    [row] = server_rows(live_server, "SELECT subkind, score FROM entries WHERE id = ?", (entry_id,))
    assert (row["subkind"], row["score"]) == ("gad7", 7)
