"""The clinic admin's JSON API, for scripts: /api/v1/admin/... Admins only, scoped to their clinic."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from litestar import Controller, delete, get, post, put
from litestar.di import Provide
from litestar.params import Parameter, QueryParameter
from litestar.response import Stream
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from server.admin import audit_trail, clinic_settings, prompt_sets, service
from server.admin.schemas import (
    AdminUserList,
    AuditList,
    CaseloadList,
    ClinicSettingsIn,
    ClinicSettingsOut,
    PromptSetIn,
    PromptSetVersion,
    PromptSetVersionList,
    TeamList,
    TherapistList,
)
from server.admin.validation import InvalidFields
from server.clock import Clock
from server.db import Database
from server.security.audit import Actor
from server.security.auth import admins_only
from server.security.sessions import CurrentUser

AuditLimit = Annotated[int, Parameter(ge=1, le=500)]
DateText = Annotated[str, Parameter(max_length=10, description="A UTC date, YYYY-MM-DD; both ends included")]


def audit_filters(
    actor_id: Annotated[str, QueryParameter(name="actor", max_length=100, description="The user who acted")] = "",
    patient_id: Annotated[str, QueryParameter(name="patient", max_length=100, description="The patient named")] = "",
    action: Annotated[str, Parameter(max_length=100, description="An action name, or its start")] = "",
    match: Annotated[str, Parameter(max_length=10, description="prefix (default) or exact")] = "",
    since: DateText = "",
    until: DateText = "",
) -> audit_trail.AuditFilters:
    """The audit filters from the query string, checked (422 naming each bad one). ``actor`` and
    ``patient`` are spelled differently here only because those names are taken by dependencies."""
    raw = {"actor": actor_id, "patient": patient_id, "action": action, "match": match, "since": since, "until": until}
    return audit_trail.parse_filters(raw)


def csv_response(chunks: AsyncIterator[str]) -> Stream:
    return Stream(
        chunks,
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="afterglow-audit.csv"'},
    )


class AdminApi(Controller):
    path = "/api/v1/admin"
    guards = [admins_only]
    tags = ["admin"]
    dependencies = {"filters": Provide(audit_filters, sync_to_thread=False)}

    # --- people and care teams

    @get("/users")
    async def users(self, user: CurrentUser, actor: Actor, db: Database, clock: Clock) -> AdminUserList:
        return AdminUserList(items=await service.users(db, clock, user, actor))

    @post("/users/{user_id:str}/disable", status_code=HTTP_204_NO_CONTENT)
    async def disable(self, user_id: str, user: CurrentUser, actor: Actor, db: Database, clock: Clock) -> None:
        await service.set_disabled(db, clock, user, actor, user_id, disabled=True)

    @post("/users/{user_id:str}/enable", status_code=HTTP_204_NO_CONTENT)
    async def enable(self, user_id: str, user: CurrentUser, actor: Actor, db: Database, clock: Clock) -> None:
        await service.set_disabled(db, clock, user, actor, user_id, disabled=False)

    @get("/therapists")
    async def therapists(self, user: CurrentUser, actor: Actor, db: Database, clock: Clock) -> TherapistList:
        return TherapistList(items=await service.therapists(db, clock, user, actor))

    @get("/therapists/{therapist_id:str}/patients")
    async def caseload(
        self, therapist_id: str, user: CurrentUser, actor: Actor, db: Database, clock: Clock
    ) -> CaseloadList:
        _, patients = await service.caseload(db, clock, user, actor, therapist_id)
        return CaseloadList(items=patients)

    @get("/patients/{patient_id:str}/care-team")
    async def care_team(self, patient_id: str, user: CurrentUser, actor: Actor, db: Database, clock: Clock) -> TeamList:
        _, team = await service.care_team(db, clock, user, actor, patient_id)
        return TeamList(items=team)

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

    # --- clinic settings and prompt sets

    @get("/clinic")
    async def clinic(self, user: CurrentUser, db: Database) -> ClinicSettingsOut:
        return await clinic_settings.clinic_settings(db, user.clinic_id)

    @put("/clinic", status_code=HTTP_200_OK, raises=[InvalidFields])
    async def save_clinic(
        self, data: ClinicSettingsIn, user: CurrentUser, actor: Actor, db: Database, clock: Clock
    ) -> ClinicSettingsOut:
        return await clinic_settings.save_clinic_settings(db, clock, user, actor, data)

    @get("/prompt-sets")
    async def prompt_set_list(self, db: Database) -> PromptSetVersionList:
        return PromptSetVersionList(items=await prompt_sets.versions(db))

    @post("/prompt-sets", status_code=HTTP_201_CREATED, raises=[InvalidFields])
    async def publish_prompt_set(self, data: PromptSetIn, actor: Actor, db: Database, clock: Clock) -> PromptSetVersion:
        return await prompt_sets.publish(db, clock, actor, data)

    # --- the audit trail

    @get("/audit", raises=[InvalidFields])
    async def audit(
        self,
        user: CurrentUser,
        actor: Actor,
        db: Database,
        clock: Clock,
        filters: audit_trail.AuditFilters,
        before: int | None = None,
        limit: AuditLimit = 100,
    ) -> AuditList:
        rows, next_before = await audit_trail.page(db, clock, user, actor, filters, before=before, limit=limit)
        return AuditList(items=rows, next_before=next_before)

    @get("/audit.csv", media_type="text/csv", raises=[InvalidFields])
    async def audit_csv(
        self, user: CurrentUser, actor: Actor, db: Database, clock: Clock, filters: audit_trail.AuditFilters
    ) -> Stream:
        return csv_response(await audit_trail.csv_download(db, clock, user, actor, filters))
