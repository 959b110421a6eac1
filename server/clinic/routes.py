"""The therapist's home: their patients and the invitations they sent."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo

import msgspec
from litestar import Controller, Request, get, patch, post, put
from litestar.exceptions import HTTPException, NotFoundException, PermissionDeniedException
from litestar.params import Parameter
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from server.accounts import queries as account_queries
from server.accounts import service as accounts
from server.clinic import brief_view, caseload_view, queries
from server.clinic import service as workspace
from server.clinic.schemas import (
    Brief,
    Caseload,
    NoteIn,
    NoteList,
    NoteOut,
    PatientSummary,
    ReviewIn,
    ReviewOut,
    SearchIn,
    SearchResults,
)
from server.clock import Clock, iso, parse_iso
from server.course import queries as course_queries
from server.course import service as course
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
from server.errors import FieldError, field_errors
from server.journal import service as journal
from server.journal.forms import convert_form
from server.journal.schemas import EntryList, SafetyPlanIn, SafetyPlanOut
from server.measures import flags
from server.measures import service as measures
from server.measures.schemas import Acknowledgement, FlagList, FlagOut, ScheduleIn
from server.security.audit import Actor, record_read
from server.security.auth import signed_in, therapists_only
from server.security.reach import PatientRef, patient_in_reach
from server.security.sessions import CurrentUser
from server.settings import Settings
from server.web import form_fields, page, redirect, safe_next

CaseloadFilter = Literal["flagged", "unreviewed", "today", "week"]
WeekDays = Annotated[int, Parameter(ge=1, le=31)]
SEARCH_MAX = 200


T = TypeVar("T")


class PatientsApi(Controller):
    path = "/api/v1/patients"
    guards = [therapists_only]
    tags = ["clinic"]

    @get("/", description="The caseload: open flags first, then by next appointment.")
    async def list_patients(
        self, user: CurrentUser, actor: Actor, db: Database, clock: Clock, filter: CaseloadFilter | None = None
    ) -> Caseload:
        rows = await _audited(db, clock, actor, "caseload.viewed", workspace.caseload(db, clock, user))
        if filter:
            rows = workspace.filter_caseload(rows, filter, clock.now(), await _clinic_zone(db, user))
        return Caseload(items=rows)

    @get("/{patient_id:str}/brief", description="The integration brief; since: YYYY-MM-DD (default: last appointment)")
    async def brief(
        self, patient_id: str, user: CurrentUser, actor: Actor, db: Database, clock: Clock, since: str | None = None
    ) -> Brief:
        return await _brief(db, clock, user, actor, patient_id, since)

    @post("/{patient_id:str}/reviewed", status_code=HTTP_200_OK)
    async def reviewed(
        self, patient_id: str, data: ReviewIn, user: CurrentUser, actor: Actor, db: Database, clock: Clock
    ) -> ReviewOut:
        patient = await patient_in_reach(db, user, patient_id)
        marked = await workspace.mark_reviewed(
            db, clock, therapist=user, actor=actor, patient_id=patient.id, up_to=data.up_to, entry_ids=data.entry_ids
        )
        return ReviewOut(marked=marked)

    @get("/{patient_id:str}/appointments")
    async def appointments(
        self, patient_id: str, user: CurrentUser, actor: Actor, db: Database, clock: Clock
    ) -> AppointmentList:
        patient = await _patient_read(db, clock, user, actor, patient_id, "appointments.viewed")
        return await course.patient_appointments(db, patient.id)

    @post("/{patient_id:str}/appointments", status_code=HTTP_201_CREATED)
    async def create_appointment(
        self, patient_id: str, data: AppointmentIn, user: CurrentUser, actor: Actor, db: Database, clock: Clock
    ) -> AppointmentOut:
        patient = await patient_in_reach(db, user, patient_id)
        return await course.create_appointment(db, clock, patient_id=patient.id, actor=actor, data=data)

    @get("/{patient_id:str}")
    async def patient(
        self, patient_id: str, user: CurrentUser, actor: Actor, db: Database, clock: Clock
    ) -> PatientSummary:
        patient = await _patient_read(db, clock, user, actor, patient_id, "patient.viewed")
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
        patient = await _patient_read(db, clock, user, actor, patient_id, "safety_plan.viewed")
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
        patient = await _patient_read(db, clock, user, actor, patient_id, "kap_sessions.viewed")
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
        patient = await _patient_read(db, clock, user, actor, patient_id, "schedule.viewed")
        return msgspec.convert(msgspec.to_builtins(await measures.schedule_settings(db, patient.id)), ScheduleIn)

    @put("/{patient_id:str}/questionnaire-schedule", status_code=HTTP_200_OK)
    async def save_questionnaire_schedule(
        self, patient_id: str, data: ScheduleIn, user: CurrentUser, actor: Actor, db: Database, clock: Clock
    ) -> ScheduleIn:
        patient = await patient_in_reach(db, user, patient_id)
        await measures.save_schedule(db, clock, patient_id=patient.id, actor=actor, data=data)
        return data


async def _patient_read(
    db: Database, clock: Clock, user: CurrentUser, actor: Actor, patient_id: str, action: str
) -> PatientRef:
    """The patient, if in the therapist's reach (else 404), with the read written to the audit trail."""
    patient = await patient_in_reach(db, user, patient_id)
    await record_read(db, at=iso(clock.now()), actor=actor, action=action, patient_id=patient.id)
    return patient


