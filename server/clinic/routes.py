"""The therapist's home: their patients and the invitations they sent."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get, post, put
from litestar.exceptions import HTTPException
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from server.accounts import queries as account_queries
from server.accounts import service as accounts
from server.clinic import queries
from server.clinic.schemas import PatientList, PatientSummary
from server.clock import Clock, iso
from server.course import service as course
from server.course.schemas import KapSessionIn, KapSessionList, KapSessionOut
from server.db import Database
from server.errors import field_errors
from server.journal import service as journal
from server.journal.schemas import EntryList, SafetyPlanIn, SafetyPlanOut
from server.measures import service as measures
from server.measures.schemas import ScheduleIn
from server.security.audit import Actor, record_read
from server.security.auth import therapists_only
from server.security.reach import patient_in_reach
from server.security.sessions import CurrentUser
from server.settings import Settings
from server.web import form_fields, page, redirect


async def _patients(db: Database, clock: Clock, user: CurrentUser, actor: Actor) -> list[PatientSummary]:
    rows = await queries.care_team_patients(db, user.id, user.clinic_id)
    await record_read(db, at=iso(clock.now()), actor=actor, action="caseload.viewed")
    return [
        PatientSummary(
            id=r["id"],
            display_name=r["display_name"],
            email=r["email"],
            timezone=r["timezone"],
            disabled=r["disabled_at"] is not None,
        )
        for r in rows
    ]


class PatientsApi(Controller):
    path = "/api/v1/patients"
    guards = [therapists_only]
    tags = ["clinic"]

    @get("/")
    async def list_patients(self, user: CurrentUser, actor: Actor, db: Database, clock: Clock) -> PatientList:
        return PatientList(items=await _patients(db, clock, user, actor))

    @get("/{patient_id:str}")
    async def patient(
        self, patient_id: str, user: CurrentUser, actor: Actor, db: Database, clock: Clock
    ) -> PatientSummary:
        patient = await patient_in_reach(db, user, patient_id)
        await record_read(db, at=iso(clock.now()), actor=actor, action="patient.viewed", patient_id=patient.id)
        return PatientSummary(
            id=patient.id,
            display_name=patient.display_name,
            email=patient.email,
            timezone=patient.timezone,
            disabled=patient.disabled,
        )

    @get("/{patient_id:str}/entries")
    async def entries(
        self,
        patient_id: str,
        user: CurrentUser,
        actor: Actor,
        db: Database,
        clock: Clock,
        since: str | None = None,
        until: str | None = None,
    ) -> EntryList:
        """Only what the patient shared (or marked to discuss), and only finished entries."""
        patient = await patient_in_reach(db, user, patient_id)
        items = await journal.list_entries(
            db, patient_id=patient.id, kind=None, since=since, until=until, team_view=True
        )
        await record_read(db, at=iso(clock.now()), actor=actor, action="entries.viewed", patient_id=patient.id)
        return EntryList(items=items)

    @get("/{patient_id:str}/safety-plan")
    async def safety_plan(
        self, patient_id: str, user: CurrentUser, actor: Actor, db: Database, clock: Clock
    ) -> SafetyPlanOut:
        patient = await patient_in_reach(db, user, patient_id)
        await record_read(db, at=iso(clock.now()), actor=actor, action="safety_plan.viewed", patient_id=patient.id)
        return await journal.safety_plan(db, patient.id)

    @put("/{patient_id:str}/safety-plan", status_code=HTTP_200_OK)
    async def save_safety_plan(
        self, patient_id: str, data: SafetyPlanIn, user: CurrentUser, actor: Actor, db: Database, clock: Clock
    ) -> SafetyPlanOut:
        patient = await patient_in_reach(db, user, patient_id)
        return await journal.save_safety_plan(
            db, clock, patient_id=patient.id, editor_id=user.id, actor=actor, plan=data, base_version=data.base_version
        )

    @get("/{patient_id:str}/kap-sessions")
    async def kap_sessions(
        self, patient_id: str, user: CurrentUser, actor: Actor, db: Database, clock: Clock
    ) -> KapSessionList:
        patient = await patient_in_reach(db, user, patient_id)
        await record_read(db, at=iso(clock.now()), actor=actor, action="kap_sessions.viewed", patient_id=patient.id)
        return await course.session_list(db, clock, patient.id)

    @post("/{patient_id:str}/kap-sessions", status_code=HTTP_201_CREATED)
    async def record_kap_session(
        self, patient_id: str, data: KapSessionIn, user: CurrentUser, actor: Actor, db: Database, clock: Clock
    ) -> KapSessionOut:
        patient = await patient_in_reach(db, user, patient_id)
        return await course.record_session(db, clock, patient_id=patient.id, actor=actor, data=data)

    @get("/{patient_id:str}/questionnaire-schedule")
    async def questionnaire_schedule(
        self, patient_id: str, user: CurrentUser, actor: Actor, db: Database, clock: Clock
    ) -> ScheduleIn:
        patient = await patient_in_reach(db, user, patient_id)
        await record_read(db, at=iso(clock.now()), actor=actor, action="schedule.viewed", patient_id=patient.id)
        return msgspec.convert(msgspec.to_builtins(await measures.schedule_settings(db, patient.id)), ScheduleIn)

    @put("/{patient_id:str}/questionnaire-schedule", status_code=HTTP_200_OK)
    async def save_questionnaire_schedule(
        self, patient_id: str, data: ScheduleIn, user: CurrentUser, actor: Actor, db: Database, clock: Clock
    ) -> ScheduleIn:
        patient = await patient_in_reach(db, user, patient_id)
        await measures.save_schedule(db, clock, patient_id=patient.id, actor=actor, data=data)
        return data


class ClinicPages(Controller):
    path = "/clinic"
    guards = [therapists_only]
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
        now = iso(clock.now())
        invitations = [
            {**dict(row), "status": accounts.invitation_status(row, now)}
            for row in await account_queries.invitations_by(db, user.id)
        ]
        return page(
            request,
            "clinic/home.html",
            status=status,
            patients=await _patients(db, clock, user, actor),
            invitations=[i for i in invitations if i["status"] == "pending"],
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

    @post("/invitations/{invitation_id:str}/revoke")
    async def revoke(self, invitation_id: str, user: CurrentUser, actor: Actor, db: Database, clock: Clock) -> Redirect:
        await accounts.revoke_invitation(db, clock, user, actor, invitation_id)
        return redirect("/clinic")


# Registered by server.app; a feature adds its controllers here and nowhere else.
ROUTES = [PatientsApi, ClinicPages]
