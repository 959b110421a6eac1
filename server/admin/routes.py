"""The clinic admin's pages under /admin: people and care teams, clinic settings, prompt sets and the
audit trail. Admins only; everything scoped to the admin's clinic. The JSON twin is server.admin.api."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.exceptions import HTTPException
from litestar.params import Parameter, QueryParameter
from litestar.response import Redirect, Stream, Template

from server.accounts import queries as account_queries
from server.accounts import service as accounts
from server.admin import audit_trail, clinic_settings, forms, prompt_sets, queries, service
from server.admin.api import AdminApi, csv_response
from server.admin.schemas import MAX_PROMPTS, PROMPT_KINDS
from server.admin.validation import InvalidFields
from server.clock import Clock, iso
from server.db import Database, connect_sync
from server.errors import field_errors
from server.security.audit import Actor, verify_chain
from server.security.auth import admins_only
from server.security.sessions import CurrentUser
from server.settings import Settings
from server.web import form_fields, page, redirect, safe_next

AnyRequest = Request[Any, Any, Any]
AUDIT_FILTER_NAMES = ("actor", "patient", "action", "match", "since", "until")
# Room to add prompts below the copied ones, without JavaScript.
SPARE_PROMPT_ROWS = 5


def _first_message(exc: HTTPException) -> str:
    errors = field_errors(exc)
    return errors[0]["message"] if errors else str(exc.detail)


class AdminPages(Controller):
    path = "/admin"
    guards = [admins_only]
    include_in_schema = False

    # --- home: people, care-team gaps, invitations

    async def _home(
        self,
        request: AnyRequest,
        user: CurrentUser,
        actor: Actor,
        db: Database,
        clock: Clock,
        *,
        status: int = 200,
        error: str | None = None,
        invitation_url: str | None = None,
        typed: dict[str, str] | None = None,
    ) -> Template:
        people = await service.users(db, clock, user, actor)
        # A patient nobody can see: the care team is empty, or everyone on it is disabled.
        unassigned = [p for p in people if p.role == "patient" and not p.disabled and p.active_therapists == 0]
        return page(
            request,
            "admin/home.html",
            status=status,
            people=people,
            unassigned=unassigned,
            invitations=await account_queries.open_invitations_by(db, user.id, iso(clock.now())),
            error=error,
            invitation_url=invitation_url,
            typed=typed or {},
        )

    @get("/")
    async def home(self, request: AnyRequest, user: CurrentUser, actor: Actor, db: Database, clock: Clock) -> Template:
        return await self._home(request, user, actor, db, clock)

    @post("/invitations")
    async def invite(
        self, request: AnyRequest, user: CurrentUser, actor: Actor, db: Database, clock: Clock, settings: Settings
    ) -> Template:
        fields = await form_fields(request, "email", "display_name")
        typed = {"email": fields["email"][:254], "display_name": fields["display_name"][:100]}
        try:
            invitation = await accounts.create_invitation(db, clock, user, actor, **typed)
        except HTTPException as exc:
            return await self._home(
                request, user, actor, db, clock, status=exc.status_code, error=_first_message(exc), typed=typed
            )
        url = f"{settings.base_url}/invite/{invitation.token}"
        return await self._home(request, user, actor, db, clock, invitation_url=url)

    @post("/invitations/{invitation_id:str}/revoke")
    async def revoke(self, invitation_id: str, user: CurrentUser, actor: Actor, db: Database, clock: Clock) -> Redirect:
        await accounts.revoke_invitation(db, clock, user, actor, invitation_id)
        return redirect("/admin")

    @post("/users/{user_id:str}/disable")
    async def disable(
        self, request: AnyRequest, user_id: str, user: CurrentUser, actor: Actor, db: Database, clock: Clock
    ) -> Redirect:
        back = (await form_fields(request, "back"))["back"]
        await service.set_disabled(db, clock, user, actor, user_id, disabled=True)
        return redirect(safe_next(back, "/admin"))

    @post("/users/{user_id:str}/enable")
    async def enable(
        self, request: AnyRequest, user_id: str, user: CurrentUser, actor: Actor, db: Database, clock: Clock
    ) -> Redirect:
        back = (await form_fields(request, "back"))["back"]
        await service.set_disabled(db, clock, user, actor, user_id, disabled=False)
        return redirect(safe_next(back, "/admin"))

    # --- a therapist's patients, a patient's care team

    @get("/therapists/{therapist_id:str}")
    async def therapist(
        self, request: AnyRequest, therapist_id: str, user: CurrentUser, actor: Actor, db: Database, clock: Clock
    ) -> Template:
        therapist, patients = await service.caseload(db, clock, user, actor, therapist_id)
        return page(request, "admin/therapist.html", therapist=therapist, patients=patients)

    @get("/patients/{patient_id:str}")
    async def patient(
        self, request: AnyRequest, patient_id: str, user: CurrentUser, actor: Actor, db: Database, clock: Clock
    ) -> Template:
        patient, team = await service.care_team(db, clock, user, actor, patient_id)
        on_team = {member.id for member in team}
        others = [
            t for t in await queries.therapists(db, user.clinic_id) if t["id"] not in on_team and not t["disabled_at"]
        ]
        return page(request, "admin/patient.html", patient=patient, team=team, others=others)

    @post("/patients/{patient_id:str}/care-team")
    async def add_therapist(
        self, request: AnyRequest, patient_id: str, user: CurrentUser, actor: Actor, db: Database, clock: Clock
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

    # --- clinic settings

    @get("/clinic")
    async def clinic(self, request: AnyRequest, user: CurrentUser, db: Database, saved: bool = False) -> Template:
        settings = await clinic_settings.clinic_settings(db, user.clinic_id)
        return page(request, "admin/clinic.html", values=forms.clinic_values(settings), problems={}, saved=saved)

    @post("/clinic")
    async def save_clinic(
        self, request: AnyRequest, user: CurrentUser, actor: Actor, db: Database, clock: Clock
    ) -> Template | Redirect:
        values, data, problems = forms.parse_clinic_form(await request.form())
        if data is not None:
            try:
                await clinic_settings.save_clinic_settings(db, clock, user, actor, data)
            except InvalidFields as exc:
                problems = exc.problems
            else:
                return redirect("/admin/clinic?saved=1")
        return page(request, "admin/clinic.html", status=422, values=values, problems=problems, saved=False)

    # --- prompt sets

    @get("/prompt-sets")
    async def prompt_set_list(
        self, request: AnyRequest, db: Database, published: Annotated[str | None, Parameter(max_length=64)] = None
    ) -> Template:
        versions = await prompt_sets.versions(db)
        return page(
            request,
            "admin/prompt_sets.html",
            kinds=[(kind, [v for v in versions if v.kind == kind]) for kind in PROMPT_KINDS],
            names=prompt_sets.KIND_NAMES,
            # Named only if it exists: the notice must not repeat whatever text a link carries.
            published=published if any(v.id == published for v in versions) else None,
        )

    @get("/prompt-sets/new")
    async def new_prompt_set(
        self,
        request: AnyRequest,
        db: Database,
        kind: Annotated[str, Parameter(max_length=20)],
        source: Annotated[str | None, QueryParameter(name="from", max_length=64)] = None,
        blank: bool = False,
    ) -> Template:
        if kind not in PROMPT_KINDS:
            raise InvalidFields({"kind": forms.KIND_PROBLEM})
        start = None if blank else await prompt_sets.starting_point(db, kind, source)
        rows = min(MAX_PROMPTS, (len(start.prompts) if start else 0) + SPARE_PROMPT_ROWS)
        values = forms.prompt_set_values(start, kind, rows=rows)
        return _prompt_form(request, values, {}, source=None if blank else source)

    @post("/prompt-sets")
    async def publish_prompt_set(
        self, request: AnyRequest, actor: Actor, db: Database, clock: Clock
    ) -> Template | Redirect:
        values, data, problems = forms.parse_prompt_set_form(await request.form())
        if data is not None:
            try:
                published = await prompt_sets.publish(db, clock, actor, data)
            except InvalidFields as exc:
                problems = exc.problems
            else:
                return redirect(f"/admin/prompt-sets?published={published.id}")
        return _prompt_form(request, values, problems, status=422)

    # --- the audit trail

    @get("/audit")
    async def audit(
        self,
        request: AnyRequest,
        user: CurrentUser,
        actor: Actor,
        db: Database,
        clock: Clock,
        settings: Settings,
        before: int | None = None,
    ) -> Template:
        raw = {name: request.query_params.get(name, "")[:100] for name in AUDIT_FILTER_NAMES}
        rows: list[Any] = []
        next_before, problems, query = None, {}, {}
        try:
            filters = audit_trail.parse_filters(raw)
        except InvalidFields as exc:
            problems = exc.problems
        else:
            rows, next_before = await audit_trail.page(db, clock, user, actor, filters, before=before)
            query = filters.query()
        checked, broken_at = await asyncio.to_thread(_verify, settings)
        return page(
            request,
            "admin/audit.html",
            status=422 if problems else 200,
            rows=rows,
            raw=raw,
            problems=problems,
            people=await queries.users(db, user.clinic_id),
            older=f"/admin/audit?{urlencode({**query, 'before': next_before})}" if next_before else None,
            newest=f"/admin/audit?{urlencode(query)}" if before is not None else None,
            csv_url=f"/admin/audit.csv?{urlencode(query)}" if query else "/admin/audit.csv",
            filtered=bool(query),
            checked=checked,
            broken_at=broken_at,
        )

    @get("/audit.csv")
    async def audit_csv(
        self, request: AnyRequest, user: CurrentUser, actor: Actor, db: Database, clock: Clock
    ) -> Stream:
        raw = {name: request.query_params.get(name, "")[:100] for name in AUDIT_FILTER_NAMES}
        filters = audit_trail.parse_filters(raw)
        return csv_response(await audit_trail.csv_download(db, clock, user, actor, filters))


def _prompt_form(
    request: AnyRequest,
    values: dict[str, Any],
    problems: dict[str, str],
    *,
    source: str | None = None,
    status: int = 200,
) -> Template:
    return page(
        request,
        "admin/prompt_set_form.html",
        status=status,
        values=values,
        problems=problems,
        source=source,
        kind_name=prompt_sets.KIND_NAMES.get(values["kind"], values["kind"]),
    )


def _verify(settings: Settings) -> tuple[int, int | None]:
    conn = connect_sync(settings.database_path)
    try:
        return verify_chain(conn)
    finally:
        conn.close()


# Registered by server.app; a feature adds its controllers here and nowhere else.
ROUTES = [AdminApi, AdminPages]