async def _audited(
    db: Database, clock: Clock, actor: Actor, action: str, read: Awaitable[T], *, patient_id: str | None = None
) -> T:
    """``read`` with its audit row written at the same time: the row's commit waits on the disk while the
    read runs on a reader thread. Nothing is answered unless both succeed (a failed audit write fails the
    page); a read that fails after its row was written leaves a row for an attempt, which is still true."""
    _, result = await asyncio.gather(
        record_read(db, at=iso(clock.now()), actor=actor, action=action, patient_id=patient_id), read
    )
    return result


async def _brief(
    db: Database, clock: Clock, user: CurrentUser, actor: Actor, patient_id: str, since: str | None
) -> Brief:
    patient = await patient_in_reach(db, user, patient_id)
    read = workspace.brief(db, clock, therapist=user, patient=patient, since=since)
    return await _audited(db, clock, actor, "brief.viewed", read, patient_id=patient.id)


async def _clinic_zone(db: Database, user: CurrentUser) -> ZoneInfo:
    row = await db.lookup(queries.CLINIC_ZONE, (user.clinic_id,))
    return ZoneInfo(row["timezone"] if row else "UTC")


async def _event(db: Database, user: CurrentUser, event_id: str) -> tuple[str, str]:
    """(patient_id, source) of an appointment or session the therapist may reach; else the same 404 as
    for an id that does not exist."""
    owner = await course_queries.event_owner(db, event_id)
    try:
        if owner is None:
            raise NotFoundException
        await patient_in_reach(db, user, owner["patient_id"])
    except NotFoundException:
        raise NotFoundException(workspace.NO_APPOINTMENT) from None
    return str(owner["patient_id"]), str(owner["source"])


