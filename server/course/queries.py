"""All SQL of the ketamine course."""

from __future__ import annotations

import sqlite3

import aiosqlite

from server.db import Database


def _numbered_sessions(where: str) -> str:
    """The sessions matching ``where``, each numbered within its series in date order (induction 1-6,
    booster 1, …), cancelled ones apart so that a cancellation does not renumber the rest. The one rule for
    every list that shows a session's number (the patient's sessions, the brief, the week view)."""
    return (
        "SELECT id, patient_id, scheduled_for, route, series, dose_mg, setting, cancelled_at,"  # noqa: S608
        " row_number() OVER (PARTITION BY patient_id, series, cancelled_at IS NULL ORDER BY scheduled_for)"
        f" AS number FROM kap_sessions WHERE {where}"
    )


SESSION_SELECT = _numbered_sessions("patient_id = ?")


async def sessions_of(db: Database, patient_id: str) -> list[sqlite3.Row]:
    return await db.fetch_all(f"{SESSION_SELECT} ORDER BY scheduled_for", (patient_id,))


async def insert_session(conn: aiosqlite.Connection, values: dict[str, object]) -> None:
    await conn.execute(
        "INSERT INTO kap_sessions (id, patient_id, scheduled_for, route, dose_mg, series, setting, created_by,"
        " created_at, updated_at) VALUES (:id, :patient_id, :scheduled_for, :route, :dose_mg, :series, :setting,"
        " :created_by, :now, :now)",
        values,
    )


# Appointments and ketamine sessions, as one list of dated events of a care team's patients.
EVENTS = (
    "SELECT a.id, a.patient_id, a.kind, a.starts_at, a.duration_minutes, a.cancelled_at, NULL AS route,"
    " NULL AS series, NULL AS dose_mg, NULL AS number, u.display_name AS patient_name"
    " FROM appointments a JOIN users u ON u.id = a.patient_id WHERE {where_a}"
    " UNION ALL"
    " SELECT s.id, s.patient_id, 'kap_session', s.scheduled_for, 90, s.cancelled_at, s.route, s.series, s.dose_mg,"
    " s.number, u.display_name FROM ({sessions}) s JOIN users u ON u.id = s.patient_id WHERE {where_s}"
    " ORDER BY starts_at"
)
TEAM = "IN (SELECT patient_id FROM care_team WHERE therapist_id = :therapist_id)"
PATIENT_EVENTS = EVENTS.format(
    where_a="a.patient_id = :patient_id", sessions=_numbered_sessions("patient_id = :patient_id"), where_s="1"
)
# Numbered over each patient's whole course first, then cut to the week.
TEAM_EVENTS = EVENTS.format(
    where_a=f"a.patient_id {TEAM} AND a.starts_at >= :start AND a.starts_at < :end",
    sessions=_numbered_sessions(f"patient_id {TEAM}"),
    where_s="s.scheduled_for >= :start AND s.scheduled_for < :end",
)


async def patient_events(db: Database, patient_id: str) -> list[sqlite3.Row]:
    return await db.fetch_all(PATIENT_EVENTS, {"patient_id": patient_id})


async def team_events(db: Database, therapist_id: str, start: str, end: str) -> list[sqlite3.Row]:
    return await db.fetch_all(TEAM_EVENTS, {"therapist_id": therapist_id, "start": start, "end": end})


async def insert_appointment(conn: aiosqlite.Connection, values: dict[str, object]) -> None:
    await conn.execute(
        "INSERT INTO appointments (id, patient_id, therapist_id, kind, starts_at, duration_minutes, created_by,"
        " created_at, updated_at) VALUES (:id, :patient_id, :therapist_id, :kind, :starts_at, :duration_minutes,"
        " :created_by, :now, :now)",
        values,
    )


async def event_owner(db: Database, event_id: str) -> sqlite3.Row | None:
    """Which patient an appointment or session belongs to, and which table holds it."""
    return await db.fetch_one(
        "SELECT patient_id, 'appointment' AS source FROM appointments WHERE id = ?"
        " UNION ALL SELECT patient_id, 'kap_session' FROM kap_sessions WHERE id = ?",
        (event_id, event_id),
    )


async def change_appointment(conn: aiosqlite.Connection, event_id: str, values: dict[str, object]) -> None:
    await conn.execute(
        "UPDATE appointments SET starts_at = coalesce(:starts_at, starts_at),"
        " duration_minutes = coalesce(:duration_minutes, duration_minutes),"
        " cancelled_at = CASE WHEN :cancel = 1 THEN coalesce(cancelled_at, :now) WHEN :cancel = 0 THEN NULL"
        " ELSE cancelled_at END, updated_at = :now WHERE id = :id",
        {**values, "id": event_id},
    )


async def change_session(conn: aiosqlite.Connection, event_id: str, values: dict[str, object]) -> None:
    await conn.execute(
        "UPDATE kap_sessions SET scheduled_for = coalesce(:starts_at, scheduled_for),"
        " cancelled_at = CASE WHEN :cancel = 1 THEN coalesce(cancelled_at, :now) WHEN :cancel = 0 THEN NULL"
        " ELSE cancelled_at END, updated_at = :now WHERE id = :id",
        {**values, "id": event_id},
    )


async def last_integration_before(db: Database, patient_id: str, moment: str) -> str | None:
    row = await db.fetch_one(
        "SELECT max(starts_at) AS at FROM appointments WHERE patient_id = ? AND kind = 'integration'"
        " AND cancelled_at IS NULL AND starts_at < ?",
        (patient_id, moment),
    )
    return None if row is None or row["at"] is None else str(row["at"])
