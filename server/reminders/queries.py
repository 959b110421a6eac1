"""All SQL of reminders: preferences, push subscriptions, the facts that make a reminder due, and claims."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import aiosqlite

from server.db import Database

KINDS = ("checkin", "intention", "capture", "reflection", "questionnaire")
# Reminder kind -> its column in reminder_preferences.
PREFERENCE_COLUMNS = {
    "checkin": "daily_checkin",
    "intention": "session_intention",
    "capture": "session_capture",
    "reflection": "session_reflection",
    "questionnaire": "questionnaires",
}

_PATIENT = (
    "SELECT u.id AS patient_id, u.timezone, coalesce(s.reminder_time, '20:00') AS reminder_time,"
    " coalesce(p.daily_checkin, 1) AS daily_checkin, coalesce(p.session_intention, 1) AS session_intention,"
    " coalesce(p.session_capture, 1) AS session_capture, coalesce(p.session_reflection, 1) AS session_reflection,"
    " coalesce(p.questionnaires, 1) AS questionnaires, p.quiet_start, p.quiet_end"
    " FROM users u LEFT JOIN patient_settings s ON s.patient_id = u.id"
    " LEFT JOIN reminder_preferences p ON p.patient_id = u.id"
)


async def patient(db: Database, patient_id: str) -> sqlite3.Row | None:
    """The patient's zone, daily reminder time and reminder preferences (defaults where none are saved)."""
    return await db.fetch_one(f"{_PATIENT} WHERE u.id = ? AND u.role = 'patient'", (patient_id,))


async def patients_with_devices(db: Database) -> list[sqlite3.Row]:
    """Every active patient with at least one device to push to: the only ones a scheduler pass looks at."""
    return await db.fetch_all(
        f"{_PATIENT} WHERE u.role = 'patient' AND u.disabled_at IS NULL"  # noqa: S608
        " AND EXISTS (SELECT 1 FROM push_subscriptions ps WHERE ps.patient_id = u.id) ORDER BY u.id"
    )


async def save_preferences(conn: aiosqlite.Connection, patient_id: str, values: dict[str, object], now: str) -> None:
    await conn.execute(
        "INSERT INTO reminder_preferences (patient_id, daily_checkin, session_intention, session_capture,"
        " session_reflection, questionnaires, quiet_start, quiet_end, updated_at)"
        " VALUES (:patient_id, :checkin, :intention, :capture, :reflection, :questionnaire, :quiet_start,"
        " :quiet_end, :now) ON CONFLICT (patient_id) DO UPDATE SET daily_checkin = excluded.daily_checkin,"
        " session_intention = excluded.session_intention, session_capture = excluded.session_capture,"
        " session_reflection = excluded.session_reflection, questionnaires = excluded.questionnaires,"
        " quiet_start = excluded.quiet_start, quiet_end = excluded.quiet_end, updated_at = excluded.updated_at",
        {**values, "patient_id": patient_id, "now": now},
    )


# --- what makes a reminder due -----------------------------------------------------------------------


async def sessions_between(db: Database, patient_id: str, since: str, until: str) -> list[sqlite3.Row]:
    return await db.fetch_all(
        "SELECT id, scheduled_for FROM kap_sessions WHERE patient_id = ? AND cancelled_at IS NULL"
        " AND scheduled_for >= ? AND scheduled_for <= ? ORDER BY scheduled_for",
        (patient_id, since, until),
    )


async def reflections_for_sessions(db: Database, patient_id: str, session_ids: Sequence[str]) -> set[tuple[str, str]]:
    """(reflection kind, session id) for every reflection already written about these sessions."""
    if not session_ids:
        return set()
    marks = ",".join("?" for _ in session_ids)
    rows = await db.fetch_all(
        f"SELECT subkind, kap_session_id FROM entries WHERE patient_id = ? AND kind = 'reflection'"  # noqa: S608
        f" AND kap_session_id IN ({marks})",
        (patient_id, *session_ids),
    )
    return {(row["subkind"], row["kap_session_id"]) for row in rows}


