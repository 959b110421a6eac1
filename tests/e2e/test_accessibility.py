"""Phone-quality UI, checked in the browser on every page a patient, a therapist or an admin can open:
axe-core finds no serious or critical WCAG 2.1 A/AA violation, in light and in dark mode; and every patient
page at 320 px wide scrolls only vertically and keeps its touch targets at least 44 px high.

Pages are found the way a person finds them: the given starting points plus the links on them (one step),
so a page added later is checked without anyone remembering to list it here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import BrowserContext, Page, expect

from server.demo import ADMIN, THERAPIST
from tests.e2e.conftest import sign_in

AXE_SOURCE = Axe().axe_script
WCAG_AA = {
    "resultTypes": ["violations"],
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
}
# Dark mode changes colours only: the contrast rule is what can newly fail.
CONTRAST = {"resultTypes": ["violations"], "runOnly": {"type": "rule", "values": ["color-contrast"]}}
PATIENT_START = [
    "/home",
    "/sessions",
    "/history",
    "/questionnaires",
    "/questionnaires/phq9",
    "/reflect/integration",
    "/safety-plan",
    "/settings",
    "/settings/reminders",
    "/account",
    "/help",
    "/offline",
    "/app/checkin",
    "/app/reflect",
    "/app/reflect/integration",
]
# Never followed: leaving, downloads, the API, other sites' links.
SKIP = ("/logout", "/static/", "/api/", "tel:", "sms:", "mailto:", "/not-safe")
TAP_TARGETS = (
    "button:not([hidden]), .button, select, summary, nav a, .scale-option span, .tag span, .check,"
    " input:not([type=hidden]):not([type=radio]):not([type=checkbox]):not([type=range])"
)
MIN_TAP_PX = 44
ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f-]{27}$|^\d+$")


def links_from(page: Page, origin: str) -> list[str]:
    hrefs: list[str] = page.evaluate("() => [...document.querySelectorAll('a[href]')].map((a) => a.href)")
    found = []
    for href in hrefs:
        parts = urlsplit(href)
        if f"{parts.scheme}://{parts.netloc}" != origin or any(s in href for s in SKIP):
            continue
        if parts.path.endswith((".csv", ".json", ".pdf")):
            continue
        found.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return found


def page_kind(url: str) -> str:
    """One page of each kind: /sessions/<id> and /sessions/<other id> are the same page with other data."""
    segments = urlsplit(url).path.split("/")
    return "/".join("*" if ID.match(segment) else segment for segment in segments)


def check_every_page(page: Page, start: list[str], origin: str, check: Callable[[str], None]) -> list[str]:
    """``check`` the starting pages and the pages they link to, one of each kind; returns the URLs checked.

    ``check(url)`` opens ``url`` in ``page``; a starting page's links are read while it is still open after
    its check, so that it is loaded once, not once to find its links and again to check it.
    """
    seen: dict[str, str] = {}
    checked: set[str] = set()
    for url in start:
        seen.setdefault(page_kind(url), url)
    starting = list(seen.values())
    for url in start:
        if url in starting and url not in checked:
            check(url)
            checked.add(url)
        else:  # a second starting page of a kind already checked: its links still count
            page.goto(url)
        for link in links_from(page, origin):
            seen.setdefault(page_kind(link), link)
    for url in list(seen.values())[len(starting) :]:
        check(url)
    return list(seen.values())


def axe(page: Page, options: dict[str, object]) -> list[dict[str, object]]:
    run = "(options) => typeof window.axe === 'object' ? axe.run(document, options) : null"
    result = page.evaluate(run, options)
    if result is None:  # not in this page yet
        page.evaluate(AXE_SOURCE)  # through the debugger, so the page's CSP does not apply
        result = page.evaluate(run, options)
    return [v for v in result["violations"] if v["impact"] in ("serious", "critical")]


def describe(violations: list[dict[str, object]]) -> str:
    return "; ".join(
        f"{v['id']}: {[n['target'] for n in v['nodes']][:3]}"  # type: ignore[index, union-attr]
        for v in violations
    )


def check_accessibility(page: Page, url: str) -> list[str]:
    problems = []
    page.emulate_media(color_scheme="light", reduced_motion="reduce")
    page.goto(url)
    if found := axe(page, WCAG_AA):
        problems.append(f"{url} (light): {describe(found)}")
    page.emulate_media(color_scheme="dark")
    if found := axe(page, CONTRAST):
        problems.append(f"{url} (dark): {describe(found)}")
    return problems


@pytest.fixture
def narrow(context: BrowserContext) -> Page:
    page = context.new_page()
    page.set_viewport_size({"width": 320, "height": 640})
    return page


def test_every_patient_page_is_accessible_and_fits_320px(
    narrow: Page, live_server: object, tmp_path_factory: pytest.TempPathFactory
) -> None:
    sign_in(narrow)
    origin = narrow.evaluate("() => location.origin")
    shots = tmp_path_factory.mktemp("screens-320")
    problems: list[str] = []

    def check(url: str) -> None:
        problems.extend(check_accessibility(narrow, url))
        narrow.emulate_media(color_scheme="light")
        overflow = narrow.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        if overflow > 0:
            problems.append(f"{url}: {overflow}px wider than the 320px screen")
        small = narrow.evaluate(
            """([selector, min]) => [...document.querySelectorAll(selector)]
                .filter((el) => el.getClientRects().length && getComputedStyle(el).visibility !== "hidden")
                .filter((el) => el.getBoundingClientRect().height < min)
                .map((el) => `${el.tagName.toLowerCase()}.${el.className} "${el.textContent.trim().slice(0, 30)}"`)""",
            [TAP_TARGETS, MIN_TAP_PX],
        )
        if small:
            problems.append(f"{url}: touch targets under {MIN_TAP_PX}px: {small[:5]}")
        name = urlsplit(url).path.strip("/").replace("/", "_") or "root"
        narrow.screenshot(path=str(Path(shots) / f"{name}.png"))

    urls = check_every_page(narrow, PATIENT_START, origin, check)

    assert {"/home", "/app/checkin", "/offline"} <= {urlsplit(u).path for u in urls}
    assert any(urlsplit(u).path.startswith("/sessions/") for u in urls), "a session page was found"
    assert problems == []


@pytest.mark.parametrize(("person", "home"), [(THERAPIST, "/clinic"), (ADMIN, "/admin")])
def test_every_therapist_and_admin_page_is_accessible(context: BrowserContext, person: object, home: str) -> None:
    page = context.new_page()
    sign_in(page, person.email)  # type: ignore[attr-defined]
    origin = page.evaluate("() => location.origin")
    problems: list[str] = []

    def check(url: str) -> None:
        problems.extend(check_accessibility(page, url))

    urls = check_every_page(page, [home, "/account"], origin, check)

    assert len(urls) > 2, urls  # the starting pages' links were followed
    assert problems == []


def test_the_outbox_and_the_sign_out_warning_are_accessible_too(context: BrowserContext) -> None:
    page = context.new_page()
    sign_in(page)
    page.goto("/app/checkin")
    page.evaluate(
        # Invalid for the server too: replayed on reload, it stays on the phone needing attention.
        """() => self.AfterglowOutbox.put("checkin", crypto.randomUUID(), {mood: 11, note: "x"})
            .then((r) => self.AfterglowOutbox.update(r.id, r.rev,
                {state: "attention", error: "Mood must be 10 or less."}))"""
    )
    page.reload()
    page.click("form[data-signout] button")
    expect(page.locator("[data-signout-dialog]")).to_be_visible()  # the warning, not a sign-out under way
    problems = axe(page, WCAG_AA)
    page.emulate_media(color_scheme="dark")
    problems += axe(page, CONTRAST)

    assert describe(problems) == ""
