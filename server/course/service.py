"""Recording ketamine sessions (therapist) and listing them (patient and care team)."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC

from server.clock import Clock, iso
from server.course import queries
from server.course.schemas import KapSessionIn, KapSessionList, KapSessionOut
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
