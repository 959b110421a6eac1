"""All SQL of the admin feature. Every query is scoped to the admin's clinic."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite

from server.db import Database, fetch_one

# --- people and care teams -----------------------------------------------------------------------------


async def users(db: Database, clinic_id: int) -> list[sqlite3.Row]:
    return await db.fetch_all(
        "SELECT u.id, u.role, u.email, u.display_name, u.created_at, u.disabled_at,"
        " (SELECT group_concat(t.display_name || CASE WHEN t.disabled_at IS NULL THEN '' ELSE ' (disabled)' END,"
        "   ', ') FROM care_team c JOIN users t ON t.id = c.therapist_id WHERE c.patient_id = u.id) AS care_team,"
        " (SELECT count(*) FROM care_team c JOIN users t ON t.id = c.therapist_id"
        "   WHERE c.patient_id = u.id AND t.disabled_at IS NULL) AS active_therapists,"
        " (SELECT count(*) FROM care_team c WHERE c.therapist_id = u.id) AS patient_count"
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
        "SELECT u.id, u.email, u.display_name, u.disabled_at,"
        " (SELECT count(*) FROM care_team c WHERE c.therapist_id = u.id) AS patient_count"
        " FROM users u WHERE u.clinic_id = ? AND u.role = 'therapist' ORDER BY u.display_name COLLATE NOCASE",
        (clinic_id,),
    )


async def patients_of_therapist(db: Database, clinic_id: int, therapist_id: str) -> list[sqlite3.Row]:
    return await db.fetch_all(
        "SELECT u.id, u.email, u.display_name, u.disabled_at, c.added_at FROM care_team c"
        " JOIN users u ON u.id = c.patient_id WHERE c.therapist_id = ? AND u.clinic_id = ?"
        " ORDER BY u.display_name COLLATE NOCASE",
        (therapist_id, clinic_id),
    )


async def care_team(db: Database, patient_id: str) -> list[sqlite3.Row]:
    return await db.fetch_all(
        "SELECT t.id, t.email, t.display_name, t.disabled_at, c.added_at FROM care_team c"
        " JOIN users t ON t.id = c.therapist_id WHERE c.patient_id = ? ORDER BY t.display_name COLLATE NOCASE",
        (patient_id,),
    )


async def remove_from_care_team(conn: aiosqlite.Connection, patient_id: str, therapist_id: str) -> bool:
    cursor = await conn.execute(
        "DELETE FROM care_team WHERE patient_id = ? AND therapist_id = ?", (patient_id, therapist_id)
    )
    return cursor.rowcount == 1


# --- clinic settings -------------------------------------------------------------------------------------

CLINIC_COLUMNS = "id, name, crisis_lines, missed_checkin_days, schedule_defaults, mfa_required_for_clinicians"


async def clinic(db: Database, clinic_id: int) -> sqlite3.Row | None:
    return await db.fetch_one(f"SELECT {CLINIC_COLUMNS} FROM clinics WHERE id = ?", (clinic_id,))  # noqa: S608


async def clinic_for_update(conn: aiosqlite.Connection, clinic_id: int) -> sqlite3.Row | None:
    return await fetch_one(conn, f"SELECT {CLINIC_COLUMNS} FROM clinics WHERE id = ?", (clinic_id,))  # noqa: S608


async def save_clinic(conn: aiosqlite.Connection, clinic_id: int, values: dict[str, Any]) -> None:
    await conn.execute(
        "UPDATE clinics SET name = :name, crisis_lines = :crisis_lines, missed_checkin_days = :missed_checkin_days,"
        " schedule_defaults = :schedule_defaults, mfa_required_for_clinicians = :mfa_required_for_clinicians"
        " WHERE id = :id",
        {**values, "id": clinic_id},
    )


async def schedule_defaults_of_patient(db: Database, patient_id: str) -> str | None:
    """The questionnaire schedule defaults (JSON) of the patient's own clinic."""
    row = await db.fetch_one(
        "SELECT c.schedule_defaults FROM users u JOIN clinics c ON c.id = u.clinic_id WHERE u.id = ?", (patient_id,)
    )
    return None if row is None else str(row["schedule_defaults"])


# --- prompt sets -----------------------------------------------------------------------------------------


async def prompt_sets(db: Database) -> list[sqlite3.Row]:
    """Every version of every kind, newest first within a kind; ``current`` marks what new entries use
    (the same rule as the journal's: the highest active version of the kind)."""
    return await db.fetch_all(
        "SELECT p.id, p.kind, p.version, p.title, p.intro, p.created_at,"
        " p.active = 1 AND p.version = (SELECT max(version) FROM prompt_sets q WHERE q.kind = p.kind AND q.active = 1)"
        "  AS current"
        " FROM prompt_sets p ORDER BY p.kind, p.version DESC"
    )


