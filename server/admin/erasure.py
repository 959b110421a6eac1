"""Erasing a patient on request: every row of theirs in every table, the search index included,
overwritten on disk (secure_delete) and checkpointed out of the WAL. The audit trail keeps that an
erasure happened, and its earlier rows, which never held what the patient wrote: ids, actions, times.

The export is offered to the patient, not to the admin: private entries are never shown to anyone but
their author, so the admin's page tells them to ask the patient to download it first (History ->
Download everything) while they can still sign in.
"""

from __future__ import annotations

from typing import Annotated, Any

import aiosqlite
import msgspec
from litestar import Controller, Request, post
from litestar.exceptions import NotFoundException
from litestar.response import Redirect
from litestar.status_codes import HTTP_200_OK
from msgspec import Meta

from server.clock import Clock, iso
from server.db import Database, fetch_all
from server.errors import ConflictError, FieldError
from server.security import audit
from server.security.audit import Actor
from server.security.auth import admins_only
from server.security.reach import patient_in_reach
from server.security.sessions import CurrentUser
from server.web import form_fields, redirect

# The append-only trail is the one table with a patient_id that is kept (see the module docstring).
KEPT = {"audit_log"}


async def _tables_with_patient_id(conn: aiosqlite.Connection) -> list[str]:
    rows = await fetch_all(
        conn,
        "SELECT m.name FROM sqlite_master m, pragma_table_info(m.name) c"
        " WHERE m.type = 'table' AND c.name = 'patient_id' AND m.name NOT LIKE '%fts%' ORDER BY m.name",
    )
    return [r["name"] for r in rows if r["name"] not in KEPT]


async def erase_patient(db: Database, clock: Clock, *, admin: CurrentUser, actor: Actor, patient_id: str) -> int:
    """Remove the patient and everything of theirs. Returns how many rows went."""
    patient = await db.fetch_one(
        "SELECT id, email FROM users WHERE id = ? AND clinic_id = ? AND role = 'patient'", (patient_id, admin.clinic_id)
    )
    if patient is None:
        raise NotFoundException("No such patient.")
    now = iso(clock.now())
    removed = 0
    async with db.transaction() as conn:
        # Entries first, one by one through their triggers, so the search index forgets them too.
        for table in ["entries", *[t for t in await _tables_with_patient_id(conn) if t != "entries"]]:
            cursor = await conn.execute(f"DELETE FROM {table} WHERE patient_id = ?", (patient_id,))  # noqa: S608
            removed += max(cursor.rowcount, 0)
        email = patient["email"]
        for sql, params in (
            # Invitations and failed sign-ins hold the address, not the id.
            ("DELETE FROM invitations WHERE accepted_user_id = ? OR email = ?", (patient_id, email)),
            ("DELETE FROM login_failures WHERE email = ?", (email,)),
            ("DELETE FROM users WHERE id = ?", (patient_id,)),
        ):
            cursor = await conn.execute(sql, params)
            removed += max(cursor.rowcount, 0)
        if removed == 0:
            raise ConflictError("Nothing was erased.")
        # FTS5 keeps deleted tokens in old segments until they are merged: rewrite the index now.
        await conn.execute("INSERT INTO entries_fts (entries_fts) VALUES ('optimize')")
        await audit.record(
            conn, at=now, actor=actor, action="patient.erased", patient_id=patient_id, detail={"rows": removed}
        )
    await db.checkpoint()
    return removed


class EraseIn(msgspec.Struct, forbid_unknown_fields=True):
    """The patient's email address, typed again: erasure cannot be undone."""

    confirm_email: Annotated[str, Meta(min_length=1, max_length=254)]


class ErasedOut(msgspec.Struct):
    erased_rows: int


async def _checked(db: Database, admin: CurrentUser, patient_id: str, typed: str) -> None:
    patient = await patient_in_reach(db, admin, patient_id, administrative=True)
    if typed.strip().lower() != patient.email:
        raise FieldError("confirm_email", "Type the patient's email address exactly to confirm.")


class ErasureApi(Controller):
    path = "/api/v1/admin/patients/{patient_id:str}"
    guards = [admins_only]
    tags = ["admin"]

    @post("/erase", status_code=HTTP_200_OK)
    async def erase(
        self, patient_id: str, data: EraseIn, user: CurrentUser, actor: Actor, db: Database, clock: Clock
    ) -> ErasedOut:
        await _checked(db, user, patient_id, data.confirm_email)
        return ErasedOut(erased_rows=await erase_patient(db, clock, admin=user, actor=actor, patient_id=patient_id))


class ErasurePages(Controller):
    path = "/admin/patients/{patient_id:str}"
    guards = [admins_only]
    include_in_schema = False

    @post("/erase")
    async def erase(
        self,
        request: Request[Any, Any, Any],
        patient_id: str,
        user: CurrentUser,
        actor: Actor,
        db: Database,
        clock: Clock,
    ) -> Redirect:
        fields = await form_fields(request, "confirm_email")
        await _checked(db, user, patient_id, fields["confirm_email"][:254])
        await erase_patient(db, clock, admin=user, actor=actor, patient_id=patient_id)
        return redirect("/admin?erased=1")


ROUTES = [ErasureApi, ErasurePages]
