"""Admin operations: disable and enable accounts, care-team membership. Each one audited."""

from __future__ import annotations

from litestar.exceptions import NotFoundException

from server.accounts import queries as account_queries
from server.admin import queries
from server.clock import Clock, iso
from server.db import Database
from server.errors import ConflictError
from server.security import audit
from server.security.audit import Actor
from server.security.reach import patient_in_reach
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


async def _therapist(db: Database, admin: CurrentUser, therapist_id: str) -> None:
    therapist = await queries.user_in_clinic(db, admin.clinic_id, therapist_id)
    if therapist is None or therapist["role"] != "therapist":
        raise NotFoundException("No such therapist.")


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
