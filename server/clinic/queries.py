"""All SQL of the therapist's workspace. Every query is scoped to the therapist's care team."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any, NamedTuple

import aiosqlite

from server.course import queries as course_queries
from server.db import Database
from server.journal.queries import team_visible
from server.measures import queries as measure_queries

# The care-team queries start from the therapist's own care_team rows (CROSS JOIN fixes the join order):
# left to itself, SQLite starts from users_clinic_role and walks every patient of the clinic.


# The clinic's own time zone (its "today" and "this week"): a point query, read on the event loop's thread.
CLINIC_ZONE = "SELECT timezone FROM clinics WHERE id = ?"

# What the care team may see of an entry: shared or to discuss, and finished. Every query below that
# reads entries applies it.
VISIBLE = team_visible("e")

# "Unreviewed" counts up to this many: a therapist new to a care team would otherwise have the whole of
# each patient's history compared with their (absent) review marks on every caseload load, and "100+"
# says all there is to say.
UNREVIEWED_CAP = 100

# The time zones of the therapist's patients, for the week bounds the caseload needs.
TEAM_ZONES = """
SELECT DISTINCT u.timezone FROM care_team c CROSS JOIN users u ON u.id = c.patient_id
WHERE c.therapist_id = :therapist_id AND u.clinic_id = :clinic_id AND u.role = 'patient'
"""


# One row per patient of the therapist's care team, each column a seek or a short range of an index of
# migrations 0009 to 0014. The open flag counts, the last check-in and the first (baseline) and latest
# PHQ-9/GAD-7 are kept per patient in patient_summaries (0011, 0012), and each day's sum of moods in
# daily_moods (0014), from what the patient shared (flags whatever raised them): one short row and two short
# ranges instead of pages of four indexes and a fortnight of check-in rows per patient, which every reader
# reads again after each commit (every request writes an audit row, and a commit empties the page cache of
# every other connection). ``days`` holds each time zone's "today" and week boundaries (computed in Python),
# so averages follow the patient's own calendar; an average is the week's sum over its number of moods, the
# float avg() gave.
#
# "unreviewed" compares only the entries changed since the therapist last marked the patient's brief
# reviewed (review_watermarks), at most UNREVIEWED_CAP of them, with the therapist's review marks. With
# neither a watermark nor a single mark for the patient, every entry the team may see is unreviewed: their
# number is kept in patient_summaries, and the walk is skipped.
CASELOAD = f"""
WITH days(timezone, today, week_start, prev_start, prev_end) AS MATERIALIZED (
    -- Materialized once: as a plain join, json_each parsed the whole list again for every patient.
    SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4 FROM json_each(:days))
SELECT u.id, u.display_name,
    coalesce(s.open_flags, 0) AS open_flags, coalesce(s.open_high_flags, 0) AS open_high_flags,
    s.last_checkin_at,
    (SELECT CAST(sum(m.mood_total) AS REAL) / sum(m.moods) FROM daily_moods m WHERE m.patient_id = u.id
        AND m.local_date BETWEEN d.week_start AND d.today) AS mood_week,
    (SELECT CAST(sum(m.mood_total) AS REAL) / sum(m.moods) FROM daily_moods m WHERE m.patient_id = u.id
        AND m.local_date BETWEEN d.prev_start AND d.prev_end) AS mood_prev_week,
    CASE WHEN w.reviewed_up_to IS NULL AND NOT EXISTS (SELECT 1 FROM entry_reviews r
            WHERE r.patient_id = u.id AND r.therapist_id = :therapist_id)
        THEN min(coalesce(s.visible_entries, 0), {UNREVIEWED_CAP})
        ELSE (SELECT count(*) FROM (SELECT 1 FROM entries e
            LEFT JOIN entry_reviews r ON r.therapist_id = :therapist_id AND r.entry_id = e.id
            WHERE e.patient_id = u.id AND {VISIBLE} AND e.updated_at >= coalesce(w.reviewed_up_to, '')
            AND (r.version IS NULL OR r.version < e.version) LIMIT {UNREVIEWED_CAP}))
    END AS unreviewed,
    -- The kept next event while it is still ahead (0015 says why that is the answer), else a seek.
    CASE WHEN s.next_integration_as_of <= :now AND (s.next_integration IS NULL OR s.next_integration >= :now)
        THEN s.next_integration
        ELSE (SELECT min(a.starts_at) FROM appointments a WHERE a.patient_id = u.id AND a.kind = 'integration'
            AND a.cancelled_at IS NULL AND a.starts_at >= :now)
    END AS next_integration,
    CASE WHEN s.next_session_as_of <= :now AND (s.next_session IS NULL OR s.next_session >= :now)
        THEN s.next_session
        ELSE (SELECT min(k.scheduled_for) FROM kap_sessions k WHERE k.patient_id = u.id AND k.cancelled_at IS NULL
            AND k.scheduled_for >= :now)
    END AS next_session,
    s.phq9_first, s.phq9_latest, s.phq9_latest_date, s.gad7_first, s.gad7_latest, s.gad7_latest_date
