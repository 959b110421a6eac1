"""Measure the offline shell's size, and how the patient's Today page (/home) loads on a phone: cold, warm and
offline, with no throttling and with CPU slowed 4x on an emulated slow mobile network, in the test browser
(Debian's Chromium through Playwright). On demand, not part of the suite:

    .venv/bin/python -m tests.e2e.measure_shell [--runs 5] [--profiles none,slow4g,3g]

Starts its own demo server on 127.0.0.1 (a temporary ./var/). For each profile and run, a fresh browser context
signs in through the API (no page of the app seen yet) and opens /home three times:
- cold: nothing cached and no service worker yet (the worker installs during this visit);
- warm: the worker installed and the shell in its cache (/home itself is never cached: the worker fetches it);
- offline: the network cut; /home is answered by the worker with the offline page from its cache.
Times are the page's own: First Contentful Paint (Paint Timing), DOMContentLoaded and the end of the load event
(Navigation Timing), from the start of the navigation; medians of the runs, min-max beside them.
Bytes are what crossed the wire (gzip bodies plus response headers, CDP Network.loadingFinished
encodedDataLength), by type, for the page's own requests and, separately, the service worker's (its
install-time precache on the cold visit, its network-first fetch of /home on the warm one).

Profiles (Chrome DevTools' presets, front_end/core/sdk/NetworkManager.ts):
- none:   no throttling, CPU 1x: the baseline measured in the same run;
- slow4g: "Slow 4G" (called "Fast 3G" before May 2024): 562.5 ms latency (150 ms x 3.75), 1.6 Mbit/s x 0.9
          down (180,000 B/s), 750 kbit/s x 0.9 up (84,375 B/s); CPU 4x slower;
- 3g:     "3G" (formerly "Slow 3G"): 2,000 ms latency (400 ms x 5), 500 kbit/s x 0.8 (50,000 B/s) down and up;
          CPU 4x slower.
Limits of the emulation: DevTools adds the latency once per request (no TCP handshakes, no slow start), and
throttles each target on its own link, so the page and the worker's precache do not share bandwidth on the
cold visit. The network conditions are set on the page and, through auto-attach, on the worker (whose fetch
of /home is what the warm visit waits for); CPU throttling exists for pages only, so the worker runs at full
speed. The worker script itself (/sw.js) is fetched by the browser outside both and is not counted.
Absolute numbers drift on a shared machine: compare with the unthrottled baseline of the same run.
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
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import BrowserContext, CDPSession, Page, sync_playwright

from server.demo import DEMO_PASSWORD, PATIENTS
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, WAIT_FOR_CONTROLLER

PROFILES: dict[str, dict[str, Any]] = {
    "none": {"label": "no throttling", "cpu": 1, "network": None},
    "slow4g": {
        "label": "Slow 4G, CPU 4x",
        "cpu": 4,
        "network": {"latency": 150 * 3.75, "downloadThroughput": 1.6e6 / 8 * 0.9, "uploadThroughput": 750e3 / 8 * 0.9},
    },
    "3g": {
        "label": "3G (Slow 3G), CPU 4x",
        "cpu": 4,
        "network": {"latency": 400 * 5, "downloadThroughput": 500e3 / 8 * 0.8, "uploadThroughput": 500e3 / 8 * 0.8},
    },
}
VISITS = ("cold", "warm", "offline")
KINDS = ("document", "css", "js", "other")

# Waits for the end of the load event and for the first contentful paint (the page's CSP forbids eval, so
# this is a function, not a string for wait_for_function). A page that never paints content reports null.
TIMINGS = """async () => {
    const nav = () => performance.getEntriesByType("navigation")[0];
    while (!(nav() && nav().loadEventEnd > 0)) await new Promise((resolve) => setTimeout(resolve, 10));
    const fcp = await new Promise((resolve) => {
        new PerformanceObserver((list) => {
            const entry = list.getEntries().find((e) => e.name === "first-contentful-paint");
            if (entry) resolve(entry.startTime);
        }).observe({type: "paint", buffered: true});
        setTimeout(() => resolve(null), 10000);
    });
    const n = nav();
    return {fcp, dcl: n.domContentLoadedEventEnd - n.startTime, load: n.loadEventEnd - n.startTime};
}"""


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


def kind_of(mime_type: str) -> str:
    if mime_type == "text/html":
        return "document"
    if mime_type == "text/css":
        return "css"
    if "javascript" in mime_type or "ecmascript" in mime_type:
        return "js"
    return "other"


@dataclass
class Wire:
    """Bytes received per request of one target, from CDP's Network events."""

    kinds: dict[str, str] = field(default_factory=dict)
    not_wire: set[str] = field(default_factory=set)  # answered by the worker or the memory cache
    received: dict[str, int] = field(default_factory=dict)

    def on_event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Network.responseReceived":
            response = params["response"]
            self.kinds[params["requestId"]] = kind_of(response.get("mimeType", ""))
            if response.get("fromServiceWorker"):
                self.not_wire.add(params["requestId"])
        elif method == "Network.requestServedFromCache":
            self.not_wire.add(params["requestId"])
        elif method == "Network.loadingFinished":
            self.received[params["requestId"]] = int(params["encodedDataLength"])

    def by_kind(self) -> dict[str, int]:
        totals = dict.fromkeys(KINDS, 0)
        for request_id, size in self.received.items():
            if request_id in self.kinds and request_id not in self.not_wire:
                totals[self.kinds[request_id]] += size
        return totals

    def clear(self) -> None:
        self.kinds.clear()
        self.not_wire.clear()
        self.received.clear()


