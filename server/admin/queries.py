"""All SQL of the admin feature. Every query is scoped to the admin's clinic."""

from __future__ import annotations

import sqlite3

import aiosqlite

from server.db import Database


async def users(db: Database, clinic_id: int) -> list[sqlite3.Row]:
    return await db.fetch_all(
        "SELECT u.id, u.role, u.email, u.display_name, u.created_at, u.disabled_at,"
        " (SELECT group_concat(t.display_name, ', ') FROM care_team c JOIN users t ON t.id = c.therapist_id"
        "   WHERE c.patient_id = u.id) AS care_team"
        " FROM users u WHERE u.clinic_id = ? ORDER BY u.role, u.display_name COLLATE NOCASE",
        (clinic_id,),
    )


async def user_in_clinic(db: Database, clinic_id: int, user_id: str) -> sqlite3.Row | None:
    return await db.fetch_one(
        "SELECT id, role, email, display_name, disabled_at FROM users WHERE id = ? AND clinic_id = ?",
        (user_id, clinic_id),
    )


async def set_disabled(conn: aiosqlite.Connection, user_id: str, disabled_at: str | None, now: str) -> None:
    await conn.execute("UPDATE users SET disabled_at = ?, updated_at = ? WHERE id = ?", (disabled_at, now, user_id))


async def therapists(db: Database, clinic_id: int) -> list[sqlite3.Row]:
    return await db.fetch_all(
        "SELECT id, email, display_name, disabled_at FROM users WHERE clinic_id = ? AND role = 'therapist'"
        " ORDER BY display_name COLLATE NOCASE",
        (clinic_id,),
    )


async def care_team(db: Database, patient_id: str) -> list[sqlite3.Row]:
    return await db.fetch_all(
        "SELECT t.id, t.email, t.display_name, c.added_at FROM care_team c"
        " JOIN users t ON t.id = c.therapist_id WHERE c.patient_id = ? ORDER BY t.display_name COLLATE NOCASE",
        (patient_id,),
    )


async def remove_from_care_team(conn: aiosqlite.Connection, patient_id: str, therapist_id: str) -> bool:
    cursor = await conn.execute(
        "DELETE FROM care_team WHERE patient_id = ? AND therapist_id = ?", (patient_id, therapist_id)
    )
    return cursor.rowcount == 1


async def audit_rows(db: Database, *, before_id: int | None, limit: int) -> list[sqlite3.Row]:
    return await db.fetch_all(
        "SELECT a.id, a.at, a.actor_id, a.actor_role, a.action, a.patient_id, a.object_type, a.object_id,"
        " a.client_address, a.detail, actor.display_name AS actor_name, patient.display_name AS patient_name"
        " FROM audit_log a LEFT JOIN users actor ON actor.id = a.actor_id"
        " LEFT JOIN users patient ON patient.id = a.patient_id"
        " WHERE a.id < ? ORDER BY a.id DESC LIMIT ?",
        (before_id if before_id is not None else 2**62, limit),
    )
