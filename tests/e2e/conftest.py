"""Browser tests: the real server in its own process on 127.0.0.1 (a secure context, so service workers
work), driven by Playwright through Debian's Chromium. Playwright's sync API cannot run inside an asyncio
loop, so these tests stay synchronous."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

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


@pytest.fixture(scope="session")
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
