"""Measure the offline shell's size and how long the patient's Today page takes to load, cold, warm and
offline, in the test browser (Debian's Chromium through Playwright). On demand, not part of the suite:

    .venv/bin/python -m tests.e2e.measure_shell [--runs 7]

Starts its own demo server on 127.0.0.1 (a temporary ./var/). Load time is the page's Navigation Timing
(start to the end of the load event), median of the runs:
- cold: a fresh browser profile, signed in, nothing cached and no service worker yet;
- warm: the service worker installed and the shell in its cache (/home itself is never cached);
- offline: the network cut; /home is answered by the worker with the offline page from its cache.
Absolute numbers drift on a shared machine: compare runs made the same way on the same machine.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import BrowserContext, Page, sync_playwright

from server.demo import DEMO_PASSWORD, PATIENTS
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, WAIT_FOR_CONTROLLER

LOAD_TIME = """() => { const n = performance.getEntriesByType("navigation")[0];
    return n.loadEventEnd > 0 ? n.loadEventEnd - n.startTime : null; }"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(var_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "AFTERGLOW_VAR_DIR": str(var_dir), "AFTERGLOW_PORT": str(port), "AFTERGLOW_HOST": "127.0.0.1"}
    subprocess.run([sys.executable, "-m", "server", "demo"], env=env, check=True, capture_output=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("the server did not start")


def shell_sizes(url: str) -> dict[str, dict[str, int]]:
    """Every file the worker precaches, by type: bytes as served, and gzipped (-9)."""
    first_line = httpx.get(f"{url}/sw.js").text.splitlines()[0]
    config = json.loads(first_line.removeprefix("const SHELL = ").rstrip(";"))
    sizes: dict[str, dict[str, int]] = {}
    worker = httpx.get(f"{url}/sw.js").content
    for path, body in [("/sw.js", worker), *((p, httpx.get(f"{url}{p}").content) for p in config["urls"])]:
        kind = (
            "js"
            if path.endswith(".js")
            else "css"
            if path.endswith(".css")
            else "images"
            if path.endswith((".png", ".svg"))
            else "manifest"
            if path.endswith(".webmanifest")
            else "html"
        )
        entry = sizes.setdefault(kind, {"files": 0, "raw": 0, "gzip": 0})
        entry["files"] += 1
        entry["raw"] += len(body)
        entry["gzip"] += len(gzip.compress(body, 9))
    return sizes


def load_ms(page: Page, url: str) -> float:
    page.goto(url, wait_until="load")
    value = page.evaluate(LOAD_TIME)
    assert value is not None
    return float(value)


def sign_in(context: BrowserContext) -> None:
    """Through the API, so that no page of the app (and no worker) has been loaded before the cold run."""
    context.request.get("/healthz")
    token = next(c["value"] for c in context.cookies() if c["name"] == "afterglow_csrf")
    response = context.request.post(
        "/api/v1/auth/login",
        data={"email": PATIENTS[0].email, "password": DEMO_PASSWORD},
        headers={"X-CSRFToken": token},
    )
    assert response.ok, response.status


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as tmp:
        process, url = start_server(Path(tmp))
        try:
            sizes = shell_sizes(url)
            cold, warm, offline = [], [], []
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                for _ in range(runs):
                    context = browser.new_context(base_url=url, viewport={"width": 390, "height": 844})
                    sign_in(context)
                    page = context.new_page()
                    cold.append(load_ms(page, "/home"))
                    page.evaluate(WAIT_FOR_CONTROLLER)
                    load_ms(page, "/home")  # once, so the worker and the HTTP cache have settled
                    warm.append(load_ms(page, "/home"))
                    context.set_offline(True)
                    offline.append(load_ms(page, "/home"))
                    context.close()
                browser.close()
        finally:
            process.terminate()
            process.wait(timeout=10)
    print("shell (everything the worker precaches, plus the worker itself):")
    for kind, entry in sorted(sizes.items()):
        print(f"  {kind:9} {entry['files']:2} files  {entry['raw']:7} bytes  {entry['gzip']:7} gzip")
    print(f"patient home load, median of {runs} (min-max), ms:")
    for name, values in (("cold", cold), ("warm", warm), ("offline", offline)):
        print(f"  {name:8} {statistics.median(values):7.0f}   ({min(values):.0f}-{max(values):.0f})")


if __name__ == "__main__":
    main()
