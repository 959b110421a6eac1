"""The clinic admin's pages and API: accounts, care teams, the audit trail."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post, put
from litestar.exceptions import HTTPException
from litestar.params import Parameter
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_204_NO_CONTENT

from server.accounts import service as accounts
from server.admin import queries, service
from server.admin.schemas import AdminUser, AdminUserList, AuditList, AuditRow, TeamList, TeamMember
from server.clock import Clock, iso
from server.db import Database, connect_sync
from server.errors import field_errors
from server.security.audit import Actor, record_read, verify_chain
from server.security.auth import admins_only
from server.security.reach import patient_in_reach
from server.security.sessions import CurrentUser
from server.settings import Settings
from server.web import form_fields, page, redirect

AuditLimit = Annotated[int, Parameter(ge=1, le=500)]


async def _users(db: Database, clock: Clock, admin: CurrentUser, actor: Actor) -> list[AdminUser]:
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
        )
        for row in rows
    ]


async def _team(db: Database, patient_id: str) -> list[TeamMember]:
    return [
        TeamMember(id=r["id"], email=r["email"], display_name=r["display_name"], added_at=r["added_at"])
        for r in await queries.care_team(db, patient_id)
    ]


class AdminApi(Controller):
    path = "/api/v1/admin"
    guards = [admins_only]
    tags = ["admin"]

    @get("/users")
    async def users(self, user: CurrentUser, actor: Actor, db: Database, clock: Clock) -> AdminUserList:
        return AdminUserList(items=await _users(db, clock, user, actor))

    @post("/users/{user_id:str}/disable", status_code=HTTP_204_NO_CONTENT)
    async def disable(self, user_id: str, user: CurrentUser, actor: Actor, db: Database, clock: Clock) -> None:
        await service.set_disabled(db, clock, user, actor, user_id, disabled=True)

    @post("/users/{user_id:str}/enable", status_code=HTTP_204_NO_CONTENT)
    async def enable(self, user_id: str, user: CurrentUser, actor: Actor, db: Database, clock: Clock) -> None:
        await service.set_disabled(db, clock, user, actor, user_id, disabled=False)

    @get("/patients/{patient_id:str}/care-team")
    async def care_team(self, patient_id: str, user: CurrentUser, db: Database) -> TeamList:
        patient = await patient_in_reach(db, user, patient_id, administrative=True)
        return TeamList(items=await _team(db, patient.id))

    @put("/patients/{patient_id:str}/care-team/{therapist_id:str}", status_code=HTTP_204_NO_CONTENT)
    async def add_therapist(
        self, patient_id: str, therapist_id: str, user: CurrentUser, actor: Actor, db: Database, clock: Clock
    ) -> None:
        await service.add_to_care_team(db, clock, user, actor, patient_id, therapist_id)

    @delete("/patients/{patient_id:str}/care-team/{therapist_id:str}", status_code=HTTP_204_NO_CONTENT)
    async def remove_therapist(
        self, patient_id: str, therapist_id: str, user: CurrentUser, actor: Actor, db: Database, clock: Clock
    ) -> None:
        await service.remove_from_care_team(db, clock, user, actor, patient_id, therapist_id)

    @get("/audit")
    async def audit(self, db: Database, before: int | None = None, limit: AuditLimit = 100) -> AuditList:
        rows = await queries.audit_rows(db, before_id=before, limit=limit)
        return AuditList(
            items=[
                AuditRow(
                    id=r["id"],
                    at=r["at"],
                    actor_id=r["actor_id"],
                    actor_role=r["actor_role"],
                    action=r["action"],
                    patient_id=r["patient_id"],
                    object_type=r["object_type"],
                    object_id=r["object_id"],
                    client_address=r["client_address"],
                    detail=r["detail"],
                )
                for r in rows
            ]
        )


class AdminPages(Controller):
    path = "/admin"
    guards = [admins_only]
    include_in_schema = False

    async def _home(
        self,
        request: Request[Any, Any, Any],
        user: CurrentUser,
        actor: Actor,
        db: Database,
        clock: Clock,
        *,
        status: int = 200,
        error: str | None = None,
        invitation_url: str | None = None,
    ) -> Template:
        people = await _users(db, clock, user, actor)
        return page(
            request,
            "admin/home.html",
            status=status,
            people=people,
            error=error,
            invitation_url=invitation_url,
        )

    @get("/")
    async def home(
        self, request: Request[Any, Any, Any], user: CurrentUser, actor: Actor, db: Database, clock: Clock
    ) -> Template:
        return await self._home(request, user, actor, db, clock)

    @post("/invitations")
    async def invite(
        self,
        request: Request[Any, Any, Any],
        user: CurrentUser,
        actor: Actor,
        db: Database,
        clock: Clock,
        settings: Settings,
    ) -> Template:
        fields = await form_fields(request, "email", "display_name")
        try:
            invitation = await accounts.create_invitation(
                db, clock, user, actor, email=fields["email"][:254], display_name=fields["display_name"][:100]
            )
        except HTTPException as exc:
            errors = field_errors(exc)
            message = errors[0]["message"] if errors else str(exc.detail)
            return await self._home(request, user, actor, db, clock, status=exc.status_code, error=message)
        url = f"{settings.base_url}/invite/{invitation.token}"
        return await self._home(request, user, actor, db, clock, invitation_url=url)

    @post("/users/{user_id:str}/disable")
    async def disable(self, user_id: str, user: CurrentUser, actor: Actor, db: Database, clock: Clock) -> Redirect:
        await service.set_disabled(db, clock, user, actor, user_id, disabled=True)
        return redirect("/admin")

    @post("/users/{user_id:str}/enable")
    async def enable(self, user_id: str, user: CurrentUser, actor: Actor, db: Database, clock: Clock) -> Redirect:
        await service.set_disabled(db, clock, user, actor, user_id, disabled=False)
        return redirect("/admin")

    @get("/patients/{patient_id:str}")
    async def patient(
        self, request: Request[Any, Any, Any], patient_id: str, user: CurrentUser, db: Database
    ) -> Template:
        patient = await patient_in_reach(db, user, patient_id, administrative=True)
        team = await _team(db, patient.id)
        on_team = {member.id for member in team}
        others = [t for t in await queries.therapists(db, user.clinic_id) if t["id"] not in on_team]
        return page(request, "admin/patient.html", patient=patient, team=team, others=others)

    @post("/patients/{patient_id:str}/care-team")
    async def add_therapist(
        self,
        request: Request[Any, Any, Any],
        patient_id: str,
        user: CurrentUser,
        actor: Actor,
        db: Database,
        clock: Clock,
    ) -> Redirect:
        fields = await form_fields(request, "therapist_id")
        await service.add_to_care_team(db, clock, user, actor, patient_id, fields["therapist_id"][:64])
        return redirect(f"/admin/patients/{patient_id}")

    @post("/patients/{patient_id:str}/care-team/{therapist_id:str}/remove")
    async def remove_therapist(
        self, patient_id: str, therapist_id: str, user: CurrentUser, actor: Actor, db: Database, clock: Clock
    ) -> Redirect:
        await service.remove_from_care_team(db, clock, user, actor, patient_id, therapist_id)
        return redirect(f"/admin/patients/{patient_id}")

    @get("/audit")
    async def audit(
        self, request: Request[Any, Any, Any], db: Database, settings: Settings, before: int | None = None
    ) -> Template:
        rows = await queries.audit_rows(db, before_id=before, limit=100)
        checked, broken_at = await asyncio.to_thread(_verify, settings)
        return page(request, "admin/audit.html", rows=rows, checked=checked, broken_at=broken_at)


def _verify(settings: Settings) -> tuple[int, int | None]:
    conn = connect_sync(settings.database_path)
    try:
        return verify_chain(conn)
    finally:
        conn.close()


# Registered by server.app; a feature adds its controllers here and nowhere else.
ROUTES = [AdminApi, AdminPages]
