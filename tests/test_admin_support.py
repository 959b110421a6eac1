"""Helpers for the admin tests (this module holds no tests): a second clinic on the same server, and
snapshots of the tables an admin can change."""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any

from server.clock import iso
from server.db import connect_sync
from server.settings import Settings
from tests.conftest import FrozenClock, Person, password_hash, query


class OtherClinic:
    """A second clinic: its admin, a therapist and a patient on that therapist's care team."""

    def __init__(self, clinic_id: int, admin: Person, therapist: Person, patient: Person) -> None:
        self.clinic_id, self.admin, self.therapist, self.patient = clinic_id, admin, therapist, patient


def add_clinic(settings: Settings, clock: FrozenClock, name: str = "Other Clinic") -> OtherClinic:
    """Insert a second clinic after ``people`` has created the first (and migrated the database)."""
    now = iso(clock.now())
    conn = connect_sync(settings.database_path)
    try:
        # Copy every other column of the first clinic, so settings added by later migrations (say, whether
        # clinicians need a second factor) match the clinic the shared fixtures set up for signing in.
        columns = [
            row["name"] for row in conn.execute("PRAGMA table_info(clinics)") if row["name"] not in ("id", "name")
        ]
        listed = ", ".join(columns)
        cursor = conn.execute(
            f"INSERT INTO clinics (name, {listed}) SELECT ?, {listed} FROM clinics ORDER BY id LIMIT 1", (name,)
        )
        clinic_id = int(cursor.lastrowid or 0)
        people = [
            Person(str(uuid.uuid4()), role, f"{role}@other.test", f"Other {role.title()}")
            for role in ("admin", "therapist", "patient")
        ]
        for person in people:
            insert_user(conn, person, clinic_id, now)
        conn.execute(
            "INSERT INTO care_team (patient_id, therapist_id, added_at) VALUES (?, ?, ?)",
            (people[2].id, people[1].id, now),
        )
    finally:
        conn.close()
    return OtherClinic(clinic_id, *people)


def insert_user(conn: sqlite3.Connection, person: Person, clinic_id: int, now: str) -> None:
    conn.execute(
        "INSERT INTO users (id, clinic_id, role, email, display_name, password_hash, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (person.id, clinic_id, person.role, person.email, person.name, password_hash(), now, now),
    )


def add_patient(settings: Settings, clock: FrozenClock, name: str, clinic_id: int = 1) -> Person:
    person = Person(str(uuid.uuid4()), "patient", f"{uuid.uuid4().hex[:10]}@clinic.test", name)
    conn = connect_sync(settings.database_path)
    try:
        insert_user(conn, person, clinic_id, iso(clock.now()))
    finally:
        conn.close()
    return person


def rows(settings: Settings, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows as plain tuples, to compare a table before and after."""
    return [tuple(row) for row in query(settings, sql, params)]


def audit_count(settings: Settings, action: str | None = None) -> int:
    if action is None:
        return int(query(settings, "SELECT count(*) AS n FROM audit_log")[0]["n"])
    return int(query(settings, "SELECT count(*) AS n FROM audit_log WHERE action = ?", (action,))[0]["n"])


def last_audit(settings: Settings) -> sqlite3.Row:
    return query(settings, "SELECT * FROM audit_log ORDER BY id DESC LIMIT 1")[0]
