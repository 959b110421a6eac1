"""Server-side sessions in the database.

The cookie holds 256 random bits; the table holds their SHA-256, so a stolen database copy does not
sign anyone in. A new id is issued at every sign-in (never one that arrived in a cookie), and expiry is
checked here on the server: an idle limit and an absolute lifetime, both per role.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from typing import Any

import aiosqlite
import msgspec

from server.clock import iso
from server.db import Database
from server.security.tokens import new_token, token_hash

SESSION_COOKIE = "afterglow_session"

IDLE_LIMIT = {
    "admin": timedelta(minutes=30),
    "therapist": timedelta(minutes=30),
    "patient": timedelta(days=30),
}
ABSOLUTE_LIMIT = {
    "admin": timedelta(hours=12),
    "therapist": timedelta(hours=12),
    "patient": timedelta(days=90),
}
# Refreshing last_seen_at costs a write; once a minute is precise enough for a 30-minute idle limit.
TOUCH_INTERVAL = timedelta(minutes=1)
# Between a right password and the second factor: long enough to open an authenticator app.
MFA_STAGE_LIMIT = timedelta(minutes=10)
FULL, MFA_PENDING, ENROL_PENDING = "full", "mfa", "enrol"


class CurrentUser(msgspec.Struct, frozen=True):
    id: str
    clinic_id: int
    role: str
    email: str
    display_name: str
    timezone: str
    session_hash: str
    stage: str = FULL

    @property
    def is_clinician(self) -> bool:
        return self.role in {"therapist", "admin"}


async def create_session(
    conn: aiosqlite.Connection,
    *,
    user_id: str,
    role: str,
    now: datetime,
    client_address: str,
    user_agent: str,
    stage: str = FULL,
) -> str:
    """Insert a session inside the caller's write transaction; returns the id for the cookie."""
    session_id = new_token()
    lifetime = MFA_STAGE_LIMIT if stage == MFA_PENDING else ABSOLUTE_LIMIT[role]
    await conn.execute(
        "INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, expires_at, client_address,"
        " user_agent, stage, public_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            token_hash(session_id),
            user_id,
            iso(now),
            iso(now),
            iso(now + lifetime),
            client_address,
            user_agent[:300],
            stage,
            new_token()[:16],
        ),
    )
    return session_id


async def load_session(db: Database, session_id: str, now: datetime) -> CurrentUser | None:
    """The signed-in user for a cookie value, or None if the session is unknown, expired or disabled."""
    id_hash = token_hash(session_id)
    # Read on every request, so a revoked session is refused at once in every worker process. It is a
    # primary-key lookup: done on the event loop's thread (Database.lookup), where it costs less than a hop.
    row = await db.lookup(
        "SELECT s.last_seen_at, s.expires_at, s.stage, u.id, u.clinic_id, u.role, u.email, u.display_name,"
        " u.timezone, u.disabled_at FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = ?",
        (id_hash,),
    )
    if row is None:
        return None
    # Stored times are fixed-width UTC text (clock.iso), so they compare as strings: no parsing per request.
    last_seen = row["last_seen_at"]
    expired = iso(now) >= row["expires_at"] or iso(now - IDLE_LIMIT[row["role"]]) >= last_seen
    # Both writes are single statements: one call on the writer's thread each, group-committed.
    if expired or row["disabled_at"] is not None:
        await db.write(_execute, "DELETE FROM sessions WHERE id_hash = ?", (id_hash,))
        return None
    if iso(now - TOUCH_INTERVAL) >= last_seen:
        await db.write(_execute, "UPDATE sessions SET last_seen_at = ? WHERE id_hash = ?", (iso(now), id_hash))
    return CurrentUser(
        id=row["id"],
        clinic_id=row["clinic_id"],
        role=row["role"],
        email=row["email"],
        display_name=row["display_name"],
        timezone=row["timezone"],
        session_hash=id_hash,
        stage=row["stage"],
    )


async def end_expired_sessions(db: Database, now: datetime) -> None:
    """Delete the sign-ins ``load_session`` would refuse (past their absolute or idle limit), so that what
    hangs on them goes too: a phone whose sign-in lapsed stops getting reminders (push_subscriptions
    cascade), though its cookie never comes back to be refused."""
    idle = " ".join(f"WHEN '{role}' THEN '{iso(now - limit)}'" for role, limit in IDLE_LIMIT.items())
    sql = (
        "DELETE FROM sessions WHERE expires_at <= ? OR last_seen_at <="  # noqa: S608 - roles and times we made
        f" (SELECT CASE u.role {idle} END FROM users u WHERE u.id = sessions.user_id)"
    )
    await db.write(_execute, sql, (iso(now),))


def _execute(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> None:
    conn.execute(sql, params).close()


async def end_session(conn: aiosqlite.Connection, session_hash: str) -> None:
    await conn.execute("DELETE FROM sessions WHERE id_hash = ?", (session_hash,))


async def end_all_sessions(conn: aiosqlite.Connection, user_id: str) -> None:
    await conn.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))


async def end_other_sessions(conn: aiosqlite.Connection, user_id: str, keep_hash: str) -> int:
    cursor = await conn.execute("DELETE FROM sessions WHERE user_id = ? AND id_hash != ?", (user_id, keep_hash))
    return cursor.rowcount


async def end_session_by_public_id(conn: aiosqlite.Connection, user_id: str, public_id: str) -> bool:
    cursor = await conn.execute("DELETE FROM sessions WHERE user_id = ? AND public_id = ?", (user_id, public_id))
    return cursor.rowcount == 1


async def sessions_of(db: Database, user_id: str, now: datetime) -> list[sqlite3.Row]:
    return await db.fetch_all(
        "SELECT id_hash, public_id, created_at, last_seen_at, client_address, user_agent FROM sessions"
        " WHERE user_id = ? AND stage = 'full' AND expires_at > ? ORDER BY last_seen_at DESC",
        (user_id, iso(now)),
    )
