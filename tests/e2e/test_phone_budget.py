"""The patient's app on a phone: what the first visit to Today costs on the wire, what holds up its first
paint, and that every patient page answers a repeat visit offline from the service worker.

Bytes, counts and which page answers are deterministic; load times are not, so they are measured on
demand by tests/e2e/measure_shell.py (CPU slowed 4x, a slow mobile network) and never asserted here.
"""

from __future__ import annotations

import re
from html import unescape
from typing import Any
from urllib.parse import urlsplit

from litestar.config.compression import CompressionConfig
from playwright.sync_api import BrowserContext, CDPSession, Error, Page

from server.demo import DEMO_PASSWORD
from server.journal.routes import REFLECTION_TITLES
from server.measures.instruments import INSTRUMENTS
from server.pwa.shell import SHELL_PAGES
from tests.e2e.conftest import PATIENT_EMAIL, sign_in, wait_until_controlled

# HTML + CSS + JS of the first visit to /home, gzip, as it crosses the wire (response headers included).
# The page's own requests only: what the worker then fetches to install the shell is its own target and
# not counted here (measure_shell.py reports it; tests/bench/results-phone.md).
BUDGET_BYTES = 60 * 1024
# Litestar leaves bodies shorter than this uncompressed (gzip would make them longer): not a regression.
GZIP_MINIMUM = CompressionConfig(backend="gzip").minimum_size
OFFLINE_H1 = "You're offline"


class Wire:
    """Every response the page receives, as Chromium's network stack reports it (CDP), by request id."""

    def __init__(self, cdp: CDPSession) -> None:
        self.responses: dict[str, dict[str, Any]] = {}
        self.finished: dict[str, int] = {}
        cdp.on("Network.responseReceived", self._response)
        cdp.on("Network.loadingFinished", self._finished)
        cdp.send("Network.enable")

    def _response(self, event: dict[str, Any]) -> None:
        response = event["response"]
        self.responses[event["requestId"]] = {
            "type": event["type"],
            "path": urlsplit(response["url"]).path,
            "status": response["status"],
            "headers": {name.lower(): value for name, value in response["headers"].items()},
            "from_worker": response.get("fromServiceWorker", False),
            "from_cache": response.get("fromDiskCache", False) or response.get("fromPrefetchCache", False),
        }

    def _finished(self, event: dict[str, Any]) -> None:
        # encodedDataLength at loadingFinished is every byte received for the request over HTTP/1.1:
        # the response headers *and* the (gzip) body. The budget below counts both.
        self.finished[event["requestId"]] = int(event["encodedDataLength"])

    def of_type(self, *types: str) -> list[dict[str, Any]]:
        return [
            {**response, "bytes": self.finished.get(request_id)}
            for request_id, response in self.responses.items()
            if response["type"] in types
        ]


def sign_in_without_loading_a_page(context: BrowserContext) -> None:
    """Through the API, so that the browser has no page of the app in its HTTP cache and no worker yet."""
    context.request.get("/healthz")
    token = next(c["value"] for c in context.cookies() if c["name"] == "afterglow_csrf")
    response = context.request.post(
        "/api/v1/auth/login", data={"email": PATIENT_EMAIL, "password": DEMO_PASSWORD}, headers={"X-CSRFToken": token}
    )
    assert response.ok, response.status


def first_visit_to_home(context: BrowserContext) -> tuple[Page, Wire]:
    """A fresh browser context (empty cache, no worker), signed in, opens Today."""
    sign_in_without_loading_a_page(context)
    page = context.new_page()
    wire = Wire(context.new_cdp_session(page))
    page.goto("/home", wait_until="load")
    # No worker had a hand in this navigation (one may take control a moment later, once installed).
    assert page.evaluate("() => performance.getEntriesByType('navigation')[0].workerStart") == 0
    return page, wire


def test_the_first_visit_to_home_fits_the_budget_compressed(context: BrowserContext) -> None:
    page, wire = first_visit_to_home(context)
    wait_until_controlled(page)  # the visit is over (worker installed): every request it made has finished

    [document] = wire.of_type("Document")
    styles = wire.of_type("Stylesheet")
    scripts = wire.of_type("Script")
    counted = [document, *styles, *scripts]
    assert document["path"] == "/home" and document["status"] == 200
    assert [s["path"] for s in styles] == ["/static/app.css"]
    assert scripts, "the page's modules were loaded"
    # Really from the network: nothing came from the HTTP cache or a worker, and every transfer finished.
    assert not [r["path"] for r in counted if r["from_worker"] or r["from_cache"] or r["bytes"] is None]
    uncompressed = [
        r["path"]
        for r in counted
        if r["headers"].get("content-encoding") != "gzip"
        and int(r["headers"].get("content-length", GZIP_MINIMUM)) >= GZIP_MINIMUM
    ]
    assert uncompressed == []
    total = sum(r["bytes"] for r in counted)
    itemised = {r["path"]: r["bytes"] for r in counted}
    assert total <= BUDGET_BYTES, f"{total} bytes on the wire for /home's first visit: {itemised}"
    # No web fonts: none requested, and no @font-face for the page to request later.
    assert wire.of_type("Font") == []
    assert page.evaluate("() => document.fonts.size") == 0


