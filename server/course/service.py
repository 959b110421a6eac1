"""Recording ketamine sessions (therapist) and listing them (patient and care team)."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime, timedelta

from server.clock import Clock, iso
from server.course import queries
from server.course.schemas import (
    AppointmentChange,
    AppointmentIn,
    AppointmentList,
    AppointmentOut,
    KapSessionIn,
    KapSessionList,
    KapSessionOut,
)
from server.db import Database
from server.errors import FieldError
from server.security import audit
from server.security.audit import Actor


def session_out(row: sqlite3.Row) -> KapSessionOut:
    return KapSessionOut(
        id=row["id"],
        patient_id=row["patient_id"],
        scheduled_for=row["scheduled_for"],
        route=row["route"],
        series=row["series"],
        dose_mg=row["dose_mg"],
        setting=row["setting"],
        number=row["number"],
        cancelled=row["cancelled_at"] is not None,
    )


async def session_list(db: Database, clock: Clock, patient_id: str) -> KapSessionList:
    sessions = [session_out(r) for r in await queries.sessions_of(db, patient_id)]
    now = iso(clock.now())
    upcoming = [s for s in sessions if not s.cancelled and s.scheduled_for >= now]
    return KapSessionList(items=sessions, next=upcoming[0] if upcoming else None)


async def record_session(
    db: Database, clock: Clock, *, patient_id: str, actor: Actor, data: KapSessionIn
) -> KapSessionOut:
    if data.scheduled_for.tzinfo is None:
        raise FieldError("scheduled_for", "scheduled_for needs a time zone, like 2026-11-21T09:00:00-07:00.")
    session_id = str(uuid.uuid4())
    now = iso(clock.now())
    async with db.transaction() as conn:
        await queries.insert_session(
            conn,
            {
                "id": session_id,
                "patient_id": patient_id,
                "scheduled_for": iso(data.scheduled_for.astimezone(UTC)),
                "route": data.route,
                "dose_mg": data.dose_mg,
                "series": data.series,
                "setting": data.setting.strip(),
                "created_by": actor.user_id,
                "now": now,
            },
        )
        await audit.record(
            conn,
            at=now,
            actor=actor,
            action="kap_session.created",
            patient_id=patient_id,
            object_type="kap_session",
            object_id=session_id,
        )
    listing = await session_list(db, clock, patient_id)
    return next(s for s in listing.items if s.id == session_id)


def event_out(row: sqlite3.Row) -> AppointmentOut:
    return AppointmentOut(
        id=row["id"],
        patient_id=row["patient_id"],
        kind=row["kind"],
        starts_at=row["starts_at"],
        duration_minutes=row["duration_minutes"],
        cancelled=row["cancelled_at"] is not None,
        patient_name=row["patient_name"],
        route=row["route"],
        series=row["series"],
        dose_mg=row["dose_mg"],
        number=row["number"],
    )


def _aware(moment: datetime, field: str) -> datetime:
    if moment.tzinfo is None:
        raise FieldError(field, f"{field} needs a time zone, like 2026-11-21T09:00:00-07:00.")
    return moment.astimezone(UTC)


async def patient_appointments(db: Database, patient_id: str) -> AppointmentList:
    return AppointmentList(items=[event_out(r) for r in await queries.patient_events(db, patient_id)])


async def week(db: Database, therapist_id: str, start: datetime, days: int = 7) -> AppointmentList:
    rows = await queries.team_events(db, therapist_id, iso(start), iso(start + timedelta(days=days)))
    return AppointmentList(items=[event_out(r) for r in rows])


async def create_appointment(
    db: Database, clock: Clock, *, patient_id: str, actor: Actor, data: AppointmentIn
) -> AppointmentOut:
    starts_at = _aware(data.starts_at, "starts_at")
    if data.kind == "kap_session":
        if data.route is None or data.series is None:
            field = "route" if data.route is None else "series"
            raise FieldError(field, f"A ketamine session needs its {field}.")
        session = await record_session(
            db,
            clock,
            patient_id=patient_id,
            actor=actor,
            data=KapSessionIn(
                scheduled_for=starts_at,
                route=data.route,
                series=data.series,
                dose_mg=data.dose_mg,
                setting=data.setting,
            ),
        )
        return next(a for a in (await patient_appointments(db, patient_id)).items if a.id == session.id)
    appointment_id = str(uuid.uuid4())
    now = iso(clock.now())
    async with db.transaction() as conn:
        await queries.insert_appointment(
            conn,
            {
                "id": appointment_id,
                "patient_id": patient_id,
                "therapist_id": actor.user_id,
                "kind": data.kind,
                "starts_at": iso(starts_at),
                "duration_minutes": data.duration_minutes,
                "created_by": actor.user_id,
                "now": now,
            },
        )
        await audit.record(
            conn,
            at=now,
            actor=actor,
            action="appointment.created",
            patient_id=patient_id,
            object_type="appointment",
            object_id=appointment_id,
        )
    return next(a for a in (await patient_appointments(db, patient_id)).items if a.id == appointment_id)


async def change_event(
    db: Database, clock: Clock, *, event_id: str, source: str, patient_id: str, actor: Actor, data: AppointmentChange
) -> AppointmentOut:
    """Move or cancel (or un-cancel) an appointment or a ketamine session."""
    values: dict[str, object] = {
        "starts_at": iso(_aware(data.starts_at, "starts_at")) if data.starts_at else None,
        "duration_minutes": data.duration_minutes,
        "cancel": None if data.cancelled is None else int(data.cancelled),
        "now": iso(clock.now()),
    }
    async with db.transaction() as conn:
        if source == "appointment":
            await queries.change_appointment(conn, event_id, values)
        else:
            await queries.change_session(conn, event_id, values)
        action = "cancelled" if data.cancelled else "changed"
        await audit.record(
            conn,
            at=str(values["now"]),
            actor=actor,
            action=f"{source}.{action}",
            patient_id=patient_id,
            object_type=source,
            object_id=event_id,
        )
    return next(a for a in (await patient_appointments(db, patient_id)).items if a.id == event_id)
