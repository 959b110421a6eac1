"""All SQL of the therapist's workspace. Every query is scoped to the therapist's care team."""

from __future__ import annotations

import json
import sqlite3

import aiosqlite

from server.db import Database
from server.journal.queries import team_visible

# The care-team queries start from the therapist's own care_team rows (CROSS JOIN fixes the join order):
# left to itself, SQLite starts from users_clinic_role and walks every patient of the clinic.


# What the care team may see of an entry: shared or to discuss, and finished. Every query below that
# reads entries applies it.
VISIBLE = team_visible("e")

# "Unreviewed" counts up to this many: a therapist new to a care team would otherwise have the whole of
# each patient's history compared with their (absent) review marks on every caseload load, and "100+"
# says all there is to say.
UNREVIEWED_CAP = 100

# One row per patient of the therapist's care team, each subquery a seek or a short range of an index of
# migrations 0009 and 0010: "unreviewed" reads only the entries changed since the therapist last marked
# the patient's brief reviewed (review_watermarks), at most UNREVIEWED_CAP of them. ``days`` holds each
# patient's own local "today" and week boundaries (computed in Python from their time zone), so averages
# follow the patient's calendar.
CASELOAD = f"""
WITH days(patient_id, today, week_start, prev_start, prev_end) AS MATERIALIZED (
    -- Materialized once: as a plain join, json_each parsed the whole list again for every patient.
    SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4 FROM json_each(:days))
SELECT u.id, u.display_name, u.email,
    (SELECT count(*) FROM flags f WHERE f.patient_id = u.id AND f.acknowledged_at IS NULL) AS open_flags,
    (SELECT count(*) FROM flags f WHERE f.patient_id = u.id AND f.acknowledged_at IS NULL
        AND f.severity = 'high') AS open_high_flags,
    (SELECT e.created_at FROM entries e WHERE e.patient_id = u.id AND e.kind = 'checkin'
        AND {VISIBLE} ORDER BY e.created_at DESC LIMIT 1) AS last_checkin_at,
    (SELECT avg(e.mood) FROM entries e WHERE e.patient_id = u.id AND e.kind = 'checkin' AND {VISIBLE}
        AND e.local_date BETWEEN d.week_start AND d.today) AS mood_week,
    (SELECT avg(e.mood) FROM entries e WHERE e.patient_id = u.id AND e.kind = 'checkin' AND {VISIBLE}
        AND e.local_date BETWEEN d.prev_start AND d.prev_end) AS mood_prev_week,
    (SELECT count(*) FROM (SELECT 1 FROM entries e
        LEFT JOIN entry_reviews r ON r.therapist_id = :therapist_id AND r.entry_id = e.id
        WHERE e.patient_id = u.id AND {VISIBLE} AND e.updated_at >= coalesce((SELECT w.reviewed_up_to
            FROM review_watermarks w WHERE w.therapist_id = :therapist_id AND w.patient_id = u.id), '')
        AND (r.version IS NULL OR r.version < e.version) LIMIT {UNREVIEWED_CAP})) AS unreviewed,
    (SELECT min(a.starts_at) FROM appointments a WHERE a.patient_id = u.id AND a.kind = 'integration'
        AND a.cancelled_at IS NULL AND a.starts_at >= :now) AS next_integration,
    (SELECT min(s.scheduled_for) FROM kap_sessions s WHERE s.patient_id = u.id AND s.cancelled_at IS NULL
        AND s.scheduled_for >= :now) AS next_session
FROM care_team c CROSS JOIN users u ON u.id = c.patient_id JOIN days d ON d.patient_id = u.id
WHERE c.therapist_id = :therapist_id AND u.clinic_id = :clinic_id AND u.role = 'patient'
"""  # noqa: S608 - VISIBLE is a constant

