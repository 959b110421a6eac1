"""All SQL of the ketamine course."""

from __future__ import annotations

import sqlite3

import aiosqlite

from server.db import Database

# Sessions are numbered within their series in date order (induction 1-6, booster 1, …).
SESSION_SELECT = (
    "SELECT id, patient_id, scheduled_for, route, series, dose_mg, setting, cancelled_at,"
    " row_number() OVER (PARTITION BY patient_id, series, cancelled_at IS NULL ORDER BY scheduled_for) AS number"
    " FROM kap_sessions WHERE patient_id = ?"
)


async def sessions_of(db: Database, patient_id: str) -> list[sqlite3.Row]:
    return await db.fetch_all(f"{SESSION_SELECT} ORDER BY scheduled_for", (patient_id,))


async def insert_session(conn: aiosqlite.Connection, values: dict[str, object]) -> None:
    await conn.execute(
        "INSERT INTO kap_sessions (id, patient_id, scheduled_for, route, dose_mg, series, setting, created_by,"
        " created_at, updated_at) VALUES (:id, :patient_id, :scheduled_for, :route, :dose_mg, :series, :setting,"
        " :created_by, :now, :now)",
        values,
    )
