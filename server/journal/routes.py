"""The patient's home and the "Need help now?" page."""

from __future__ import annotations

import json
from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template

from server.db import Database
from server.security.auth import patients_only
from server.web import page

DEFAULT_CRISIS_LINES = [
    {"label": "988 Suicide & Crisis Lifeline (call or text)", "number": "988", "kind": "call_or_text"},
    {"label": "Emergency services", "number": "911", "kind": "call"},
]


async def crisis_lines(db: Database) -> list[dict[str, str]]:
    row = await db.fetch_one("SELECT crisis_lines FROM clinics ORDER BY id LIMIT 1")
    if row is None:
        return DEFAULT_CRISIS_LINES
    lines: list[dict[str, str]] = json.loads(row["crisis_lines"])
    return lines


class JournalPages(Controller):
    include_in_schema = False

    @get("/home", guards=[patients_only])
    async def home(self, request: Request[Any, Any, Any]) -> Template:
        return page(request, "journal/home.html")

    @get("/help")
    async def help(self, request: Request[Any, Any, Any], db: Database) -> Template:
        # Open to everyone, signed in or not: someone in crisis must never meet a sign-in page here.
        return page(request, "journal/help.html", crisis_lines=await crisis_lines(db))
