"""The offline shell: what the service worker precaches, and the version that names its cache.

Only PHI-free things are in the shell: static files, the manifest, and pages rendered for nobody in
particular (the offline page, the empty entry forms, the help page with the clinic's crisis numbers).
The version is a hash of everything that shapes those files, computed once at start-up: change any of
them and browsers install a new worker, which shows the "update available" prompt.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PWA_DIR = ROOT.parent / "pwa"
TEMPLATES_DIR = ROOT / "templates"

# Pages the worker keeps for offline use. Each must be PHI-free, and is served `Cache-Control: no-cache`.
SHELL_PAGES = (
    "/offline",
    "/app/checkin",
    "/app/reflect",
    "/app/reflect/quick_capture",
    "/app/reflect/intention",
    "/app/reflect/integration",
    "/help",
)
# Static files of the patient's app, relative to pwa/ (served under /static/). clinic.css is not the
# patient's and stays out.
SHELL_STATIC = (
    "app.css",
    "icon.svg",
    "js/api.js",
    "js/app.js",
    "js/outbox-core.js",
    "js/outbox-ui.js",
    "js/forms.js",
    "js/reflect.js",
    "js/push.js",
    "js/timezone.js",
    "icons/icon-192.png",
    "icons/icon-512.png",
    "icons/maskable-512.png",
    "icons/apple-touch-icon.png",
)
# Templates that shape the shell pages: part of the version, so a changed page is a new shell.
SHELL_TEMPLATES = (
    "base.html",
    "_forms.html",
    "pwa/offline.html",
    "pwa/checkin.html",
    "journal/_checkin_form.html",
    "journal/reflect.html",
    "journal/help.html",
)
WORKER_FILE = PWA_DIR / "sw.js"


def shell_urls() -> list[str]:
    return [*SHELL_PAGES, "/manifest.webmanifest", *(f"/static/{name}" for name in SHELL_STATIC)]


def shell_files() -> list[Path]:
    return [WORKER_FILE, *(PWA_DIR / n for n in SHELL_STATIC), *(TEMPLATES_DIR / n for n in SHELL_TEMPLATES)]


def fingerprint(files: list[Path], manifest: str) -> str:
    """A short hash of the files' names and contents and the manifest."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(manifest.encode())
    return digest.hexdigest()[:16]


@functools.cache
def version(manifest: str) -> str:
    """The shell's version, computed once per process (at the first request for the worker)."""
    return fingerprint(shell_files(), manifest)


def worker_script(manifest: str) -> str:
    """The service worker: its configuration on the first line, then pwa/sw.js as written."""
    config = {"version": version(manifest), "urls": shell_urls(), "pages": list(SHELL_PAGES)}
    return f"const SHELL = {json.dumps(config)};\n" + WORKER_FILE.read_text(encoding="utf-8")