FROM care_team c CROSS JOIN users u ON u.id = c.patient_id CROSS JOIN days d ON d.timezone = u.timezone
    LEFT JOIN patient_summaries s ON s.patient_id = u.id
    LEFT JOIN review_watermarks w ON w.therapist_id = :therapist_id AND w.patient_id = u.id
WHERE c.therapist_id = :therapist_id AND u.clinic_id = :clinic_id AND u.role = 'patient'
"""  # noqa: S608 - VISIBLE is a constant


# The whole caseload as one row, a JSON array of CASELOAD's rows: the sqlite3 module hands the GIL back and
# forth between this thread and the event loop at every row of a result, and under load fifty hand-overs
# cost more than the row values. JSON writes a float with 15 digits, so the averages travel as text with 17
# (enough to read back the very same float); scores are whole numbers.
CASELOAD_PACKED = f"""
SELECT json_group_array(json_array(id, display_name, open_flags, open_high_flags, last_checkin_at,
    CASE WHEN mood_week IS NOT NULL THEN printf('%!.17g', mood_week) END,
    CASE WHEN mood_prev_week IS NOT NULL THEN printf('%!.17g', mood_prev_week) END,
    unreviewed, next_integration, next_session, phq9_first, phq9_latest, phq9_latest_date, gad7_first, gad7_latest,
    gad7_latest_date))
FROM ({CASELOAD})
"""  # noqa: S608 - a constant


async def caseload_rows(
    db: Database, *, therapist_id: str, clinic_id: int, now: str, days_json: Callable[[list[str]], str]
) -> list[list[Any]]:
    """The caseload as lists in CASELOAD's column order, the two averages as text (see CASELOAD_PACKED).

    ``days_json`` turns the patients' time zones into CASELOAD's ``days``. Both statements in one read
    transaction (a patient joining the team in between would otherwise find no days of their time zone)."""
    params: dict[str, Any] = {"therapist_id": therapist_id, "clinic_id": clinic_id, "now": now}

    def read(conn: sqlite3.Connection) -> list[list[Any]]:
        cursor = conn.cursor()
        cursor.row_factory = None
        zones = [zone for (zone,) in cursor.execute(TEAM_ZONES, params)]
        (packed,) = cursor.execute(CASELOAD_PACKED, {**params, "days": days_json(zones)}).fetchone()
        rows: list[list[Any]] = json.loads(packed)
        return rows

    return await db.read(read)


# --- the integration brief --------------------------------------------------------------------------

ENTRY_COLUMNS = (
    "e.id, e.patient_id, e.kind, e.subkind, e.kap_session_id, e.sharing, e.status, e.local_date, e.timezone,"
    " e.body, e.body_hash, e.version, e.created_at, e.updated_at"
)


# What the patient shared in the window, plus the intentions of sessions in it (read beside their
# integration reflection, however long before they were written), each with the version of it this therapist
# last marked reviewed. Two ranges rather than one OR: with the OR, SQLite read every entry the patient ever
# wrote. The intentions are found by session (entries_session), never by walking the patient's history.
BRIEF_ENTRIES = f"""
SELECT {ENTRY_COLUMNS}, r.version AS reviewed_version FROM (
    SELECT e.rowid AS entry_rowid FROM entries e
    WHERE e.patient_id = :patient_id AND e.local_date >= :first_day AND {VISIBLE}
    UNION ALL
    SELECT e.rowid FROM entries e
    WHERE e.kap_session_id IN (
        SELECT kap_session_id FROM entries WHERE patient_id = :patient_id AND local_date >= :first_day)
        AND +e.patient_id = :patient_id AND +e.local_date < :first_day AND e.subkind = 'intention' AND {VISIBLE}
) w CROSS JOIN entries e ON e.rowid = w.entry_rowid
LEFT JOIN entry_reviews r ON r.therapist_id = :therapist_id AND r.entry_id = e.id
ORDER BY e.local_date, e.created_at
"""  # noqa: S608 - VISIBLE is a constant

# The questionnaires of the window with the patient's first score of the same instrument (the baseline,
# one seek in entries_visible_score_values), and the severity the scoring stored: not every questionnaire
# of the year, and no JSON body parsed in Python.
BRIEF_SCORES = f"""
SELECT e.id, e.subkind AS instrument, e.score, e.local_date, e.body ->> '$.severity' AS severity,
    (SELECT b.score FROM entries b WHERE b.patient_id = e.patient_id AND b.kind = 'questionnaire'
        AND b.subkind = e.subkind AND {team_visible("b")} ORDER BY b.local_date, b.created_at LIMIT 1) AS baseline