async def checked_in_on(db: Database, patient_id: str, local_date: str) -> bool:
    row = await db.fetch_one(
        "SELECT 1 FROM entries WHERE patient_id = ? AND kind = 'checkin' AND local_date = ? LIMIT 1",
        (patient_id, local_date),
    )
    return row is not None


# --- claims --------------------------------------------------------------------------------------------


async def claim(
    conn: aiosqlite.Connection, patient_id: str, kind: str, occasion: str, now: str, claimed_by: str
) -> bool:
    """Claim one reminder for sending. True for exactly one caller, however many schedulers try at once."""
    cursor = await conn.execute(
        "INSERT INTO reminders_sent (patient_id, kind, occasion, claimed_at, claimed_by) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (patient_id, kind, occasion) DO NOTHING",
        (patient_id, kind, occasion, now, claimed_by),
    )
    return cursor.rowcount == 1


async def record_delivery(conn: aiosqlite.Connection, patient_id: str, kind: str, occasion: str, devices: int) -> None:
    await conn.execute(
        "UPDATE reminders_sent SET delivered = ? WHERE patient_id = ? AND kind = ? AND occasion = ?",
        (devices, patient_id, kind, occasion),
    )


# --- push subscriptions -------------------------------------------------------------------------------

SUBSCRIPTION_COLUMNS = "id, patient_id, endpoint, p256dh, auth, user_agent, created_at, last_success_at"


async def subscriptions_of(db: Database, patient_id: str) -> list[sqlite3.Row]:
    return await db.fetch_all(
        f"SELECT {SUBSCRIPTION_COLUMNS} FROM push_subscriptions WHERE patient_id = ? ORDER BY created_at",  # noqa: S608
        (patient_id,),
    )


async def subscription_by_id(conn: aiosqlite.Connection, subscription_id: str) -> sqlite3.Row | None:
    async with conn.execute(
        f"SELECT {SUBSCRIPTION_COLUMNS} FROM push_subscriptions WHERE id = ?",  # noqa: S608
        (subscription_id,),
    ) as cursor:
        row: sqlite3.Row | None = await cursor.fetchone()
        return row


async def upsert_subscription(conn: aiosqlite.Connection, values: dict[str, object]) -> None:
    """One row per endpoint. The same endpoint from a new sign-in (another person on a shared phone, say)
    moves to that sign-in and its patient: the phone only ever gets the current person's reminders."""
    await conn.execute(
        "INSERT INTO push_subscriptions (id, patient_id, session_hash, endpoint, p256dh, auth, user_agent,"
        " created_at) VALUES (:id, :patient_id, :session_hash, :endpoint, :p256dh, :auth, :user_agent, :now)"
        " ON CONFLICT (id) DO UPDATE SET patient_id = excluded.patient_id, session_hash = excluded.session_hash,"
        " p256dh = excluded.p256dh, auth = excluded.auth, user_agent = excluded.user_agent",
        values,
    )


async def delete_subscription(conn: aiosqlite.Connection, subscription_id: str, patient_id: str | None = None) -> bool:
    if patient_id is None:
        cursor = await conn.execute("DELETE FROM push_subscriptions WHERE id = ?", (subscription_id,))
    else:
        cursor = await conn.execute(
            "DELETE FROM push_subscriptions WHERE id = ? AND patient_id = ?", (subscription_id, patient_id)
        )
    return cursor.rowcount == 1


async def record_push_result(conn: aiosqlite.Connection, subscription_id: str, *, ok: bool, now: str) -> None:
    column = "last_success_at" if ok else "last_failure_at"
    await conn.execute(f"UPDATE push_subscriptions SET {column} = ? WHERE id = ?", (now, subscription_id))  # noqa: S608
