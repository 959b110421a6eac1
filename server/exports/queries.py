"""All SQL of the exports: every table that holds a patient's data, read for that patient only."""

from __future__ import annotations

import sqlite3

from server.db import Database
from server.journal.queries import team_visible

# Table -> the query that returns one patient's rows. The export test fails when a table with a
# patient_id column is neither here nor in WITHHELD, so no new table can be forgotten silently.
PATIENT_TABLES = {
    "entries": "SELECT * FROM entries WHERE patient_id = ? ORDER BY local_date, created_at",
    "entry_versions": "SELECT * FROM entry_versions WHERE patient_id = ? ORDER BY entry_id, version",
    "kap_sessions": "SELECT * FROM kap_sessions WHERE patient_id = ? ORDER BY scheduled_for",
    "safety_plans": "SELECT * FROM safety_plans WHERE patient_id = ?",
    "safety_plan_versions": "SELECT * FROM safety_plan_versions WHERE patient_id = ? ORDER BY version",
    "flags": "SELECT id, kind, severity, entry_id, entry_kind, reason, created_at, acknowledged_at FROM flags"
    " WHERE patient_id = ? ORDER BY created_at",
    "patient_settings": "SELECT * FROM patient_settings WHERE patient_id = ?",
    "questionnaire_schedules": "SELECT * FROM questionnaire_schedules WHERE patient_id = ?",
    "care_team": "SELECT t.display_name AS therapist, c.added_at FROM care_team c JOIN users t ON t.id = c.therapist_id"
    " WHERE c.patient_id = ?",
    "appointments": "SELECT id, kind, starts_at, duration_minutes, created_at, cancelled_at FROM appointments"
    " WHERE patient_id = ? ORDER BY starts_at",
    # Which version of which entry the care team has read.
    "entry_reviews": "SELECT entry_id, version, reviewed_at FROM entry_reviews WHERE patient_id = ?"
    " ORDER BY reviewed_at",
    "review_watermarks": "SELECT reviewed_up_to FROM review_watermarks WHERE patient_id = ?",
    "reminder_preferences": "SELECT * FROM reminder_preferences WHERE patient_id = ?",
    # The devices that receive reminders, without the push keys (they are secrets of the browser's).
    "push_subscriptions": "SELECT user_agent, created_at, last_success_at, last_failure_at FROM push_subscriptions"
    " WHERE patient_id = ?",
    "reminders_sent": "SELECT kind, occasion, claimed_at, delivered FROM reminders_sent WHERE patient_id = ?"
    " ORDER BY claimed_at",
    # Who opened or changed this record: the patient's right to an accounting of access.
    "audit_log": "SELECT at, actor_role, action, object_type, client_address FROM audit_log WHERE patient_id = ?"
    " ORDER BY id",
}

# Tables with a patient_id column whose rows are not the patient's to take, and why.
WITHHELD: dict[str, str] = {
    "clinician_notes": "the care team's own notes about appointments, never shown to the patient (PRODUCT.md §6)",
    "patient_summaries": "a copy the caseload reads, derived from the entries above (migration 0011): nothing of"
    " the patient's own that the export does not already hold",
    "daily_moods": "each day's sum of the shared check-ins' moods, derived from the entries above for the caseload"
    " (migration 0014): nothing of the patient's own that the export does not already hold",
}


# What the care team's JSON export holds besides the shared entries: never a private entry's id, and
# nothing else of the patient's is read for it.
TEAM_TABLES = {
    "kap_sessions": PATIENT_TABLES["kap_sessions"],
    "safety_plans": PATIENT_TABLES["safety_plans"],
    "flags": "SELECT f.id, f.kind, f.severity,"  # noqa: S608 - constants
    f" CASE WHEN {team_visible('e')} THEN e.id END AS entry_id,"
    " f.entry_kind, f.reason, f.created_at, f.acknowledged_at"
    " FROM flags f LEFT JOIN entries e ON e.id = f.entry_id WHERE f.patient_id = ? ORDER BY f.created_at",
}


async def patient_rows(db: Database, patient_id: str) -> dict[str, list[sqlite3.Row]]:
    return await _rows(db, PATIENT_TABLES, patient_id)


async def team_rows(db: Database, patient_id: str) -> dict[str, list[sqlite3.Row]]:
    return await _rows(db, TEAM_TABLES, patient_id)


async def _rows(db: Database, tables: dict[str, str], patient_id: str) -> dict[str, list[sqlite3.Row]]:
    return {table: await db.fetch_all(sql, (patient_id,)) for table, sql in tables.items()}


async def patient_record(db: Database, patient_id: str) -> sqlite3.Row | None:
    return await db.fetch_one(
        "SELECT id, email, display_name, timezone, created_at FROM users WHERE id = ? AND role = 'patient'",
        (patient_id,),
    )