async def prompts(db: Database, prompt_set_ids: Sequence[str]) -> list[sqlite3.Row]:
    if not prompt_set_ids:
        return []
    marks = ", ".join("?" for _ in prompt_set_ids)
    return await db.fetch_all(
        "SELECT prompt_set_id, prompt_id, text, hint FROM prompts"  # noqa: S608 - placeholders only
        f" WHERE prompt_set_id IN ({marks}) ORDER BY prompt_set_id, position",
        tuple(prompt_set_ids),
    )


async def next_prompt_set_version(conn: aiosqlite.Connection, kind: str) -> int:
    row = await fetch_one(conn, "SELECT coalesce(max(version), 0) + 1 AS next FROM prompt_sets WHERE kind = ?", (kind,))
    return 1 if row is None else int(row["next"])


async def prompt_set_exists(conn: aiosqlite.Connection, prompt_set_id: str) -> bool:
    return await fetch_one(conn, "SELECT 1 FROM prompt_sets WHERE id = ?", (prompt_set_id,)) is not None


async def insert_prompt_set(conn: aiosqlite.Connection, values: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO prompt_sets (id, kind, version, title, intro, active, created_at)"
        " VALUES (:id, :kind, :version, :title, :intro, 1, :created_at)",
        values,
    )


async def insert_prompts(conn: aiosqlite.Connection, prompt_set_id: str, rows: Sequence[tuple[str, str, str]]) -> None:
    await conn.executemany(
        "INSERT INTO prompts (prompt_set_id, position, prompt_id, text, hint) VALUES (?, ?, ?, ?, ?)",
        [(prompt_set_id, position, *row) for position, row in enumerate(rows, start=1)],
    )


# --- the audit trail -------------------------------------------------------------------------------------

_AUDIT_SELECT = (
    "SELECT a.id, a.at, a.actor_id, a.actor_role, a.action, a.patient_id, a.object_type, a.object_id,"
    " a.client_address, a.detail, actor.display_name AS actor_name, patient.display_name AS patient_name"
    " FROM audit_log a LEFT JOIN users actor ON actor.id = a.actor_id"
    " LEFT JOIN users patient ON patient.id = a.patient_id"
)
# A row belongs to the clinic of whoever acted or of the patient it names. Rows naming no account at all
# (a sign-in attempt for an unknown address, the first-run set-up) belong to the server, and one server
# is one clinic, so its admin sees those too.
_CLINIC_SCOPE = "(actor.clinic_id = ? OR patient.clinic_id = ? OR (actor.id IS NULL AND patient.id IS NULL))"


def _audit_where(
    clinic_id: int,
    *,
    actor_id: str | None,
    patient_id: str | None,
    action: str | None,
    exact: bool,
    at_from: str | None,
    at_before: str | None,
    before_id: int | None,
) -> tuple[str, list[Any]]:
    clauses: list[str] = [_CLINIC_SCOPE]
    params: list[Any] = [clinic_id, clinic_id]
    if actor_id:
        clauses.append("a.actor_id = ?")
        params.append(actor_id)
    if patient_id:
        clauses.append("a.patient_id = ?")
        params.append(patient_id)
    if action and exact:
        clauses.append("a.action = ?")
        params.append(action)
    elif action:
        # substr, not LIKE: action names contain "_", which LIKE would take as a wildcard.
        clauses.append("substr(a.action, 1, ?) = ?")
        params += [len(action), action]
    if at_from:
        clauses.append("a.at >= ?")
        params.append(at_from)
    if at_before:
        clauses.append("a.at < ?")
        params.append(at_before)
    if before_id is not None:
        clauses.append("a.id < ?")
        params.append(before_id)
    return " WHERE " + " AND ".join(clauses), params


async def audit_rows(
    db: Database,
    clinic_id: int,
    *,
    actor_id: str | None = None,
    patient_id: str | None = None,
    action: str | None = None,
    exact: bool = False,
    at_from: str | None = None,
    at_before: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[sqlite3.Row]:
    """The clinic's audit rows matching the filters, newest first. ``at_from`` is inclusive, ``at_before``
    exclusive (both stored-format UTC text); ``before_id`` pages back from a row id."""
    where, params = _audit_where(
        clinic_id,
        actor_id=actor_id,
        patient_id=patient_id,
        action=action,
        exact=exact,
        at_from=at_from,
        at_before=at_before,
        before_id=before_id,
    )
    return await db.fetch_all(f"{_AUDIT_SELECT}{where} ORDER BY a.id DESC LIMIT ?", (*params, limit))
