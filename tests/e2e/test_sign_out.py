"""Signing out on a shared phone: a warning while entries wait on the phone, then nothing left behind.

The server's Clear-Site-Data header asks the browser to wipe the site's storage; not every browser does
all of it, so the page clears caches and IndexedDB itself and tells the worker. The second test takes
the header away to prove the page's own clean-up.
"""

from __future__ import annotations

import uuid

from playwright.sync_api import BrowserContext, Page, Route, expect

from server.demo import PATIENTS
from tests.e2e.conftest import LiveServer, cached_urls, server_rows, sign_in, wait_until_controlled

PATIENT_NAME = PATIENTS[0].name
LEFT_BEHIND = (
    "async () => ({caches: await caches.keys(), databases: await indexedDB.databases(), local: localStorage.length})"
)


def write_offline_checkin(context: BrowserContext, page: Page, note: str) -> None:
    context.set_offline(True)
    page.click(".checkin-form .scale-option:has(input[value='4'])")
    page.click(".checkin-form summary")
    page.fill("#note", note)
    page.click(".checkin-form [type=submit]")
    expect(page.locator("#checkin-status")).to_contain_text("not yet sent")


def test_sign_out_warns_while_entries_wait_and_leaves_nothing_behind(
    context: BrowserContext, live_server: LiveServer
) -> None:
    page = context.new_page()
    sign_in(page)
    page.goto("/home")
    wait_until_controlled(page)
    note = f"sent before signing out {uuid.uuid4()}"
    write_offline_checkin(context, page, note)

    page.click("form[data-signout] button")
    dialog = page.locator("[data-signout-dialog]")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("1 entry is saved only on this phone and not sent yet")
    page.click("[data-signout-sync]")  # still offline: it cannot be sent, and it says so
    expect(dialog).to_contain_text("Still not sent")
    context.set_offline(False)
    page.click("[data-signout-sync]")  # sent, then signed out
    page.wait_for_url("**/login?signed_out=1")

    assert len(server_rows(live_server, "SELECT id FROM entries WHERE body LIKE ?", (f"%{note}%",))) == 1
    left = page.evaluate(LEFT_BEHIND)
    assert left == {"caches": [], "databases": [], "local": 0}
    page.go_back()  # to Today: no-store, so asked again, and the session is gone
    expect(page.locator("h1")).to_have_text("Sign in")
    assert PATIENT_NAME not in page.content()
    assert note not in page.content()


def test_cancelling_the_warning_keeps_the_patient_signed_in_with_the_entry(context: BrowserContext) -> None:
    page = context.new_page()
    sign_in(page)
    page.goto("/home")
    wait_until_controlled(page)
    write_offline_checkin(context, page, f"kept {uuid.uuid4()}")

    page.click("form[data-signout] button")
    page.click("[data-signout-cancel]")

    expect(page.locator("h1")).to_contain_text(PATIENT_NAME.split()[0])
    assert len(page.evaluate("() => self.AfterglowOutbox.all()")) == 1


def test_the_page_clears_the_phone_itself_where_clear_site_data_is_ignored(context: BrowserContext) -> None:
    def without_clear_site_data(route: Route) -> None:
        response = route.fetch(max_redirects=0)
        headers = {k: v for k, v in response.headers.items() if k.lower() != "clear-site-data"}
        route.fulfill(response=response, headers=headers)

    context.route("**/logout", without_clear_site_data)
    page = context.new_page()
    sign_in(page)
    page.goto("/home")
    wait_until_controlled(page)
    page.evaluate("() => self.AfterglowOutbox.setMeta('probe', 1)")  # the database exists
    assert cached_urls(page)

    page.click("form[data-signout] button")  # nothing waiting: no warning
    page.wait_for_url("**/login?signed_out=1")

    assert page.evaluate(LEFT_BEHIND) == {"caches": [], "databases": [], "local": 0}
    page.go_back()
    expect(page.locator("h1")).to_have_text("Sign in")
    assert PATIENT_NAME not in page.content()


def test_on_a_shared_phone_an_entry_is_never_sent_with_the_next_persons_session(
    context: BrowserContext, live_server: LiveServer
) -> None:
    page = context.new_page()
    sign_in(page)
    page.goto("/home")
    wait_until_controlled(page)
    note = f"first person's words {uuid.uuid4()}"
    write_offline_checkin(context, page, note)
    context.clear_cookies()  # their session ended without "Sign out" (it expired, say)
    context.set_offline(False)

    sign_in(page, PATIENTS[1].email)  # the next person, on the same phone: Today replays on load
    item = page.locator(".outbox-item.state-others")
    expect(item).to_contain_text("another account")
    expect(page.locator(".outbox-summary")).to_contain_text("1 entry is on this phone")
    assert note not in page.content()
    assert server_rows(live_server, "SELECT id FROM entries WHERE body LIKE ?", (f"%{note}%",)) == []

    context.clear_cookies()
    sign_in(page)  # the first person again: now it goes, under their own account
    expect(page.locator(".outbox-summary")).to_have_text("Everything you wrote is saved.")
    [row] = server_rows(
        live_server,
        "SELECT u.email FROM entries e JOIN users u ON u.id = e.patient_id WHERE e.body LIKE ?",
        (f"%{note}%",),
    )
    assert row["email"] == PATIENTS[0].email
