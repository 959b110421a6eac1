"""All SQL of the patient's journal. Every query names the patient it is for."""

from __future__ import annotations

import sqlite3
from datetime import datetime

import aiosqlite

from server.clock import iso
from server.db import Database, fetch_one

ENTRY_COLUMNS = (
    "id, patient_id, kind, subkind, kap_session_id, sharing, status, local_date, timezone, body, body_hash,"
    " version, created_at, updated_at"
)


def team_visible(alias: str = "") -> str:
    """What a care team may ever see of a patient's entries: shared or to discuss, and finished. Every query
    that reads entries for a clinician applies it (migration 0009's partial indexes repeat its text)."""
    prefix = f"{alias}." if alias else ""
    return f"{prefix}sharing IN ('shared', 'discuss') AND {prefix}status = 'final'"


TEAM_VISIBLE = team_visible()


PREFERENCES = (
    "SELECT u.timezone, coalesce(s.default_sharing, 'shared') AS default_sharing,"
    " coalesce(s.reminder_time, '20:00') AS reminder_time"
    " FROM users u LEFT JOIN patient_settings s ON s.patient_id = u.id WHERE u.id = ?"
)
ENTRY_FOR_UPDATE = f"SELECT {ENTRY_COLUMNS} FROM entries WHERE id = ?"  # noqa: S608 - a constant
INSERT_ENTRY = (
    "INSERT INTO entries (id, patient_id, kind, subkind, kap_session_id, sharing, status, local_date,"  # noqa: S608
    " timezone, body, body_hash, search_text, version, created_at, updated_at) VALUES (:id, :patient_id, :kind,"
    " :subkind, :kap_session_id, :sharing, :status, :local_date, :timezone, :body, :body_hash, :search_text, 1,"
    " :now, :now)"
    f" RETURNING {ENTRY_COLUMNS}"
)
UPDATE_ENTRY = (
    "UPDATE entries SET subkind = :subkind, kap_session_id = :kap_session_id, sharing = :sharing,"  # noqa: S608
    " status = :status, local_date = :local_date, timezone = :timezone, body = :body, body_hash = :body_hash,"
    " search_text = :search_text, version = version + 1, updated_at = :now WHERE id = :id"
    f" RETURNING {ENTRY_COLUMNS}"
)
# Keep the entry's current state before it is overwritten.
ARCHIVE_VERSION = (
    "INSERT INTO entry_versions (entry_id, patient_id, version, sharing, status, local_date, body, saved_at)"
    " SELECT id, patient_id, version, sharing, status, local_date, body, ? FROM entries WHERE id = ?"
)


async def patient_preferences(db: Database, patient_id: str) -> sqlite3.Row | None:
    return await db.fetch_one(PREFERENCES, (patient_id,))


async def save_preferences(
    conn: aiosqlite.Connection, patient_id: str, *, timezone: str, default_sharing: str, reminder_time: str, now: str
) -> None:
    await conn.execute("UPDATE users SET timezone = ?, updated_at = ? WHERE id = ?", (timezone, now, patient_id))
    await conn.execute(
        "INSERT INTO patient_settings (patient_id, default_sharing, reminder_time, updated_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (patient_id) DO UPDATE SET default_sharing = excluded.default_sharing,"
        " reminder_time = excluded.reminder_time, updated_at = excluded.updated_at",
        (patient_id, default_sharing, reminder_time, now),
    )


async def own_entry(db: Database, patient_id: str, kind: str, entry_id: str) -> sqlite3.Row | None:
    return await db.fetch_one(
        f"SELECT {ENTRY_COLUMNS} FROM entries WHERE id = ? AND patient_id = ? AND kind = ?",  # noqa: S608
        (entry_id, patient_id, kind),
    )


async def own_entry_any_kind(db: Database, patient_id: str, entry_id: str) -> sqlite3.Row | None:
    return await db.fetch_one(
        f"SELECT {ENTRY_COLUMNS} FROM entries WHERE id = ? AND patient_id = ?",  # noqa: S608
        (entry_id, patient_id),
    )