class PhoneEmulation:
    """CPU and network throttling on a page and on the service worker it starts, with the bytes each receives.

    The worker is a target of its own: the page's CDP session auto-attaches to it (not flattened, so that
    Playwright's session object can talk to it through Target.sendMessageToTarget), holding it before its
    first line runs, so its install-time fetches are throttled and counted too."""

    def __init__(self, context: BrowserContext, page: Page, profile: dict[str, Any]) -> None:
        self.cdp: CDPSession = context.new_cdp_session(page)
        self.network = profile["network"]
        self.page_wire = Wire()
        self.worker_wire = Wire()
        self.workers: list[str] = []
        self.next_id = 0
        for method in ("Network.responseReceived", "Network.requestServedFromCache", "Network.loadingFinished"):
            self.cdp.on(method, lambda params, method=method: self.page_wire.on_event(method, params))
        self.cdp.on("Target.attachedToTarget", self._attached)
        self.cdp.on("Target.receivedMessageFromTarget", self._from_target)
        self.cdp.send("Network.enable")
        self.cdp.send("Emulation.setCPUThrottlingRate", {"rate": profile["cpu"]})
        if self.network:
            self.cdp.send("Network.emulateNetworkConditions", {"offline": False, **self.network})
        self.cdp.send("Target.setAutoAttach", {"autoAttach": True, "waitForDebuggerOnStart": True, "flatten": False})

    def _to_target(self, session_id: str, method: str, params: dict[str, Any] | None = None) -> None:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        self.cdp.send("Target.sendMessageToTarget", {"sessionId": session_id, "message": json.dumps(message)})

    def _attached(self, event: dict[str, Any]) -> None:
        session_id = event["sessionId"]
        if event["targetInfo"]["type"] == "service_worker":
            self.workers.append(session_id)
            self._to_target(session_id, "Network.enable")
            if self.network:
                self._to_target(session_id, "Network.emulateNetworkConditions", {"offline": False, **self.network})
        self._to_target(session_id, "Runtime.runIfWaitingForDebugger")

    def _from_target(self, event: dict[str, Any]) -> None:
        if event["sessionId"] in self.workers:
            message = json.loads(event["message"])
            if "method" in message:
                self.worker_wire.on_event(message["method"], message["params"])

    def go_offline(self, context: BrowserContext) -> None:
        context.set_offline(True)
        offline = {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
        self.cdp.send("Network.emulateNetworkConditions", offline)
        for session_id in self.workers:
            self._to_target(session_id, "Network.emulateNetworkConditions", offline)

    def clear(self) -> None:
        self.page_wire.clear()
        self.worker_wire.clear()


def visit(page: Page, emulation: PhoneEmulation, *, until_controlled: bool = False) -> dict[str, Any]:
    """Open /home; its timings, then (once every request it started is over) its bytes."""
    emulation.clear()
    page.goto("/home", wait_until="load")
    timings: dict[str, Any] = page.evaluate(TIMINGS)
    if until_controlled:
        page.evaluate(WAIT_FOR_CONTROLLER)  # the worker has installed: its precache is over
    page.wait_for_load_state("networkidle")
    return {**timings, "page": emulation.page_wire.by_kind(), "worker": emulation.worker_wire.by_kind()}


def measure(browser: Any, url: str, profile: dict[str, Any], runs: int) -> dict[str, list[dict[str, Any]]]:
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in VISITS}
    for _ in range(runs):
        context = browser.new_context(base_url=url, viewport={"width": 390, "height": 844})
        sign_in(context)
        page = context.new_page()
        emulation = PhoneEmulation(context, page, profile)
        results["cold"].append(visit(page, emulation, until_controlled=True))
        visit(page, emulation)  # once, so the worker and the HTTP cache have settled
        results["warm"].append(visit(page, emulation))
        emulation.go_offline(context)
        offline = visit(page, emulation)
        assert page.locator("h1").first.inner_text() == "You're offline", "the worker's offline page"
        results["offline"].append(offline)
        context.close()
    return results


