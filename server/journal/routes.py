"""The patient's pages: today, sessions, reflections, aftercare, questionnaires, history, safety plan,
settings and help. Forms post to these routes and go through the same service as the JSON API; each form
carries the entry's UUID, so a double submit is a replay, never a duplicate."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, available_timezones

import msgspec
from litestar import Controller, Request, get, post
from litestar.exceptions import HTTPException, NotFoundException
from litestar.response import Redirect, Template

from server.charts import DayValue, Marker, Series, line_chart
from server.clock import Clock, parse_iso
from server.course.schemas import ROUTE_LABELS
from server.course.service import session_list
from server.db import Database
from server.errors import field_errors
from server.journal import queries, service
from server.journal.forms import convert_form, form_values, present
from server.journal.schemas import (
    SAFETY_PLAN_SECTIONS,
    SEVERITY_LABELS,
    SYMPTOM_LABELS,
    AftercareIn,
    CheckinIn,
    QuestionnaireIn,
    ReflectionIn,
    SafetyPlanIn,
    SettingsIn,
)
from server.measures import service as measures
from server.measures.instruments import INSTRUMENTS
from server.reminders import service as reminders
from server.security.audit import Actor
from server.security.auth import patients_only
from server.security.sessions import CurrentUser
from server.web import page, redirect

EMOTION_TAGS = ("calm", "hopeful", "grateful", "connected", "anxious", "sad", "irritable", "lonely", "tired", "numb")
ACTIVITY_TAGS = ("exercise", "nature", "meditation", "friends", "family", "work", "creative", "therapy", "journaling")
REFLECTION_TITLES = {
    "intention": "Set an intention",
    "quick_capture": "Quick capture",
    "integration": "Integration reflection",
    "free": "Free writing",
}
TIMEZONES = sorted(tz for tz in available_timezones() if "/" in tz and not tz.startswith(("Etc/", "SystemV/")))


def _error_message(exc: HTTPException) -> str:
    errors = field_errors(exc)
    return errors[0]["message"] if errors else str(exc.detail)


def _session_label(session: Any) -> str:
    return f"{session.series.capitalize()} {session.number} · {ROUTE_LABELS[session.route]}"


async def _crisis_page(request: Request[Any, Any, Any], db: Database, patient_id: str, reason: str) -> Template:
    card = await service.crisis_card(db, patient_id)
    return page(request, "journal/crisis.html", card=card, reason=reason, sections=SAFETY_PLAN_SECTIONS)


async def _today(
    request: Request[Any, Any, Any],
    db: Database,
    clock: Clock,
    user: CurrentUser,
    *,
    status: int = 200,
    saved: str | None = None,
    entry_id: str | None = None,
    values: dict[str, Any] | None = None,
    error: str | None = None,
) -> Template:
    """The patient's Today page: after a save, or with a check-in that was refused and what they typed."""
    prefs = await service.patient_settings(db, user.id)
    sessions = await session_list(db, clock, user.id)
    today = service.local_today(clock.now(), prefs.timezone).isoformat()
    todays = await queries.entries_of(db, user.id, kind="checkin", since=today, until=today)
    return page(
        request,
        "journal/home.html",
        status=status,
        entry_id=entry_id or str(uuid.uuid4()),
        prefs=prefs,
        due=(await measures.due_questionnaires(db, clock, user.id)).items,
        next_session=sessions.next,
        next_label=_session_label(sessions.next) if sessions.next else None,
        checkins_today=len(todays),
        saved=saved,
        onboarded=await queries.onboarded(db, user.id),
        emotion_tags=EMOTION_TAGS,
        activity_tags=ACTIVITY_TAGS,
        values=values or {},
        error=error,
        reminders=await reminders.in_app(db, clock, user.id),
    )


