"""Browser tests: the real server in its own process on 127.0.0.1 (a secure context, so service workers
work), driven by Playwright through Debian's Chromium. Playwright's sync API cannot run inside an asyncio
loop, so these tests stay synchronous."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from server.db import connect_sync
from server.demo import DEMO_PASSWORD, PATIENTS

CHROMIUM = os.environ.get("AFTERGLOW_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
PATIENT_EMAIL = PATIENTS[0].email


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    def __init__(self, url: str, var_dir: Path) -> None:
        self.url = url
        self.var_dir = var_dir


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    var_dir = tmp_path_factory.mktemp("e2e-var")
    port = _free_port()
    env = {
        **os.environ,
        "AFTERGLOW_VAR_DIR": str(var_dir),
        "AFTERGLOW_PORT": str(port),
        "AFTERGLOW_HOST": "127.0.0.1",
    }
    subprocess.run([sys.executable, "-m", "server", "demo"], env=env, check=True, capture_output=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise RuntimeError("the server did not start")
        time.sleep(0.1)
    yield LiveServer(url, var_dir)
    process.terminate()
    process.wait(timeout=10)


# Per module, not per session: Playwright's sync API keeps an asyncio loop running while it is started,
# and the suite runs on two cores with whole files per worker (pytest-xdist --dist loadfile), so a
# worker's next file may be one that needs asyncio.run. Stopping Playwright after each file frees it.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser, live_server: LiveServer) -> Iterator[BrowserContext]:
    ctx = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    yield ctx
    ctx.close()


def sign_in(page: Page, email: str = PATIENT_EMAIL, password: str = DEMO_PASSWORD) -> None:
    page.goto("/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


# --- helpers for the offline app's tests (tests/e2e/test_offline.py and friends) ----------------------------
# The pages' Content-Security-Policy forbids eval, and Playwright's wait_for_function evaluates strings:
# waits here are promises evaluated in the page instead, resolved by the event they wait for.

# page.evaluate has no timeout of its own: a service worker that never takes control (its install failed)
# fails the test after 20 s instead of holding the suite for ever.
WAIT_FOR_CONTROLLER = """() => navigator.serviceWorker.controller ? true : new Promise((resolve, reject) => {
    navigator.serviceWorker.addEventListener("controllerchange", () => resolve(true));
    setTimeout(() => reject(new Error("no service worker took control within 20 s")), 20000);
})"""
CACHED_URLS = """async () => {
    const found = {};
    for (const name of await caches.keys()) {
        found[name] = (await (await caches.open(name)).keys()).map((r) => new URL(r.url).pathname);
    }
    return found;
}"""
API_PUT = """async ([url, body]) => {
    const token = (document.cookie.match(/(?:^|;\\s*)afterglow_csrf=([^;]+)/) || [])[1] || "";
    const response = await fetch(url, {method: "PUT", headers: {"Content-Type": "application/json",
        "X-CSRFToken": decodeURIComponent(token)}, body: JSON.stringify(body)});
    return {status: response.status, body: await response.json()};
}"""


def wait_until_controlled(page: Page) -> None:
    """Until the service worker controls the page (installed, so the shell is in its cache)."""
    page.evaluate(WAIT_FOR_CONTROLLER)


def cached_urls(page: Page) -> dict[str, list[str]]:
    urls: dict[str, list[str]] = page.evaluate(CACHED_URLS)
    return urls


def outbox_records(page: Page) -> list[dict[str, object]]:
    records: list[dict[str, object]] = page.evaluate("() => self.AfterglowOutbox.all()")
    return records


def api_put(page: Page, url: str, body: dict[str, object]) -> dict[str, object]:
    """A PUT from the page, as the app makes it (cookie session, CSRF header)."""
    result: dict[str, object] = page.evaluate(API_PUT, [url, body])
    return result


def server_rows(live_server: LiveServer, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
    """Read the live server's database file directly."""
    conn = connect_sync(live_server.var_dir / "afterglow.db")
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()
