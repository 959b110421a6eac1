"""Routes of the installable web app: the manifest and service worker at the site root, and the PHI-free
pages of the offline shell (the offline page and the empty entry forms)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import msgspec
from litestar import Controller, Response, get
from litestar.exceptions import NotFoundException
from litestar.response import Template

from server.db import Database
from server.journal import service as journal
from server.journal.routes import ACTIVITY_TAGS, EMOTION_TAGS, REFLECTION_TITLES
from server.pwa import shell

# Revalidated on every use, but storable: the service worker refuses anything marked no-store.
REVALIDATE = {"Cache-Control": "no-cache"}

MANIFEST: dict[str, Any] = {
    "id": "/home",
    "name": "Afterglow: integration journal",
    "short_name": "Afterglow",
    "description": "Check in, set intentions and reflect between sessions; shared with your care team as you choose.",
    "lang": "en",
    "dir": "ltr",
    "start_url": "/home",
    "scope": "/",
    "display": "standalone",
    "background_color": "#fbf8f4",
    "theme_color": "#8a4b14",
    "categories": ["health", "medical", "lifestyle"],
    "icons": [
        {"src": "/static/icons/icon-192.png", "sizes": "192x192", "type": "image/png", "purpose": "any"},
        {"src": "/static/icons/icon-512.png", "sizes": "512x512", "type": "image/png", "purpose": "any"},
        {"src": "/static/icons/maskable-512.png", "sizes": "512x512", "type": "image/png", "purpose": "maskable"},
    ],
    "shortcuts": [
        {
            "name": "Check in",
            "short_name": "Check in",
            "description": "How are you right now?",
            "url": "/app/checkin",
            "icons": [{"src": "/static/icons/icon-192.png", "sizes": "192x192", "type": "image/png"}],
        },
        {
            "name": "Reflect",
            "short_name": "Reflect",
            "description": "Write a reflection",
            "url": "/app/reflect",
            "icons": [{"src": "/static/icons/icon-192.png", "sizes": "192x192", "type": "image/png"}],
        },
    ],
}
MANIFEST_TEXT = json.dumps(MANIFEST, indent=1)


def shell_page(template: str, **context: Any) -> Template:
    """A page of the offline shell: rendered for nobody in particular (no user, no patient data), so that
    the same copy can be kept on the phone and shown to whoever is signed in."""
    return Template(template_name=template, context={"user": None, "shell": True, **context}, headers=REVALIDATE)


class AppShell(Controller):
    include_in_schema = False

    @get("/sw.js")
    async def service_worker(self) -> Response[str]:
        # At the root, so its scope is the whole site. no-cache: browsers check for a new one on every visit.
        return Response(
            shell.worker_script(MANIFEST_TEXT),
            media_type="text/javascript; charset=utf-8",
            headers=REVALIDATE,
        )

    @get("/manifest.webmanifest")
    async def manifest(self) -> Response[str]:
        return Response(MANIFEST_TEXT, media_type="application/manifest+json", headers=REVALIDATE)

    @get("/offline")
    async def offline(self, db: Database) -> Template:
        # The clinic's crisis numbers are clinic data, not patient data: the offline page shows them too.
        lines = [msgspec.to_builtins(line) for line in await journal.crisis_lines(db)]
        return shell_page("pwa/offline.html", crisis_lines=lines)

    @get("/app/checkin")
    async def checkin(self) -> Template:
        return shell_page(
            "pwa/checkin.html",
            entry_id=str(uuid.uuid4()),  # for the form without JavaScript; the page's script makes its own
            emotion_tags=EMOTION_TAGS,
            activity_tags=ACTIVITY_TAGS,
        )

    @get("/app/reflect")
    async def reflect_free(self, db: Database) -> Template:
        return await self._reflect(db, "free")

    @get("/app/reflect/{kind:str}")
    async def reflect(self, db: Database, kind: str) -> Template:
        if kind not in REFLECTION_TITLES or kind == "free":
            raise NotFoundException("No such kind of reflection.")
        return await self._reflect(db, kind)

    async def _reflect(self, db: Database, kind: str) -> Template:
        return shell_page(
            "journal/reflect.html",
            kind=kind,
            kinds=REFLECTION_TITLES,
            title=REFLECTION_TITLES[kind],
            entry_id=str(uuid.uuid4()),
            existing=None,
            session_id="",
            prompts=await journal.prompts_for(db, kind, None),  # the clinic's prompts, not anyone's answers
            answers={},
            prefs=None,
            error=None,
        )


# Registered by server.app; a feature adds its controllers here and nowhere else.
ROUTES: list[Any] = [AppShell]