# First (baseline) and latest score of each instrument, per patient, from what they shared: two index
# seeks per patient and instrument (entries_visible_scores), not a window over every questionnaire. A row
# is marked first_rank = 1 if it is the first, last_rank = 1 if it is the latest (a lone score is both).
SCORES = f"""
WITH team(patient_id) AS (SELECT patient_id FROM care_team WHERE therapist_id = ?),
ends AS (
    SELECT t.patient_id,
        (SELECT e.rowid FROM entries e WHERE e.patient_id = t.patient_id AND e.kind = 'questionnaire'
            AND e.subkind = i.instrument AND {VISIBLE} ORDER BY e.local_date, e.created_at LIMIT 1) AS first_id,
        (SELECT e.rowid FROM entries e WHERE e.patient_id = t.patient_id AND e.kind = 'questionnaire'
            AND e.subkind = i.instrument AND {VISIBLE} ORDER BY e.local_date DESC, e.created_at DESC LIMIT 1)
            AS last_id
    FROM team t CROSS JOIN (SELECT 'phq9' AS instrument UNION ALL SELECT 'gad7') i
)
SELECT e.patient_id, e.subkind AS instrument, e.score, e.local_date,
    CASE WHEN e.rowid = ends.first_id THEN 1 ELSE 2 END AS first_rank,
    CASE WHEN e.rowid = ends.last_id THEN 1 ELSE 2 END AS last_rank
FROM ends JOIN entries e ON e.rowid IN (ends.first_id, ends.last_id)
"""  # noqa: S608 - VISIBLE is a constant


async def caseload_rows(
    db: Database, *, therapist_id: str, clinic_id: int, days_json: str, now: str
) -> list[sqlite3.Row]:
    return await db.fetch_all(
        CASELOAD, {"therapist_id": therapist_id, "clinic_id": clinic_id, "days": days_json, "now": now}
    )


async def score_rows(db: Database, therapist_id: str) -> list[sqlite3.Row]:
    return await db.fetch_all(SCORES, (therapist_id,))


async def team_zones(db: Database, therapist_id: str, clinic_id: int) -> list[sqlite3.Row]:
    return await db.fetch_all(
        "SELECT u.id, u.timezone FROM care_team c CROSS JOIN users u ON u.id = c.patient_id"
        " WHERE c.therapist_id = ? AND u.clinic_id = ? AND u.role = 'patient'",
        (therapist_id, clinic_id),
    )


# --- the integration brief --------------------------------------------------------------------------

ENTRY_COLUMNS = (
    "e.id, e.patient_id, e.kind, e.subkind, e.kap_session_id, e.sharing, e.status, e.local_date, e.timezone,"
    " e.body, e.body_hash, e.version, e.created_at, e.updated_at"
)


async def visible_entries(db: Database, patient_id: str, since_date: str) -> list[sqlite3.Row]:
    """What the patient shared in the window, plus the intentions of sessions in it (read beside their
    integration reflection, however long before they were written)."""
    # Two ranges rather than one OR: with the OR, SQLite read every entry the patient ever wrote.
    return await db.fetch_all(
        f"SELECT {ENTRY_COLUMNS} FROM entries e WHERE e.patient_id = :patient_id AND e.local_date >= :since"  # noqa: S608
        f" AND {VISIBLE}"
        # The intentions: found by session (entries_session), never by walking the patient's history.
        f" UNION ALL SELECT {ENTRY_COLUMNS} FROM entries e WHERE e.kap_session_id IN"
        "  (SELECT kap_session_id FROM entries WHERE patient_id = :patient_id AND local_date >= :since)"
        f" AND +e.patient_id = :patient_id AND +e.local_date < :since AND e.subkind = 'intention' AND {VISIBLE}"
        " ORDER BY 8, 13",  # local_date, created_at
        {"patient_id": patient_id, "since": since_date},
    )


async def all_scores(db: Database, patient_id: str) -> list[sqlite3.Row]:
    return await db.fetch_all(
        f"SELECT e.id, e.subkind AS instrument, e.score, e.local_date, e.body FROM entries e"  # noqa: S608
        f" WHERE e.patient_id = ? AND e.kind = 'questionnaire' AND {VISIBLE} ORDER BY e.local_date, e.created_at",
        (patient_id,),
    )


async def reviewed_versions(db: Database, therapist_id: str, patient_id: str) -> dict[str, int]:
    rows = await db.fetch_all(
        "SELECT entry_id, version FROM entry_reviews WHERE therapist_id = ? AND patient_id = ?",
        (therapist_id, patient_id),
    )
    return {r["entry_id"]: int(r["version"]) for r in rows}


