"""Admin operations on people: the clinic's accounts, therapists' caseloads, care-team membership.

Every change is audited in the transaction that makes it, and every read of people's data (who is in the
clinic, whose patient is whose) gets a row of its own, naming the patient where there is one.
"""

from __future__ import annotations

import sqlite3

from litestar.exceptions import NotFoundException

from server.accounts import queries as account_queries
from server.admin import queries
from server.admin.schemas import AdminUser, CaseloadPatient, TeamMember, TherapistOut
from server.clock import Clock, iso
from server.db import Database
from server.errors import ConflictError
from server.security import audit
from server.security.audit import Actor, record_read
from server.security.reach import PatientRef, patient_in_reach
from server.security.sessions import CurrentUser, end_all_sessions


async def set_disabled(
    db: Database, clock: Clock, admin: CurrentUser, actor: Actor, user_id: str, *, disabled: bool
) -> None:
    """Disable (ending every session of that account at once) or re-enable an account."""
    target = await queries.user_in_clinic(db, admin.clinic_id, user_id)
    if target is None:
        raise NotFoundException("No such account.")
    if target["id"] == admin.id:
        raise ConflictError("You cannot disable your own account. Ask another admin.")
    now = iso(clock.now())
    async with db.transaction() as conn:
        await queries.set_disabled(conn, user_id, now if disabled else None, now)
        if disabled:
            await end_all_sessions(conn, user_id)
        await audit.record(
            conn,
            at=now,
            actor=actor,
            action="account.disabled" if disabled else "account.enabled",
            patient_id=user_id if target["role"] == "patient" else None,
            object_type="user",
            object_id=user_id,
        )


async def _therapist(db: Database, admin: CurrentUser, therapist_id: str) -> sqlite3.Row:
    therapist = await queries.user_in_clinic(db, admin.clinic_id, therapist_id)
    if therapist is None or therapist["role"] != "therapist":
        raise NotFoundException("No such therapist.")
    return therapist


async def add_to_care_team(
    db: Database, clock: Clock, admin: CurrentUser, actor: Actor, patient_id: str, therapist_id: str
) -> None:
    patient = await patient_in_reach(db, admin, patient_id, administrative=True)
    await _therapist(db, admin, therapist_id)
    now = iso(clock.now())
    async with db.transaction() as conn:
        if await account_queries.add_to_care_team(conn, patient.id, therapist_id, admin.id, now):
            await audit.record(
                conn,
                at=now,
                actor=actor,
                action="care_team.added",
                patient_id=patient.id,
                object_type="user",
                object_id=therapist_id,
            )


async def remove_from_care_team(
    db: Database, clock: Clock, admin: CurrentUser, actor: Actor, patient_id: str, therapist_id: str
) -> None:
    patient = await patient_in_reach(db, admin, patient_id, administrative=True)
    now = iso(clock.now())
    async with db.transaction() as conn:
        if not await queries.remove_from_care_team(conn, patient.id, therapist_id):
            raise NotFoundException("That therapist is not on this patient's care team.")
        await audit.record(
            conn,
            at=now,
            actor=actor,
            action="care_team.removed",
            patient_id=patient.id,
            object_type="user",
            object_id=therapist_id,
        )


# --- reads (each one audited) ------------------------------------------------------------------------


async def users(db: Database, clock: Clock, admin: CurrentUser, actor: Actor) -> list[AdminUser]:
    rows = await queries.users(db, admin.clinic_id)
    await record_read(db, at=iso(clock.now()), actor=actor, action="admin.users.viewed")
    return [
        AdminUser(
            id=row["id"],
            role=row["role"],
            email=row["email"],
            display_name=row["display_name"],
            created_at=row["created_at"],
            disabled=row["disabled_at"] is not None,
            care_team=row["care_team"],
            active_therapists=row["active_therapists"],
            patient_count=row["patient_count"],
        )
        for row in rows
    ]


async def therapists(db: Database, clock: Clock, admin: CurrentUser, actor: Actor) -> list[TherapistOut]:
    rows = await queries.therapists(db, admin.clinic_id)
    await record_read(db, at=iso(clock.now()), actor=actor, action="admin.therapists.viewed")
    return [
        TherapistOut(
            id=r["id"],
            email=r["email"],
            display_name=r["display_name"],
            disabled=r["disabled_at"] is not None,
            patient_count=r["patient_count"],
        )
        for r in rows
    ]


async def caseload(
    db: Database, clock: Clock, admin: CurrentUser, actor: Actor, therapist_id: str
) -> tuple[TherapistOut, list[CaseloadPatient]]:
    """A therapist and the patients on their care teams: names and accounts, never what anyone wrote."""
    therapist = await _therapist(db, admin, therapist_id)
    rows = await queries.patients_of_therapist(db, admin.clinic_id, therapist_id)
    await record_read(
        db, at=iso(clock.now()), actor=actor, action="admin.caseload.viewed", object_type="user", object_id=therapist_id
    )
    patients = [
        CaseloadPatient(
            id=r["id"],
            email=r["email"],
            display_name=r["display_name"],
            disabled=r["disabled_at"] is not None,
            added_at=r["added_at"],
        )
        for r in rows
    ]
    summary = TherapistOut(
        id=therapist["id"],
        email=therapist["email"],
        display_name=therapist["display_name"],
        disabled=therapist["disabled_at"] is not None,
        patient_count=len(patients),
    )
    return summary, patients


async def care_team(
    db: Database, clock: Clock, admin: CurrentUser, actor: Actor, patient_id: str
) -> tuple[PatientRef, list[TeamMember]]:
    patient = await patient_in_reach(db, admin, patient_id, administrative=True)
    rows = await queries.care_team(db, patient.id)
    await record_read(db, at=iso(clock.now()), actor=actor, action="admin.care_team.viewed", patient_id=patient.id)
    team = [
        TeamMember(
            id=r["id"],
            email=r["email"],
            display_name=r["display_name"],
            added_at=r["added_at"],
            disabled=r["disabled_at"] is not None,
        )
        for r in rows
    ]
    return patient, team
