"""All SQL of the therapist's workspace. Every query is scoped to the therapist's care team."""

from __future__ import annotations

import sqlite3

from server.db import Database


async def care_team_patients(db: Database, therapist_id: str, clinic_id: int) -> list[sqlite3.Row]:
    return await db.fetch_all(
        "SELECT u.id, u.display_name, u.email, u.timezone, u.disabled_at FROM care_team c"
        " JOIN users u ON u.id = c.patient_id"
        " WHERE c.therapist_id = ? AND u.clinic_id = ? AND u.role = 'patient'"
        " ORDER BY u.display_name COLLATE NOCASE",
        (therapist_id, clinic_id),
    )