class JournalPages(Controller):
    include_in_schema = False
    guards = [patients_only]

    # --- today ----------------------------------------------------------------------------------

    @get("/home")
    async def home(self, request: Request[Any, Any, Any], db: Database, clock: Clock, user: CurrentUser) -> Template:
        return await _today(request, db, clock, user, saved=request.query_params.get("saved"))

    @post("/checkin")
    async def checkin(
        self, request: Request[Any, Any, Any], db: Database, clock: Clock, user: CurrentUser, actor: Actor
    ) -> Template | Redirect:
        values, multi = await form_values(request)
        entry_id = values.get("entry_id", "")
        try:
            data = convert_form(
                {
                    **present(values, "mood", "anxiety", "energy", "sleep_hours", "sharing"),
                    "note": values.get("note", ""),
                    "tags": multi.get("tags", []),
                },
                CheckinIn,
            )
            saved = await service.put_entry(
                db,
                clock,
                patient_id=user.id,
                actor=actor,
                entry_id=str(UUID(entry_id)),
                write=service.checkin_write(data),
            )
        except (HTTPException, ValueError) as exc:
            message = _error_message(exc) if isinstance(exc, HTTPException) else "This form was out of date; try again."
            # Today as it is, with the form as it was sent: nothing typed is lost.
            return await _today(
                request,
                db,
                clock,
                user,
                status=422,
                entry_id=entry_id or None,
                values={**values, "tags": multi.get("tags", [])},
                error=message,
            )
        if getattr(saved.entry, "safety_alert", False):
            return await _crisis_page(request, db, user.id, "low_mood")
        return redirect("/home?saved=checkin")

    @post("/not-safe")
    async def not_safe(
        self, request: Request[Any, Any, Any], db: Database, clock: Clock, user: CurrentUser, actor: Actor
    ) -> Template:
        await service.not_safe(db, clock, patient_id=user.id, actor=actor)
        return await _crisis_page(request, db, user.id, "not_safe")

    @post("/welcome")
    async def welcome(self, db: Database, clock: Clock, user: CurrentUser) -> Redirect:
        await service.mark_onboarded(db, clock, user.id)
        return redirect("/home")

    # --- sessions and reflections ---------------------------------------------------------------

    @get("/sessions")
    async def sessions(
        self, request: Request[Any, Any, Any], db: Database, clock: Clock, user: CurrentUser
    ) -> Template:
        listing = await session_list(db, clock, user.id)
        labelled = [(s, _session_label(s)) for s in reversed(listing.items) if not s.cancelled]
        return page(request, "journal/sessions.html", sessions=labelled, next_session=listing.next)

    @get("/sessions/{session_id:str}")
    async def session(
        self, request: Request[Any, Any, Any], session_id: str, db: Database, clock: Clock, user: CurrentUser
    ) -> Template:
        listing = await session_list(db, clock, user.id)
        found = next((s for s in listing.items if s.id == session_id), None)
        if found is None:
            raise NotFoundException("No such session.")
        rows = await queries.entries_of_session(db, user.id, session_id)
        written = {(r["kind"], r["subkind"]): r for r in rows}
        return page(
            request,
            "journal/session.html",
            session=found,
            label=_session_label(found),
            written=written,
            upcoming=found.scheduled_for >= service.now_text(clock),
        )

    @get("/reflect/{kind:str}")
    async def reflect_form(
        self,
        request: Request[Any, Any, Any],
        kind: str,
        db: Database,
        user: CurrentUser,
        session: str | None = None,
        entry: UUID | None = None,
    ) -> Template:
        if kind not in REFLECTION_TITLES:
            raise NotFoundException("No such kind of reflection.")
        existing = (
            await service.get_entry(db, patient_id=user.id, kind="reflection", entry_id=str(entry)) if entry else None
        )
        prompts = await service.prompts_for(db, kind, getattr(existing, "prompt_set", None))
        answers = {a.prompt_id: a.text for a in existing.answers} if existing else {}  # type: ignore[union-attr]
        return page(
            request,
            "journal/reflect.html",
            kind=kind,
            title=REFLECTION_TITLES[kind],
            entry_id=str(entry or uuid.uuid4()),
            existing=existing,
            session_id=session or getattr(existing, "kap_session_id", None) or "",
            prompts=prompts,
            answers=answers,
            prefs=await service.patient_settings(db, user.id),
            error=None,
        )

    @post("/reflect/{kind:str}/{entry_id:uuid}")
    async def reflect(
        self,
        request: Request[Any, Any, Any],
        kind: str,
        entry_id: UUID,
        db: Database,
        clock: Clock,
        user: CurrentUser,
        actor: Actor,
    ) -> Template | Redirect:
        if kind not in REFLECTION_TITLES:
            raise NotFoundException("No such kind of reflection.")
        values, _ = await form_values(request)
        answers = [
            {"prompt_id": key.removeprefix("answer:"), "text": text}
            for key, text in values.items()
            if key.startswith("answer:")
        ]
        try:
            data = convert_form(
                {
                    "kind": kind,
                    "answers": answers,
                    "status": "final",
                    **present(values, "sharing", "prompt_set", "kap_session_id", "base_version"),
                },
                ReflectionIn,
            )
            write = await service.reflection_write(db, data)
            await service.put_entry(db, clock, patient_id=user.id, actor=actor, entry_id=str(entry_id), write=write)
        except HTTPException as exc:
            # Nothing typed is lost: the page comes back with every answer as it was sent.
            return page(
                request,
                "journal/reflect.html",
                status=exc.status_code,
                kind=kind,
                title=REFLECTION_TITLES[kind],
                entry_id=str(entry_id),
                existing=None,
                session_id=values.get("kap_session_id", ""),
                prompts=await service.prompts_for(db, kind, values.get("prompt_set") or None),
                answers={a["prompt_id"]: a["text"] for a in answers},
                prefs=await service.patient_settings(db, user.id),
                error=_error_message(exc),
            )
        session_id = values.get("kap_session_id")
        return redirect(f"/sessions/{session_id}?saved={kind}" if session_id else f"/entries/{entry_id}?saved=1")

    @get("/aftercare")
    async def aftercare_form(
        self, request: Request[Any, Any, Any], db: Database, user: CurrentUser, session: str, entry: UUID | None = None
    ) -> Template:
        if not await queries.session_is_patients(db, session, user.id):
            raise NotFoundException("No such session.")
        existing = (
            await service.get_entry(db, patient_id=user.id, kind="aftercare", entry_id=str(entry)) if entry else None
        )
        levels = msgspec.to_builtins(existing.symptoms) if existing else {}  # type: ignore[union-attr]
        return page(
            request,
            "journal/aftercare.html",
            entry_id=str(entry or uuid.uuid4()),
            session_id=session,
            symptoms=SYMPTOM_LABELS,
            severities=SEVERITY_LABELS,
            levels=levels,
            note=getattr(existing, "note", ""),
            sharing=existing.sharing if existing else (await service.patient_settings(db, user.id)).default_sharing,
            base_version=existing.version if existing else None,
            error=None,
        )

    @post("/aftercare/{entry_id:uuid}")
    async def aftercare(
        self,
        request: Request[Any, Any, Any],
        entry_id: UUID,
        db: Database,
        clock: Clock,
        user: CurrentUser,
        actor: Actor,
    ) -> Template | Redirect:
        values, _ = await form_values(request)
        symptoms = {key: values[key] for key in SYMPTOM_LABELS if values.get(key)}
        try:
            data = convert_form(
                {
                    "kap_session_id": values.get("kap_session_id", ""),
                    "symptoms": symptoms,
                    "note": values.get("note", ""),
                    **present(values, "sharing", "base_version"),
                },
                AftercareIn,
            )
            await service.put_entry(
                db, clock, patient_id=user.id, actor=actor, entry_id=str(entry_id), write=service.aftercare_write(data)
            )
        except HTTPException as exc:
            return page(
                request,
                "journal/aftercare.html",
                status=exc.status_code,
                entry_id=str(entry_id),
                session_id=values.get("kap_session_id", ""),
                symptoms=SYMPTOM_LABELS,
                severities=SEVERITY_LABELS,
                levels=symptoms,
                note=values.get("note", ""),
                sharing=values.get("sharing") or (await service.patient_settings(db, user.id)).default_sharing,
                base_version=values.get("base_version"),
                error=_error_message(exc),
            )
        return redirect(f"/sessions/{values.get('kap_session_id')}?saved=aftercare")

    # --- questionnaires -------------------------------------------------------------------------

    @get("/questionnaires")
    async def questionnaires(
        self, request: Request[Any, Any, Any], db: Database, clock: Clock, user: CurrentUser
    ) -> Template:
        due = (await measures.due_questionnaires(db, clock, user.id)).items
        done = await queries.entries_of(db, user.id, kind="questionnaire", limit=50)
        return page(
            request,
            "journal/questionnaires.html",
            due=due,
            done=[service.entry_view(r) for r in done],
            instruments=INSTRUMENTS,
        )

    @get("/questionnaires/{instrument:str}")
    async def questionnaire_form(
        self, request: Request[Any, Any, Any], instrument: str, db: Database, user: CurrentUser
    ) -> Template:
        if instrument not in INSTRUMENTS:
            raise NotFoundException("No such questionnaire.")
        return page(
            request,
            "journal/questionnaire.html",
            instrument=INSTRUMENTS[instrument],
            entry_id=str(uuid.uuid4()),
            answers={},
            prefs=await service.patient_settings(db, user.id),
            error=None,
        )

    @post("/questionnaires/{instrument:str}/{entry_id:uuid}")
    async def questionnaire(
        self,
        request: Request[Any, Any, Any],
        instrument: str,
        entry_id: UUID,
        db: Database,
        clock: Clock,
        user: CurrentUser,
        actor: Actor,
    ) -> Template | Redirect:
        if instrument not in INSTRUMENTS:
            raise NotFoundException("No such questionnaire.")
        definition = INSTRUMENTS[instrument]
        values, _ = await form_values(request)
        names = [item.id for item in definition.items] + (["difficulty"] if definition.difficulty else [])
        answers: list[Any] = [values.get(name, "") for name in names]
        if definition.difficulty and not answers[-1]:
            answers.pop()  # the difficulty question is optional
        try:
            missing = next((i for i, a in enumerate(answers, 1) if a == ""), None)
            if missing is not None:
                raise HTTPException(status_code=422, detail=f"Please answer question {missing}.")
            data = convert_form(
                {"instrument": instrument, "answers": answers, **present(values, "sharing")}, QuestionnaireIn
            )
            saved = await service.put_entry(
                db,
                clock,
                patient_id=user.id,
                actor=actor,
                entry_id=str(entry_id),
                write=service.questionnaire_write(data),
            )
        except HTTPException as exc:
            return page(
                request,
                "journal/questionnaire.html",
                status=422,
                instrument=definition,
                entry_id=str(entry_id),
                answers={name: values.get(name, "") for name in names},
                prefs=await service.patient_settings(db, user.id),
                error=_error_message(exc),
            )
        if getattr(saved.entry, "safety_alert", False):
            return await _crisis_page(request, db, user.id, "phq9_item9")
        return redirect(f"/entries/{entry_id}?saved=1")

    # --- history and single entries -------------------------------------------------------------

    @get("/history")
    async def history(self, request: Request[Any, Any, Any], db: Database, clock: Clock, user: CurrentUser) -> Template:
        prefs = await service.patient_settings(db, user.id)
        today = service.local_today(clock.now(), prefs.timezone)
        start = today - timedelta(days=29)
        entries = [service.entry_view(r) for r in await queries.entries_of(db, user.id, kind=None, limit=200)]
        daily = await queries.daily_mood(db, user.id, start.isoformat(), today.isoformat())
        zone = ZoneInfo(prefs.timezone)
        sessions = (await session_list(db, clock, user.id)).items
        markers = [
            Marker(day=parse_iso(s.scheduled_for).astimezone(zone).date(), label=_session_label(s))
            for s in sessions
            if not s.cancelled
        ]
        chart = line_chart(
            chart_id="mood-chart",
            title="Your mood, last 30 days",
            description="Daily average mood, 0 to 10, with ketamine sessions marked. The table below has the numbers.",
            start=start,
            end=today,
            y_max=10,
            series=[
                Series(
                    name="Mood",
                    css_class="mood",
                    points=[DayValue(day=date.fromisoformat(r["local_date"]), value=r["mood"]) for r in daily],
                ),
                Series(
                    name="Anxiety",
                    css_class="anxiety",
                    points=[
                        DayValue(day=date.fromisoformat(r["local_date"]), value=r["anxiety"])
                        for r in daily
                        if r["anxiety"] is not None
                    ],
                ),
            ],
            markers=markers,
        )
        return page(
            request,
            "journal/history.html",
            chart=chart,
            daily=daily,
            entries=entries,
            session_labels={s.id: _session_label(s) for s in sessions},
            instruments=INSTRUMENTS,
            symptoms=SYMPTOM_LABELS,
        )

    @get("/entries/{entry_id:uuid}")
    async def entry(self, request: Request[Any, Any, Any], entry_id: UUID, db: Database, user: CurrentUser) -> Template:
        row = await queries.own_entry_any_kind(db, user.id, str(entry_id))
        if row is None:
            raise NotFoundException(service.ENTRY_NOT_FOUND)
        return page(
            request,
            "journal/entry.html",
            entry=service.entry_view(row),
            saved=request.query_params.get("saved"),
            instruments=INSTRUMENTS,
            symptoms=SYMPTOM_LABELS,
            severities=SEVERITY_LABELS,
        )

    @post("/entries/{entry_id:uuid}/sharing")
    async def entry_sharing(
        self,
        request: Request[Any, Any, Any],
        entry_id: UUID,
        db: Database,
        clock: Clock,
        user: CurrentUser,
        actor: Actor,
    ) -> Redirect:
        values, _ = await form_values(request)
        sharing = values.get("sharing", "")
        if sharing not in ("private", "shared", "discuss"):
            raise HTTPException(status_code=422, detail="Choose private, shared or discuss.")
        await service.change_sharing(
            db, clock, patient_id=user.id, actor=actor, entry_id=str(entry_id), sharing=sharing
        )
        return redirect(f"/entries/{entry_id}?saved=sharing")

    @post("/entries/{entry_id:uuid}/delete")
    async def entry_delete(self, entry_id: UUID, db: Database, user: CurrentUser) -> Redirect:
        row = await queries.own_entry_any_kind(db, user.id, str(entry_id))
        if row is None:
            raise NotFoundException(service.ENTRY_NOT_FOUND)
        await service.delete_entry(db, patient_id=user.id, kind=row["kind"], entry_id=str(entry_id))
        return redirect("/history")

    # --- safety plan and settings ---------------------------------------------------------------

    @get("/safety-plan")
    async def safety_plan_page(self, request: Request[Any, Any, Any], db: Database, user: CurrentUser) -> Template:
        plan = await service.safety_plan(db, user.id)
        return page(
            request,
            "journal/safety_plan.html",
            plan=msgspec.to_builtins(plan.plan),
            version=plan.version,
            sections=SAFETY_PLAN_SECTIONS,
            saved=request.query_params.get("saved"),
            error=None,
        )

    @post("/safety-plan")
    async def safety_plan_save(
        self, request: Request[Any, Any, Any], db: Database, clock: Clock, user: CurrentUser, actor: Actor
    ) -> Template | Redirect:
        values, _ = await form_values(request)
        fields = {name: values.get(name, "") for name in SAFETY_PLAN_SECTIONS}
        try:
            data = convert_form({**fields, **present(values, "base_version")}, SafetyPlanIn)
            await service.save_safety_plan(
                db, clock, patient_id=user.id, editor_id=user.id, actor=actor, plan=data, base_version=data.base_version
            )
        except HTTPException as exc:
            return page(
                request,
                "journal/safety_plan.html",
                status=exc.status_code,
                plan=fields,
                version=int(values.get("base_version") or 0),
                sections=SAFETY_PLAN_SECTIONS,
                saved=None,
                error=_error_message(exc),
            )
        return redirect("/safety-plan?saved=1")

    @get("/settings")
    async def settings_page(self, request: Request[Any, Any, Any], db: Database, user: CurrentUser) -> Template:
        prefs = await service.patient_settings(db, user.id)
        return page(
            request,
            "journal/settings.html",
            prefs=prefs,
            timezones=TIMEZONES,
            saved=request.query_params.get("saved"),
            error=None,
        )

    @post("/settings")
    async def settings_save(
        self, request: Request[Any, Any, Any], db: Database, clock: Clock, user: CurrentUser
    ) -> Template | Redirect:
        values, _ = await form_values(request)
        try:
            data = convert_form(present(values, "default_sharing", "timezone", "reminder_time"), SettingsIn)
            await service.save_patient_settings(db, clock, patient_id=user.id, data=data)
        except HTTPException as exc:
            return page(
                request,
                "journal/settings.html",
                status=exc.status_code,
                prefs=await service.patient_settings(db, user.id),
                timezones=TIMEZONES,
                saved=None,
                error=_error_message(exc),
            )
        return redirect("/settings?saved=1")


class HelpPages(Controller):
    include_in_schema = False

    @get("/help")
    async def help(self, request: Request[Any, Any, Any], db: Database) -> Template:
        # Open to everyone, signed in or not: someone in crisis must never meet a sign-in page here.
        # The same page for everyone (no user in it), so the phone can keep it for offline use: no-cache,
        # not no-store. The crisis numbers are the clinic's, not anyone's data.
        lines = [msgspec.to_builtins(line) for line in await service.crisis_lines(db)]
        return Template(
            template_name="journal/help.html",
            context={"user": None, "shell": True, "crisis_lines": lines},
            headers={"Cache-Control": "no-cache"},
        )


# Registered by server.app; a feature adds its controllers here and nowhere else.
ROUTES = [JournalPages, HelpPages]
