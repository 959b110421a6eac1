"""The phone app in a real browser: installable, the worker in control, entries written offline kept on the
phone and sent exactly once, conflicts that keep both texts, and the shell that never holds patient data.

Chromium's context.set_offline() cuts the page's network but not the service worker's own fetches, so the
tests go offline, write, reload, go online and then start the replay themselves ("Sync now").
"""

from __future__ import annotations

import time
import uuid

from playwright.sync_api import BrowserContext, Page, expect

from server.demo import PATIENTS
from tests.e2e.conftest import (
    LiveServer,
    api_put,
    cached_urls,
    outbox_records,
    server_rows,
    sign_in,
    wait_until_controlled,
)

PATIENT_NAME = PATIENTS[0].name


def signed_in_and_controlled(context: BrowserContext) -> Page:
    page = context.new_page()
    sign_in(page)
    page.goto("/home")
    wait_until_controlled(page)
    return page


def sync_now(page: Page) -> None:
    # Going online may already have started a replay that hides the (then empty) outbox: press the button
    # whether or not it is still on screen.
    page.locator("[data-sync-now]").dispatch_event("click")
    expect(page.locator(".outbox-summary")).to_have_text("Everything you wrote is saved.")


def entries_with(live_server: LiveServer, text: str) -> list[str]:
    rows = server_rows(live_server, "SELECT id FROM entries WHERE body LIKE ?", (f"%{text}%",))
    return [row["id"] for row in rows]


def test_the_manifest_is_valid_and_the_worker_controls_the_page_with_the_shell_cached(
    context: BrowserContext,
) -> None:
    page = signed_in_and_controlled(context)

    assert page.evaluate("() => navigator.serviceWorker.controller.scriptURL").endswith("/sw.js")
    cdp = context.new_cdp_session(page)
    manifest = cdp.send("Page.getAppManifest")
    assert manifest["url"].endswith("/manifest.webmanifest")
    assert manifest["errors"] == []
    # Playwright's contexts are incognito windows, the one reason Chromium gives for not offering to install.
    installability = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
    assert [e["errorId"] for e in installability] in ([], ["in-incognito"])
    [(name, urls)] = cached_urls(page).items()
    assert name.startswith("afterglow-shell-")
    assert {"/offline", "/app/checkin", "/app/reflect", "/help", "/static/app.css", "/static/js/app.js"} <= set(urls)


def test_nothing_with_patient_data_is_ever_in_cache_storage(context: BrowserContext) -> None:
    page = signed_in_and_controlled(context)
    for url in ("/history", "/sessions", "/safety-plan", "/settings", "/home", "/help"):
        page.goto(url)

    stored = page.evaluate(
        """async () => {
            const found = [];
            for (const name of await caches.keys()) {
                const cache = await caches.open(name);
                for (const request of await cache.keys()) {
                    const response = await cache.match(request);
                    const html = (response.headers.get("Content-Type") || "").startsWith("text/html");
                    found.push({url: new URL(request.url).pathname, cacheControl: response.headers.get("Cache-Control"),
                                text: html ? await response.text() : ""});
                }
            }
            return found;
        }"""
    )

    assert stored, "the shell is cached"
    for item in stored:
        assert "no-store" not in (item["cacheControl"] or ""), item["url"]
        assert PATIENT_NAME not in item["text"], item["url"]
    assert not {"/home", "/history", "/sessions", "/safety-plan", "/settings"} & {item["url"] for item in stored}


def test_the_worker_refuses_to_cache_a_no_store_response_even_for_a_shell_page(context: BrowserContext) -> None:
    # A bug on the server marks the help page no-store: the worker must leave it out, not store it anyway.
    def mark_no_store(route):  # type: ignore[no-untyped-def]
        response = route.fetch()
        route.fulfill(response=response, headers={**response.headers, "cache-control": "no-store"})

    context.route("**/help", mark_no_store)
    page = signed_in_and_controlled(context)

    [urls] = cached_urls(page).values()
    assert "/offline" in urls
    assert "/help" not in urls