async def delete_entry(conn: aiosqlite.Connection, entry_id: str, patient_id: str, kind: str) -> bool:
    cursor = await conn.execute(
        "DELETE FROM entries WHERE id = ? AND patient_id = ? AND kind = ?", (entry_id, patient_id, kind)
    )
    return cursor.rowcount == 1


def _range_filters(since: str | None, until: str | None) -> tuple[str, list[str]]:
    """Dates (YYYY-MM-DD) filter on the patient's local date; date-times on when the entry last changed."""
    clauses, params = [], []
    for value, op in ((since, ">="), (until, "<=")):
        if value:
            if len(value) == 10:
                clauses.append(f" AND local_date {op} ?")
                params.append(value)
            else:
                # Stored as fixed-width UTC text: convert the caller's instant to the same form to compare.
                clauses.append(f" AND updated_at {op} ?")
                params.append(iso(datetime.fromisoformat(value.replace("Z", "+00:00"))))
    return "".join(clauses), params


async def entries_of(
    db: Database,
    patient_id: str,
    *,
    kind: str | None,
    since: str | None = None,
    until: str | None = None,
    team_view: bool = False,
    limit: int = 1000,
) -> list[sqlite3.Row]:
    filters, params = _range_filters(since, until)
    if kind:
        filters += " AND kind = ?"
        params.append(kind)
    if team_view:
        filters += f" AND {TEAM_VISIBLE}"
    return await db.fetch_all(
        f"SELECT {ENTRY_COLUMNS} FROM entries WHERE patient_id = ?{filters}"  # noqa: S608
        " ORDER BY local_date DESC, created_at DESC LIMIT ?",
        (patient_id, *params, limit),
    )


async def neighbour_checkin_moods(conn: aiosqlite.Connection, patient_id: str, entry_id: str) -> list[int]:
    """The moods of the check-ins just before and just after this one (by local date, time of writing,
    insertion). Both matter: an offline check-in can arrive dated before one already here."""
    moods = []
    for sql in (_CHECKIN_BEFORE, _CHECKIN_AFTER):
        row = await fetch_one(conn, sql, (patient_id, entry_id))
        if row is not None:
            moods.append(int(row["mood"]))
    return moods


_NEIGHBOUR = (
    "SELECT mood FROM entries WHERE patient_id = ? AND kind = 'checkin' AND status = 'final'"
    " AND (local_date, created_at, rowid) {op} (SELECT local_date, created_at, rowid FROM entries WHERE id = ?)"
    " ORDER BY local_date {order}, created_at {order}, rowid {order} LIMIT 1"
)
_CHECKIN_BEFORE = _NEIGHBOUR.format(op="<", order="DESC")
_CHECKIN_AFTER = _NEIGHBOUR.format(op=">", order="ASC")


SESSION_OF_PATIENT = "SELECT 1 FROM kap_sessions WHERE id = ? AND patient_id = ?"


async def session_is_patients(db: Database, session_id: str, patient_id: str) -> bool:
    return await db.fetch_one(SESSION_OF_PATIENT, (session_id, patient_id)) is not None


async def prompt_set(db: Database, prompt_set_id: str) -> sqlite3.Row | None:
    return await db.fetch_one("SELECT id, kind, version, title, intro FROM prompt_sets WHERE id = ?", (prompt_set_id,))


async def current_prompt_set(db: Database, kind: str) -> sqlite3.Row | None:
    """What new entries of this kind answer: the highest active version (admin pages show the same)."""
    return await db.fetch_one(
        "SELECT id, kind, version, title, intro FROM prompt_sets WHERE kind = ? AND active = 1"
        " ORDER BY version DESC LIMIT 1",
        (kind,),
    )


async def active_prompt_set_id(db: Database, kind: str) -> str | None:
    row = await current_prompt_set(db, kind)
    return None if row is None else str(row["id"])