class AppointmentsApi(Controller):
    path = "/api/v1/appointments"
    tags = ["clinic"]

    @get("/", guards=[signed_in], description="Patients: their own. Therapists: their patients', from start for days.")
    async def list_appointments(
        self,
        user: CurrentUser,
        actor: Actor,
        db: Database,
        clock: Clock,
        start: date | None = None,
        days: WeekDays = 7,
    ) -> AppointmentList:
        if user.role == "patient":
            listing = await course.patient_appointments(db, user.id)
            now = iso(clock.now())
            return AppointmentList(items=[a for a in listing.items if a.starts_at >= now and not a.cancelled])
        if user.role != "therapist":
            raise PermissionDeniedException("This is not available for your account.")
        zone = await _clinic_zone(db, user)
        first = start or clock.now().astimezone(zone).date()
        begin = datetime(first.year, first.month, first.day, tzinfo=zone)
        listing = await course.week(db, user.id, begin, days)
        await record_read(db, at=iso(clock.now()), actor=actor, action="week.viewed")
        return listing

    @patch("/{appointment_id:str}", guards=[therapists_only])
    async def change(
        self, appointment_id: str, data: AppointmentChange, user: CurrentUser, actor: Actor, db: Database, clock: Clock
    ) -> AppointmentOut:
        patient_id, source = await _event(db, user, appointment_id)
        return await course.change_event(
            db, clock, event_id=appointment_id, source=source, patient_id=patient_id, actor=actor, data=data
        )

    @get("/{appointment_id:str}/notes", guards=[therapists_only])
    async def notes(self, appointment_id: str, user: CurrentUser, actor: Actor, db: Database, clock: Clock) -> NoteList:
        patient_id = (await workspace.appointment_in_reach(db, user, appointment_id)).id
        await record_read(
            db,
            at=iso(clock.now()),
            actor=actor,
            action="clinician_notes.viewed",
            patient_id=patient_id,
            object_type="appointment",
            object_id=appointment_id,
        )
        return NoteList(items=await workspace.notes(db, appointment_id))

    @post("/{appointment_id:str}/notes", guards=[therapists_only], status_code=HTTP_201_CREATED)
    async def add_note(
        self, appointment_id: str, data: NoteIn, user: CurrentUser, actor: Actor, db: Database, clock: Clock
    ) -> NoteOut:
        patient_id = (await workspace.appointment_in_reach(db, user, appointment_id)).id
        return await workspace.add_note(
            db, clock, appointment_id=appointment_id, patient_id=patient_id, actor=actor, body=data.body
        )


class FlagsApi(Controller):
    path = "/api/v1/flags"
    guards = [therapists_only]
    tags = ["clinic"]

    @get("/", description="Open flags of the therapist's patients, oldest first.")
    async def open_flags(self, user: CurrentUser, actor: Actor, db: Database, clock: Clock) -> FlagList:
        items = await flags.open_flags(db, user)
        await record_read(db, at=iso(clock.now()), actor=actor, action="flags.viewed")
        return FlagList(items=items)

    @post("/{flag_id:str}/acknowledge", status_code=HTTP_200_OK)
    async def acknowledge(
        self, flag_id: str, data: Acknowledgement, user: CurrentUser, actor: Actor, db: Database, clock: Clock
    ) -> FlagOut:
        return await flags.acknowledge(db, clock, therapist=user, actor=actor, flag_id=flag_id, note=data.note)