def test_entries_written_offline_survive_a_reload_and_reach_the_server_once(
    context: BrowserContext, live_server: LiveServer
) -> None:
    page = signed_in_and_controlled(context)
    note = f"offline check-in {uuid.uuid4()}"
    words = f"offline reflection {uuid.uuid4()}"
    context.set_offline(True)

    # A check-in on Today (loaded before the signal dropped) ...
    page.click(".checkin-form .scale-option:has(input[value='6'])")
    page.click(".checkin-form summary")
    page.fill("#note", note)
    page.click(".checkin-form [type=submit]")
    expect(page.locator("#checkin-status")).to_contain_text("Saved on this phone — not yet sent")
    # ... and a reflection on the shell's form, which opens offline.
    page.goto("/app/reflect")
    page.fill("#answer-free", words)
    page.click(".reflect-form [type=submit]")
    expect(page.locator(".reflect-form .form-status")).to_contain_text("not yet sent")

    page.reload()  # still offline: the shell and the outbox are on the phone
    expect(page.locator("h1")).to_have_text("Free writing")
    expect(page.locator(".outbox-item")).to_have_count(2)
    expect(page.locator(".outbox-item .item-state").first).to_have_text("On this phone — not yet sent")
    page.goto("/home")  # a page with patient data is not on the phone: the offline page stands in
    expect(page.locator("h1")).to_have_text("You're offline")
    expect(page.locator(".outbox-item")).to_have_count(2)
    ids = {record["id"] for record in outbox_records(page)}
    assert entries_with(live_server, note) == entries_with(live_server, words) == []

    context.set_offline(False)
    sync_now(page)

    assert outbox_records(page) == []
    sent = entries_with(live_server, note) + entries_with(live_server, words)
    assert sorted(sent) == sorted(ids)


def test_replaying_the_same_outbox_twice_creates_no_duplicate(context: BrowserContext, live_server: LiveServer) -> None:
    page = signed_in_and_controlled(context)
    note = f"twice {uuid.uuid4()}"
    context.set_offline(True)
    page.goto("/app/checkin")
    page.click(".checkin-form .scale-option:has(input[value='7'])")
    page.click(".checkin-form summary")
    page.fill("#note", note)
    page.click(".checkin-form [type=submit]")
    expect(page.locator("#checkin-status")).to_contain_text("not yet sent")
    [record] = outbox_records(page)
    context.set_offline(False)
    sync_now(page)

    # As if the first answer had been lost on the way back: the same item is in the outbox again.
    page.evaluate(
        "([kind, id, body]) => self.AfterglowOutbox.put(kind, id, body)", [record["kind"], record["id"], record["body"]]
    )
    page.reload()  # replays on load
    expect(page.locator(".outbox-summary")).to_have_text("Everything you wrote is saved.")

    assert outbox_records(page) == []
    assert entries_with(live_server, note) == [record["id"]]


def test_a_conflict_keeps_both_texts_until_the_patient_chooses(
    context: BrowserContext, live_server: LiveServer
) -> None:
    page = signed_in_and_controlled(context)
    entry_id = str(uuid.uuid4())
    url = f"/api/v1/reflections/{entry_id}"
    first = {"kind": "free", "answers": [{"prompt_id": "free", "text": "first words"}]}
    assert api_put(page, url, first)["status"] == 201
    page.goto(f"/reflect/free?entry={entry_id}")  # an edit of version 1
    elsewhere = {"kind": "free", "answers": [{"prompt_id": "free", "text": "changed on the laptop"}]}
    assert api_put(page, url, elsewhere)["status"] == 200  # meanwhile, version 2

    page.fill("#answer-free", "changed on the phone")
    page.click(".reflect-form [type=submit]")

    expect(page.locator(".form-problem")).to_contain_text("changed somewhere else too")
    conflict = page.locator(".outbox-item.state-conflict")
    expect(conflict.locator(".version-mine .version-text")).to_have_text("changed on the phone")
    expect(conflict.locator(".version-saved .version-text")).to_have_text("changed on the laptop")
    page.reload()  # nothing is dropped until the patient chooses
    expect(page.locator(".outbox-item.state-conflict .version-mine .version-text")).to_have_text("changed on the phone")
    [row] = server_rows(live_server, "SELECT body, version FROM entries WHERE id = ?", (entry_id,))
    assert "changed on the laptop" in row["body"] and row["version"] == 2

    page.click(".outbox-item.state-conflict button:has-text('Keep mine')")

    expect(page.locator(".outbox-summary")).to_have_text("Everything you wrote is saved.")
    [row] = server_rows(live_server, "SELECT body, version FROM entries WHERE id = ?", (entry_id,))
    assert "changed on the phone" in row["body"] and row["version"] == 3
    kept = server_rows(live_server, "SELECT body FROM entry_versions WHERE entry_id = ?", (entry_id,))
    assert any("changed on the laptop" in r["body"] for r in kept)  # the other text is still there


