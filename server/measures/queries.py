"""All SQL of measures: safety flags and questionnaire schedules."""

from __future__ import annotations

import sqlite3

import aiosqlite

from server.db import Database, fetch_one
from server.journal.queries import team_visible


async def flag_exists(conn: aiosqlite.Connection, entry_id: str, kind: str) -> bool:
    return await fetch_one(conn, "SELECT 1 FROM flags WHERE entry_id = ? AND kind = ?", (entry_id, kind)) is not None


async def insert_flag(conn: aiosqlite.Connection, values: dict[str, object]) -> None:
    await conn.execute(
        "INSERT INTO flags (id, patient_id, kind, severity, entry_id, entry_kind, reason, created_at)"
        " VALUES (:id, :patient_id, :kind, :severity, :entry_id, :entry_kind, :reason, :created_at)",
        values,
    )


async def schedule(db: Database, patient_id: str) -> sqlite3.Row | None:
    return await db.fetch_one(
        "SELECT induction_interval_days, maintenance_interval_days, at_booster, ebi_after_session, window_days"
        " FROM questionnaire_schedules WHERE patient_id = ?",
        (patient_id,),
    )


async def save_schedule(conn: aiosqlite.Connection, patient_id: str, values: dict[str, object]) -> None:
    await conn.execute(
        "INSERT INTO questionnaire_schedules (patient_id, induction_interval_days, maintenance_interval_days,"
        " at_booster, ebi_after_session, window_days, updated_at, updated_by) VALUES (:patient_id,"
        " :induction_interval_days, :maintenance_interval_days, :at_booster, :ebi_after_session, :window_days,"
        " :updated_at, :updated_by) ON CONFLICT (patient_id) DO UPDATE SET"
        " induction_interval_days = excluded.induction_interval_days,"
        " maintenance_interval_days = excluded.maintenance_interval_days, at_booster = excluded.at_booster,"
        " ebi_after_session = excluded.ebi_after_session, window_days = excluded.window_days,"
        " updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        {"patient_id": patient_id, **values},
    )


async def questionnaire_dates(db: Database, patient_id: str) -> list[sqlite3.Row]:
    return await db.fetch_all(
        "SELECT subkind AS instrument, local_date FROM entries"
        " WHERE patient_id = ? AND kind = 'questionnaire' ORDER BY local_date",
        (patient_id,),
    )


async def patient_joined(db: Database, patient_id: str) -> sqlite3.Row | None:
    return await db.fetch_one("SELECT created_at, timezone FROM users WHERE id = ?", (patient_id,))


async def session_times(db: Database, patient_id: str) -> list[sqlite3.Row]:
    return await db.fetch_all(
        "SELECT scheduled_for, series FROM kap_sessions WHERE patient_id = ? AND cancelled_at IS NULL",
        (patient_id,),
    )


# The flag, the patient's name, and what raised it: the entry's kind and time always, its content only
# when the care team may see the entry (shared or to discuss, and finished).
FLAG_VIEW = (
    "SELECT f.id, f.patient_id, u.display_name AS patient_name, f.kind, f.severity, f.reason, f.entry_id,"  # noqa: S608
    " f.entry_kind, f.created_at, f.acknowledged_at, f.ack_note, a.display_name AS acknowledged_by_name,"
    " e.local_date AS entry_local_date, e.created_at AS entry_created_at,"
    f" CASE WHEN {team_visible('e')} THEN e.id END AS visible_entry_id"
    " FROM flags f JOIN users u ON u.id = f.patient_id"
    " LEFT JOIN users a ON a.id = f.acknowledged_by LEFT JOIN entries e ON e.id = f.entry_id"
)


async def open_flags_of_team(db: Database, therapist_id: str) -> list[sqlite3.Row]:
    return await db.fetch_all(
        f"{FLAG_VIEW} WHERE f.acknowledged_at IS NULL"  # noqa: S608 - constant
        " AND f.patient_id IN (SELECT patient_id FROM care_team WHERE therapist_id = ?) ORDER BY f.created_at",
        (therapist_id,),
    )


# The brief's flags: every open one, and those acknowledged since ``:since`` (the brief's history).
BRIEF_FLAGS = (
    f"{FLAG_VIEW} WHERE f.patient_id = :patient_id AND (f.acknowledged_at IS NULL OR f.acknowledged_at >= :since)"
    " ORDER BY f.acknowledged_at IS NOT NULL, f.created_at"
)


async def flag_view(db: Database, flag_id: str) -> sqlite3.Row | None:
    return await db.fetch_one(f"{FLAG_VIEW} WHERE f.id = ?", (flag_id,))


async def acknowledge(conn: aiosqlite.Connection, flag_id: str, user_id: str, note: str, now: str) -> bool:
    cursor = await conn.execute(
        "UPDATE flags SET acknowledged_at = ?, acknowledged_by = ?, ack_note = ? WHERE id = ?"
        " AND acknowledged_at IS NULL",
        (now, user_id, note, flag_id),
    )
    return cursor.rowcount == 1


async def insert_pattern_flag(conn: aiosqlite.Connection, values: dict[str, object]) -> bool:
    """Insert unless this occurrence (patient, kind, dedupe_key) was flagged before."""
    cursor = await conn.execute(
        "INSERT INTO flags (id, patient_id, kind, severity, reason, created_at, dedupe_key)"
        " VALUES (:id, :patient_id, :kind, :severity, :reason, :created_at, :dedupe_key)"
        " ON CONFLICT (patient_id, kind, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING",
        values,
    )
    return cursor.rowcount == 1


async def watched_patients(db: Database) -> list[sqlite3.Row]:
    """Every active patient with what the watcher needs: time zone, when they joined, their last
    check-in's local date (private ones count: a private check-in is still a check-in) and the clinic's
    missed-check-in threshold."""
    return await db.fetch_all(
        "SELECT u.id, u.timezone, u.created_at, c.missed_checkin_days,"
        " (SELECT max(local_date) FROM entries e WHERE e.patient_id = u.id AND e.kind = 'checkin'"
        "  AND e.status = 'final') AS last_checkin"
        " FROM users u JOIN clinics c ON c.id = u.clinic_id WHERE u.role = 'patient' AND u.disabled_at IS NULL"
    )


async def mood_average(db: Database, patient_id: str, first_day: str, last_day: str) -> float | None:
    row = await db.fetch_one(
        "SELECT avg(mood) AS mood FROM entries WHERE patient_id = ? AND kind = 'checkin' AND status = 'final'"
        " AND local_date BETWEEN ? AND ?",
        (patient_id, first_day, last_day),
    )
    return None if row is None or row["mood"] is None else float(row["mood"])


async def recent_flag(db: Database, patient_id: str, kind: str, since: str) -> bool:
    """An open flag of this kind, or one raised since ``since``."""
    row = await db.fetch_one(
        "SELECT 1 FROM flags WHERE patient_id = ? AND kind = ? AND (acknowledged_at IS NULL OR created_at >= ?)",
        (patient_id, kind, since),
    )
    return row is not None