MARK_REVIEWED = f"""
INSERT INTO entry_reviews (therapist_id, entry_id, patient_id, version, reviewed_at)
SELECT :therapist_id, e.id, e.patient_id, e.version, :now FROM entries e
WHERE e.patient_id = :patient_id AND {VISIBLE} AND e.updated_at <= :up_to
    AND (:ids IS NULL OR e.id IN (SELECT value FROM json_each(:ids)))
ON CONFLICT (therapist_id, entry_id) DO UPDATE SET version = excluded.version, reviewed_at = excluded.reviewed_at
"""  # noqa: S608 - VISIBLE is a constant


MOVE_WATERMARK = """
INSERT INTO review_watermarks (therapist_id, patient_id, reviewed_up_to) VALUES (?, ?, ?)
ON CONFLICT (therapist_id, patient_id) DO UPDATE SET reviewed_up_to = max(reviewed_up_to, excluded.reviewed_up_to)
"""


async def mark_reviewed(
    conn: aiosqlite.Connection, *, therapist_id: str, patient_id: str, entry_ids: list[str] | None, up_to: str, now: str
) -> int:
    """Record the current version of each visible entry as read (all changed up to ``up_to``, or those listed).

    Marking them all also moves the therapist's watermark for the patient, to ``up_to`` but never past now:
    every entry changed before the watermark has just been marked, and any later change moves the entry's
    updated_at past it, so the caseload compares only what changed since (migration 0010).
    """
    cursor = await conn.execute(
        MARK_REVIEWED,
        {
            "therapist_id": therapist_id,
            "patient_id": patient_id,
            "now": now,
            "up_to": up_to,
            "ids": json.dumps(entry_ids) if entry_ids is not None else None,
        },
    )
    if entry_ids is None:
        await conn.execute(MOVE_WATERMARK, (therapist_id, patient_id, min(up_to, now)))
    return cursor.rowcount


# --- clinician notes --------------------------------------------------------------------------------


async def appointment_of_patient(db: Database, appointment_id: str) -> sqlite3.Row | None:
    return await db.fetch_one(
        "SELECT id, patient_id, kind, starts_at, cancelled_at FROM appointments WHERE id = ?", (appointment_id,)
    )


async def notes_of(db: Database, appointment_id: str) -> list[sqlite3.Row]:
    return await db.fetch_all(
        "SELECT n.id, n.appointment_id, n.body, n.created_at, n.updated_at, u.display_name AS author"
        " FROM clinician_notes n LEFT JOIN users u ON u.id = n.author_id WHERE n.appointment_id = ?"
        " ORDER BY n.created_at",
        (appointment_id,),
    )


async def insert_note(conn: aiosqlite.Connection, values: dict[str, object]) -> None:
    await conn.execute(
        "INSERT INTO clinician_notes (id, patient_id, appointment_id, author_id, body, created_at, updated_at)"
        " VALUES (:id, :patient_id, :appointment_id, :author_id, :body, :now, :now)",
        values,
    )


# --- search -----------------------------------------------------------------------------------------

# Matches come only from the index (shared, finished entries) and only for this therapist's care team;
# the entry's sharing is checked again, so nothing can leak if the index were ever stale.
SEARCH = f"""
SELECT e.id, e.patient_id, u.display_name AS patient_name, e.kind, e.subkind, e.local_date,
    snippet(entries_fts, 0, char(2), char(3), '…', 16) AS snippet
FROM entries_fts JOIN entries e ON e.rowid = entries_fts.rowid JOIN users u ON u.id = e.patient_id
WHERE entries_fts MATCH :query AND {VISIBLE}
    AND e.patient_id IN (SELECT patient_id FROM care_team WHERE therapist_id = :therapist_id)
    AND u.clinic_id = :clinic_id
ORDER BY rank LIMIT :limit
"""  # noqa: S608 - VISIBLE is a constant


async def search(db: Database, *, therapist_id: str, clinic_id: int, query: str, limit: int) -> list[sqlite3.Row]:
    return await db.fetch_all(
        SEARCH, {"query": query, "therapist_id": therapist_id, "clinic_id": clinic_id, "limit": limit}
    )