def test_a_refused_entry_keeps_its_text_and_says_why(context: BrowserContext) -> None:
    page = signed_in_and_controlled(context)
    page.goto("/app/reflect")
    page.fill("#answer-free", "words the server will refuse")
    # A reflection about a session that is not this patient's: the server answers 422 with a message.
    page.evaluate(
        """() => { const f = document.createElement("input"); f.type = "hidden"; f.name = "kap_session_id";
                   f.value = "no-such-session"; document.querySelector(".reflect-form").prepend(f); }"""
    )
    page.click(".reflect-form [type=submit]")

    alert = page.locator(".reflect-form [role=alert]")
    expect(alert).to_contain_text("session was not found")
    expect(page.locator("#answer-free")).to_have_value("words the server will refuse")
    item = page.locator(".outbox-item.state-attention")
    expect(item).to_contain_text("Needs your attention")
    expect(item.locator(".version-text")).to_have_text("words the server will refuse")


def test_a_reflection_draft_survives_closing_the_app_offline(context: BrowserContext, live_server: LiveServer) -> None:
    page = signed_in_and_controlled(context)
    page.goto("/reflect/integration")
    context.set_offline(True)
    page.fill("#answer-intention_revisited", "still here after closing")
    expect(page.locator(".save-status")).to_contain_text("Saved on this phone")
    page.close()  # the app is closed while offline

    again = context.new_page()
    again.goto("/home")  # offline: the offline page, with the draft on it
    draft = again.locator(".outbox-item", has_text="Integration reflection (draft)")
    draft.locator("a", has_text="Continue writing").click()
    expect(again.locator("#answer-intention_revisited")).to_have_value("still here after closing")
    context.set_offline(False)
    sync_now(again)
    assert len(entries_with(live_server, "still here after closing")) == 1


def test_a_new_version_waits_offers_a_reload_and_replaces_the_old_shell(context: BrowserContext) -> None:
    page = signed_in_and_controlled(context)
    [current] = cached_urls(page)
    page.evaluate("() => caches.open('afterglow-shell-0ld')")  # what an older version left behind

    # Playwright cannot intercept the browser's own fetch of a worker script, so the test cannot serve
    # changed bytes at /sw.js. A new script URL is also a new worker to the browser: it installs beside
    # the running one and waits, exactly as a changed /sw.js would.
    page.evaluate("() => navigator.serviceWorker.register('/sw.js?next', {scope: '/'})")

    banner = page.locator("[data-update]")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("A new version of Afterglow is ready")
    with page.expect_navigation():
        page.click("[data-update-reload]")
    assert page.evaluate("() => navigator.serviceWorker.controller.scriptURL").endswith("/sw.js?next")
    assert list(cached_urls(page)) == [current]  # the older shell's cache is gone


def test_background_sync_sends_the_outbox_with_no_page_of_the_app_open(
    context: BrowserContext, live_server: LiveServer
) -> None:
    page = signed_in_and_controlled(context)
    note = f"sent by the worker {uuid.uuid4()}"
    context.set_offline(True)
    page.click(".checkin-form .scale-option:has(input[value='5'])")
    page.click(".checkin-form summary")
    page.fill("#note", note)
    page.click(".checkin-form [type=submit]")
    expect(page.locator("#checkin-status")).to_contain_text("not yet sent")
    assert page.evaluate("() => navigator.serviceWorker.ready.then((r) => r.sync.getTags())") == ["afterglow-outbox"]
    blank = context.new_page()  # keeps the browser context alive; it is not a page of the app
    page.close()  # no page left to replay on `online`: only the worker can send it now

    context.set_offline(False)

    deadline = time.monotonic() + 30
    while not entries_with(live_server, note) and time.monotonic() < deadline:
        blank.wait_for_timeout(100)  # polling the database for the worker's write, not timing anything
    assert len(entries_with(live_server, note)) == 1


def test_signed_out_meanwhile_the_entry_waits_for_the_next_sign_in(
    context: BrowserContext, live_server: LiveServer
) -> None:
    page = signed_in_and_controlled(context)
    note = f"after signing in again {uuid.uuid4()}"
    context.set_offline(True)
    page.goto("/app/checkin")
    page.click(".checkin-form .scale-option:has(input[value='6'])")
    page.click(".checkin-form summary")
    page.fill("#note", note)
    page.click(".checkin-form [type=submit]")
    expect(page.locator("#checkin-status")).to_contain_text("not yet sent")
    context.clear_cookies()  # the session ended while the phone was offline
    context.set_offline(False)

    page.locator("[data-sync-now]").dispatch_event("click")

    item = page.locator(".outbox-item.state-signin")
    expect(item).to_contain_text("Please sign in again")
    assert len(outbox_records(page)) == 1 and entries_with(live_server, note) == []
    sign_in(page)  # and back on Today, the outbox is sent on load
    expect(page.locator(".outbox-summary")).to_have_text("Everything you wrote is saved.")
    assert len(entries_with(live_server, note)) == 1