def median_range(values: Iterable[float | None]) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return "-"
    return f"{statistics.median(present):6.0f} ({min(present):.0f}-{max(present):.0f})"


def report(sizes: dict[str, dict[str, int]], measured: dict[str, dict[str, list[dict[str, Any]]]], runs: int) -> str:
    lines = ["shell (everything the worker precaches, plus the worker itself), gzip -9 computed here:"]
    for kind, entry in sorted(sizes.items()):
        lines.append(f"  {kind:9} {entry['files']:2} files  {entry['raw']:7} bytes  {entry['gzip']:7} gzip")
    lines += ["", f"patient home (/home), ms from the start of the navigation, median of {runs} runs (min-max):"]
    lines.append(f"  {'profile':22} {'visit':8} {'FCP':>17} {'DOMContentLoaded':>17} {'load end':>17}")
    for name, results in measured.items():
        for visit_name in VISITS:
            row = results[visit_name]
            lines.append(
                f"  {PROFILES[name]['label']:22} {visit_name:8} {median_range(r['fcp'] for r in row):>17} "
                f"{median_range(r['dcl'] for r in row):>17} {median_range(r['load'] for r in row):>17}"
            )
    lines += ["", "bytes on the wire (gzip bodies + response headers), median of the runs, by who fetched them:"]
    lines.append(f"  {'profile':22} {'visit':8} {'by':6} " + " ".join(f"{k:>8}" for k in (*KINDS, "total")))
    for name, results in measured.items():
        for visit_name in VISITS:
            for source in ("page", "worker"):
                row = [r[source] for r in results[visit_name]]
                medians = [int(statistics.median(r[kind] for r in row)) for kind in KINDS]
                total = int(statistics.median(sum(r.values()) for r in row))
                lines.append(
                    f"  {PROFILES[name]['label']:22} {visit_name:8} {source:6} "
                    + " ".join(f"{v:8}" for v in (*medians, total))
                )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profiles", default=",".join(PROFILES), help=f"some of {', '.join(PROFILES)}")
    args = parser.parse_args()
    names = [n.strip() for n in args.profiles.split(",") if n.strip()]
    unknown = set(names) - set(PROFILES)
    if unknown:
        parser.error(f"unknown profiles: {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory() as tmp:
        process, url = start_server(Path(tmp))
        try:
            sizes = shell_sizes(url)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                measured = {name: measure(browser, url, PROFILES[name], args.runs) for name in names}
                browser.close()
        finally:
            process.terminate()
            process.wait(timeout=10)
    print(report(sizes, measured, args.runs))


if __name__ == "__main__":
    main()
