"""Sign-in throttling, counted in the database so that every worker process sees the same attempts.

Two counters: per account (stops guessing one person's password) and per client address (stops
spraying one common password across many accounts). Either reaching the limit answers 429.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import aiosqlite

from server.clock import iso, parse_iso
from server.db import Database

MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)


async def retry_after(db: Database, *, email: str, client_address: str, now: datetime) -> int | None:
    """Seconds until another attempt is allowed, or None if the caller may try now."""
    since = iso(now - WINDOW)
    waits = []
    for column, value in (("email", email), ("client_address", client_address)):
        rows = await db.fetch_all(
            f"SELECT at FROM login_failures WHERE {column} = ? AND at > ? ORDER BY at DESC LIMIT ?",  # noqa: S608
            (value, since, MAX_FAILURES),
        )
        if len(rows) >= MAX_FAILURES:
            # Allowed again once the oldest of the last MAX_FAILURES failures leaves the window.
            oldest = parse_iso(rows[-1]["at"])
            waits.append(math.ceil((oldest + WINDOW - now).total_seconds()))
    return max(1, max(waits)) if waits else None


async def record_failure(conn: aiosqlite.Connection, *, email: str, client_address: str, now: datetime) -> None:
    await conn.execute(
        "INSERT INTO login_failures (email, client_address, at) VALUES (?, ?, ?)",
        (email, client_address, iso(now)),
    )
    # Keep the table small: nothing older than the window matters any more.
    await conn.execute("DELETE FROM login_failures WHERE at <= ?", (iso(now - WINDOW),))


async def clear_failures(conn: aiosqlite.Connection, *, email: str) -> None:
    await conn.execute("DELETE FROM login_failures WHERE email = ?", (email,))