class SearchApi(Controller):
    path = "/api/v1/search"
    guards = [therapists_only]
    tags = ["clinic"]

    @post(
        "/",
        status_code=HTTP_200_OK,
        description="Full-text search over what the therapist's patients shared. The words go in the body,"
        " never the URL (proxies and browsers keep URLs).",
    )
    async def search(
        self, data: SearchIn, user: CurrentUser, actor: Actor, db: Database, clock: Clock
    ) -> SearchResults:
        results = await workspace.search(db, therapist=user, text=data.q)
        # The query itself is not recorded: a therapist may have typed a patient's words into it.
        await record_read(db, at=iso(clock.now()), actor=actor, action="search.performed")
        return results


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
        filter: str | None = None,
    ) -> Template:
        now = clock.now()
        rows, invitations = await _audited(
            db,
            clock,
            actor,
            "caseload.viewed",
            asyncio.gather(
                workspace.caseload(db, clock, user), account_queries.open_invitations_by(db, user.id, iso(now))
            ),
        )
        shown = workspace.filter_caseload(rows, filter, now, await _clinic_zone(db, user)) if filter else rows
        return page(
            request,
            "clinic/home.html",
            status=status,
            patients=shown,
            patient_rows=caseload_view.table_rows(shown, iso(now)),
            all_count=len(rows),
            filter=filter,
            open_flags=sum(r.open_flags for r in rows),
            invitations=invitations,
            error=error,
            invitation_url=invitation_url,
        )

    @get("/")
    async def home(
        self,
        request: Request[Any, Any, Any],
        user: CurrentUser,
        actor: Actor,
        db: Database,
        clock: Clock,
        filter: CaseloadFilter | None = None,
    ) -> Template:
        return await self._home(request, user, actor, db, clock, filter=filter)

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

    @get("/patients/{patient_id:str}")
    async def brief(
        self,
        request: Request[Any, Any, Any],
        patient_id: str,
        user: CurrentUser,
        actor: Actor,
        db: Database,
        clock: Clock,
        since: str | None = None,
    ) -> Template:
        result = await _brief(db, clock, user, actor, patient_id, since)
        return page(request, "clinic/brief.html", **brief_view.context(result), saved=request.query_params.get("saved"))

    @post("/patients/{patient_id:str}/reviewed")
    async def reviewed(
        self,
        request: Request[Any, Any, Any],
        patient_id: str,
        user: CurrentUser,
        actor: Actor,
        db: Database,
        clock: Clock,
    ) -> Redirect:
        patient = await patient_in_reach(db, user, patient_id)
        fields = await form_fields(request, "as_of", "since")
        up_to = _form_instant(fields["as_of"], "as_of")
        await workspace.mark_reviewed(
            db, clock, therapist=user, actor=actor, patient_id=patient.id, up_to=up_to, entry_ids=None
        )
        return redirect(f"/clinic/patients/{patient.id}?saved=reviewed")

    @post("/patients/{patient_id:str}/appointments")
    async def create_appointment(
        self,
        request: Request[Any, Any, Any],
        patient_id: str,
        user: CurrentUser,
        actor: Actor,
        db: Database,
        clock: Clock,
    ) -> Redirect:
        patient = await patient_in_reach(db, user, patient_id)
        fields = await form_fields(request, "kind", "starts_at", "route", "series", "dose_mg", "setting")
        zone = ZoneInfo(patient.timezone)
        values = {k: v for k, v in fields.items() if v}
        values["starts_at"] = _local_instant(fields["starts_at"], zone).isoformat()
        data = convert_form(values, AppointmentIn)
        await course.create_appointment(db, clock, patient_id=patient.id, actor=actor, data=data)
        return redirect(f"/clinic/patients/{patient.id}?saved=appointment")

    @post("/appointments/{appointment_id:str}/change")
    async def change_appointment(
        self,
        request: Request[Any, Any, Any],
        appointment_id: str,
        user: CurrentUser,
        actor: Actor,
        db: Database,
        clock: Clock,
    ) -> Redirect:
        patient_id, source = await _event(db, user, appointment_id)
        fields = await form_fields(request, "starts_at", "cancel", "back")
        patient = await patient_in_reach(db, user, patient_id)
        change = AppointmentChange(
            starts_at=_local_instant(fields["starts_at"], ZoneInfo(patient.timezone)) if fields["starts_at"] else None,
            cancelled=True if fields["cancel"] else None,
        )
        await course.change_event(
            db, clock, event_id=appointment_id, source=source, patient_id=patient_id, actor=actor, data=change
        )
        back = safe_next(fields["back"], f"/clinic/patients/{patient_id}")
        return redirect(back + ("&" if "?" in back else "?") + "saved=appointment")

    @get("/appointments/{appointment_id:str}")
    async def appointment(
        self,
        request: Request[Any, Any, Any],
        appointment_id: str,
        user: CurrentUser,
        actor: Actor,
        db: Database,
        clock: Clock,
    ) -> Template:
        patient = await workspace.appointment_in_reach(db, user, appointment_id)
        listing = await course.patient_appointments(db, patient.id)
        appointment = next(a for a in listing.items if a.id == appointment_id)
        await record_read(
            db,
            at=iso(clock.now()),
            actor=actor,
            action="clinician_notes.viewed",
            patient_id=patient.id,
            object_type="appointment",
            object_id=appointment_id,
        )
        return page(
            request,
            "clinic/appointment.html",
            patient=patient,
            appointment=appointment,
            notes=await workspace.notes(db, appointment_id),
            error=None,
        )

    @post("/appointments/{appointment_id:str}/notes")
    async def add_note(
        self,
        request: Request[Any, Any, Any],
        appointment_id: str,
        user: CurrentUser,
        actor: Actor,
        db: Database,
        clock: Clock,
    ) -> Redirect:
        patient_id = (await workspace.appointment_in_reach(db, user, appointment_id)).id
        fields = await form_fields(request, "body")
        data = convert_form({"body": fields["body"]}, NoteIn)
        await workspace.add_note(
            db, clock, appointment_id=appointment_id, patient_id=patient_id, actor=actor, body=data.body
        )
        return redirect(f"/clinic/appointments/{appointment_id}")

    @get("/flags")
    async def flags_page(
        self, request: Request[Any, Any, Any], user: CurrentUser, actor: Actor, db: Database, clock: Clock
    ) -> Template:
        items = await flags.open_flags(db, user)
        await record_read(db, at=iso(clock.now()), actor=actor, action="flags.viewed")
        return page(request, "clinic/flags.html", flags=items, labels=brief_view.FLAG_LABELS)

    @post("/flags/{flag_id:str}/acknowledge")
    async def acknowledge(
        self,
        request: Request[Any, Any, Any],
        flag_id: str,
        user: CurrentUser,
        actor: Actor,
        db: Database,
        clock: Clock,
    ) -> Redirect:
        fields = await form_fields(request, "note", "back")
        data = convert_form({"note": fields["note"]}, Acknowledgement)
        await flags.acknowledge(db, clock, therapist=user, actor=actor, flag_id=flag_id, note=data.note)
        return redirect(safe_next(fields["back"], "/clinic/flags"))

    @get("/week")
    async def week(
        self,
        request: Request[Any, Any, Any],
        user: CurrentUser,
        actor: Actor,
        db: Database,
        clock: Clock,
        start: date | None = None,
    ) -> Template:
        zone = await _clinic_zone(db, user)
        today = clock.now().astimezone(zone).date()
        first = start or today - timedelta(days=today.weekday())
        begin = datetime(first.year, first.month, first.day, tzinfo=zone)
        listing = await course.week(db, user.id, begin, 7)
        await record_read(db, at=iso(clock.now()), actor=actor, action="week.viewed")
        return page(
            request,
            "clinic/week.html",
            **brief_view.week_context(listing.items, first, zone, today),
        )

    @get("/search")
    async def search_form(self, request: Request[Any, Any, Any]) -> Template:
        return page(request, "clinic/search.html", q="", results=None)

    @post("/search", status_code=HTTP_200_OK)
    async def search(
        self, request: Request[Any, Any, Any], user: CurrentUser, actor: Actor, db: Database, clock: Clock
    ) -> Template:
        # Posted, not in the URL: the words may be a patient's own (proxies and browser history keep URLs).
        q = (await form_fields(request, "q"))["q"].strip()[:SEARCH_MAX]
        results = await workspace.search(db, therapist=user, text=q) if q else None
        if q:
            await record_read(db, at=iso(clock.now()), actor=actor, action="search.performed")
        return page(request, "clinic/search.html", q=q, results=results)


def _local_instant(text: str, zone: ZoneInfo) -> datetime:
    """A datetime-local form value, read in the patient's time zone."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise FieldError("starts_at", "Choose a date and time.") from None
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


def _form_instant(text: str, field: str) -> datetime:
    try:
        return parse_iso(text)
    except ValueError:
        raise FieldError(field, "This page was out of date; reload it and try again.") from None


# Registered by server.app; a feature adds its controllers here and nowhere else.
ROUTES = [PatientsApi, AppointmentsApi, FlagsApi, SearchApi, ClinicPages]
