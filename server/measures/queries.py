"""All SQL of measures: safety flags and questionnaire schedules."""

from __future__ import annotations

import sqlite3

import aiosqlite

from server.db import Database, fetch_one

FLAG_COLUMNS = (
    "id, patient_id, kind, severity, entry_id, entry_kind, reason, created_at, acknowledged_at, acknowledged_by,"
    " ack_note"
)


async def flag_exists(conn: aiosqlite.Connection, entry_id: str, kind: str) -> bool:
    return await fetch_one(conn, "SELECT 1 FROM flags WHERE entry_id = ? AND kind = ?", (entry_id, kind)) is not None


async def insert_flag(conn: aiosqlite.Connection, values: dict[str, object]) -> None:
    await conn.execute(
        "INSERT INTO flags (id, patient_id, kind, severity, entry_id, entry_kind, reason, created_at)"
        " VALUES (:id, :patient_id, :kind, :severity, :entry_id, :entry_kind, :reason, :created_at)",
        values,
    )


async def flags_of(db: Database, patient_id: str) -> list[sqlite3.Row]:
    return await db.fetch_all(
        f"SELECT {FLAG_COLUMNS} FROM flags WHERE patient_id = ? ORDER BY created_at DESC",  # noqa: S608
        (patient_id,),
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