async def prompts_of(db: Database, prompt_set_id: str) -> list[sqlite3.Row]:
    return await db.fetch_all(
        "SELECT prompt_id, text, hint FROM prompts WHERE prompt_set_id = ? ORDER BY position", (prompt_set_id,)
    )


async def active_prompt_sets(db: Database) -> list[sqlite3.Row]:
    return await db.fetch_all(
        "SELECT p.id, p.kind, p.version, p.title, p.intro FROM prompt_sets p WHERE p.active = 1"
        " AND p.version = (SELECT max(version) FROM prompt_sets q WHERE q.kind = p.kind AND q.active = 1)"
        " ORDER BY p.kind"
    )


async def safety_plan(db: Database, patient_id: str) -> sqlite3.Row | None:
    return await db.fetch_one(
        "SELECT p.body, p.version, p.updated_at, u.role AS updated_by_role FROM safety_plans p"
        " LEFT JOIN users u ON u.id = p.updated_by WHERE p.patient_id = ?",
        (patient_id,),
    )


async def safety_plan_version(conn: aiosqlite.Connection, patient_id: str) -> int:
    row = await fetch_one(conn, "SELECT version FROM safety_plans WHERE patient_id = ?", (patient_id,))
    return 0 if row is None else int(row["version"])


async def save_safety_plan(
    conn: aiosqlite.Connection, patient_id: str, body: str, version: int, editor_id: str, now: str
) -> None:
    await conn.execute(
        "INSERT INTO safety_plans (patient_id, version, body, updated_at, updated_by) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (patient_id) DO UPDATE SET version = excluded.version, body = excluded.body,"
        " updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        (patient_id, version, body, now, editor_id),
    )
    await conn.execute(
        "INSERT INTO safety_plan_versions (patient_id, version, body, saved_at, saved_by) VALUES (?, ?, ?, ?, ?)",
        (patient_id, version, body, now, editor_id),
    )


async def clinic_crisis_lines(db: Database) -> str | None:
    row = await db.fetch_one("SELECT crisis_lines FROM clinics ORDER BY id LIMIT 1")
    return None if row is None else str(row["crisis_lines"])


async def onboarded(db: Database, patient_id: str) -> bool:
    row = await db.fetch_one("SELECT onboarded_at FROM patient_settings WHERE patient_id = ?", (patient_id,))
    return row is not None and row["onboarded_at"] is not None


async def mark_onboarded(conn: aiosqlite.Connection, patient_id: str, now: str) -> None:
    await conn.execute(
        "INSERT INTO patient_settings (patient_id, onboarded_at, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT (patient_id) DO UPDATE SET onboarded_at = excluded.onboarded_at",
        (patient_id, now, now),
    )


async def entries_of_session(db: Database, patient_id: str, session_id: str) -> list[sqlite3.Row]:
    return await db.fetch_all(
        f"SELECT {ENTRY_COLUMNS} FROM entries WHERE patient_id = ? AND kap_session_id = ?"  # noqa: S608
        " ORDER BY created_at",
        (patient_id, session_id),
    )


# The patient's own average mood and anxiety per local day from :first_day to :last_day (several check-ins
# a day are allowed). The care team's view of the same (what it may see) is kept in daily_moods (0014).
OWN_DAILY_MOOD = (
    "SELECT local_date, round(avg(mood), 1) AS mood, round(avg(anxiety), 1) AS anxiety, count(*) AS checkins"
    " FROM entries WHERE patient_id = :patient_id AND kind = 'checkin'"
    " AND local_date BETWEEN :first_day AND :last_day GROUP BY local_date ORDER BY local_date"
)


async def daily_mood(db: Database, patient_id: str, first_day: str, last_day: str) -> list[sqlite3.Row]:
    """The patient's own daily averages, for their history page."""
    return await db.fetch_all(OWN_DAILY_MOOD, {"patient_id": patient_id, "first_day": first_day, "last_day": last_day})