def test_the_one_render_blocking_request_besides_the_document_is_the_stylesheet(context: BrowserContext) -> None:
    page, _ = first_visit_to_home(context)

    stylesheets = page.evaluate(
        """() => [...document.querySelectorAll("link[rel~=stylesheet i]")].map((link) =>
            ({path: new URL(link.href).pathname, inHead: link.parentElement === document.head, media: link.media}))"""
    )
    assert stylesheets == [{"path": "/static/app.css", "inHead": True, "media": ""}]
    parser_blocking = page.evaluate(
        r"""() => [...document.scripts]
            .filter((s) => (!s.type || /^(text|application)\/(java|ecma)script$/i.test(s.type)) && !s.defer && !s.async)
            .map((s) => s.src || s.textContent.slice(0, 60))"""
    )
    assert parser_blocking == []  # no classic script without defer/async, external or inline (data blocks pass)
    assert page.evaluate("() => document.querySelectorAll('script[type=module][src]').length") >= 1
    # The browser's own account (Resource Timing's renderBlockingStatus) agrees, @import included.
    blocking = page.evaluate(
        """() => performance.getEntriesByType("resource")
            .filter((e) => e.renderBlockingStatus === "blocking").map((e) => new URL(e.name).pathname)"""
    )
    assert blocking == ["/static/app.css"]


def test_every_module_of_the_app_is_preloaded_with_the_stylesheet(context: BrowserContext) -> None:
    """Without the preloads, each level of imports costs one more round trip before the page is ready."""
    page, _ = first_visit_to_home(context)

    preloaded = page.evaluate(
        "() => [...document.querySelectorAll('head link[rel=modulepreload]')].map((l) => new URL(l.href).pathname)"
    )
    loaded = page.evaluate(
        """() => performance.getEntriesByType("resource").map((e) => new URL(e.name).pathname)
            .filter((path) => path.endsWith(".js"))"""
    )
    assert loaded and set(loaded) <= set(preloaded), (loaded, preloaded)


def patient_pages(page: Page) -> list[str]:
    """Every page a signed-in patient can open (server/journal/routes.py, server/pwa/routes.py, the
    reminders and account pages), with one real session and entry of the demo patient for the pages of one."""
    page.goto("/sessions")
    session_path = page.locator("main a[href^='/sessions/']").first.get_attribute("href")
    page.goto("/history")
    entry_path = page.locator("main a[href^='/entries/']").first.get_attribute("href")
    assert session_path and entry_path, "the demo patient has sessions and entries"
    return [
        "/home",
        *SHELL_PAGES,  # the offline page, the shell's empty forms (/app/...) and help
        *(f"/reflect/{kind}" for kind in REFLECTION_TITLES),
        f"/reflect/intention?session={session_path.rsplit('/', 1)[1]}",
        "/sessions",
        session_path,
        f"/aftercare?session={session_path.rsplit('/', 1)[1]}",
        "/questionnaires",
        *(f"/questionnaires/{instrument}" for instrument in INSTRUMENTS),
        "/history",
        entry_path,
        "/safety-plan",
        "/settings",
        "/settings/reminders",
        "/account",
    ]


def h1_of(page: Page) -> str | None:
    heading: str | None = page.evaluate("() => document.querySelector('h1')?.textContent ?? null")
    return " ".join(heading.split()) if heading is not None else None


def h1_in(html: str) -> str | None:
    found = re.search(r"<h1[^>]*>(.*?)</h1>", html, re.DOTALL)
    return " ".join(unescape(re.sub(r"<[^>]+>", "", found[1])).split()) if found else None


def test_every_patient_page_answers_a_repeat_visit_offline_from_the_worker(context: BrowserContext) -> None:
    page = context.new_page()
    sign_in(page)  # Today, and the worker installs: the visits below are repeat visits
    wait_until_controlled(page)
    pages = patient_pages(page)
    nav = page.evaluate("() => [...document.querySelectorAll('nav[aria-label=Main] a')].map((a) => a.pathname)")
    assert set(nav) <= set(pages), "a page in the patient's menu is missing from this test's list"
    online: dict[str, str | None] = {}
    for url in pages:  # each is a real page of the signed-in patient (a typo would pass offline unnoticed)
        fetched = context.request.get(url, max_redirects=0)
        assert fetched.status == 200 and fetched.headers["content-type"].startswith("text/html"), url
        online[url] = h1_in(fetched.text())

    context.set_offline(True)
    problems = []
    for url in pages:
        try:
            response = page.goto(url, wait_until="domcontentloaded")
        except Error as exc:  # the browser's own error page: nothing answered
            problems.append(f"{url}: {exc.message.splitlines()[0]}")
            continue
        # A page of the shell comes back as itself, and a new reflection as the shell's empty form; any other,
        # with patient data and never cached, as the offline page (it lists what is waiting on the phone and
        # links to the shell's forms).
        path = urlsplit(url).path
        expected = online[url] if path in SHELL_PAGES or path.startswith("/reflect/") else OFFLINE_H1
        if response is None or response.status != 200 or not response.from_service_worker:
            problems.append(f"{url}: {response and response.status}, not from the service worker")
        elif h1_of(page) != expected:
            problems.append(f"{url}: shows {h1_of(page)!r}, expected {expected!r}")
        elif path.startswith("/reflect/") and "session=" in url:  # the shell's form keeps the session
            field = page.locator(".reflect-form [name=kap_session_id]")
            if field.count() != 1 or field.get_attribute("value") != url.rsplit("=", 1)[1]:
                problems.append(f"{url}: the offline form lost its session")
    assert problems == []