FROM entries e
WHERE e.patient_id = :patient_id AND e.kind = 'questionnaire' AND e.local_date >= :first_day AND {VISIBLE}
ORDER BY e.local_date, e.created_at
"""  # noqa: S608 - VISIBLE is a constant

# Average mood and anxiety per local day of the window, from what the patient shared: kept per day in
# daily_moods (0014), so no check-in's row is read. A day without an anxiety has none (NULL), as avg() gave.
BRIEF_MOOD = (
    "SELECT local_date, round(CAST(mood_total AS REAL) / moods, 1) AS mood,"
    " round(CAST(anxiety_total AS REAL) / anxieties, 1) AS anxiety, checkins FROM daily_moods"
    " WHERE patient_id = :patient_id AND local_date BETWEEN :first_day AND :last_day ORDER BY local_date"
)

# Appointments and sessions still to come (sessions numbered over the whole course first).
BRIEF_UPCOMING = (
    f"SELECT * FROM ({course_queries.PATIENT_EVENTS})"  # noqa: S608 - a constant
    " WHERE cancelled_at IS NULL AND starts_at >= :until ORDER BY starts_at"
)


class BriefRows(NamedTuple):
    entries: list[sqlite3.Row]
    sessions: list[sqlite3.Row]
    mood: list[sqlite3.Row]
    flags: list[sqlite3.Row]
    scores: list[sqlite3.Row]
    upcoming: list[sqlite3.Row]


async def brief_rows(
    db: Database, *, therapist_id: str, patient_id: str, since: str, until: str, since_date: str, today: str
) -> BriefRows:
    """Everything the brief shows of a patient, in one read (``Database.read``; this was eight hops), so the
    parts agree with each other."""
    params = {
        "therapist_id": therapist_id,
        "patient_id": patient_id,
        "since": since,
        "until": until,
        # The window's first and last local days.
        "first_day": since_date,
        "last_day": today,
    }

    def read(conn: sqlite3.Connection) -> BriefRows:
        return BriefRows(
            entries=conn.execute(BRIEF_ENTRIES, params).fetchall(),
            sessions=conn.execute(f"{course_queries.SESSION_SELECT} ORDER BY scheduled_for", (patient_id,)).fetchall(),
            mood=conn.execute(BRIEF_MOOD, params).fetchall(),
            flags=conn.execute(measure_queries.BRIEF_FLAGS, params).fetchall(),
            scores=conn.execute(BRIEF_SCORES, params).fetchall(),
            upcoming=conn.execute(BRIEF_UPCOMING, params).fetchall(),
        )

    return await db.read(read)


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
