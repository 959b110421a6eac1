"""Export routes: the patient's own (everything) and a therapist's (what the patient shared)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get

from server.clock import Clock, iso
from server.db import Database
from server.exports import service
from server.security.audit import Actor, record_read
from server.security.auth import patients_only, therapists_only
from server.security.reach import patient_in_reach
from server.security.sessions import CurrentUser

FHIR_JSON = "application/fhir+json"
ZIP = "application/zip"


def _download(content: Any, media_type: str, filename: str) -> Response[Any]:
    return Response(
        content, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


class MyExportApi(Controller):
    path = "/api/v1/me"
    guards = [patients_only]
    tags = ["exports"]

    @get("/export")
    async def export_json(self, db: Database, clock: Clock, user: CurrentUser) -> Response[dict[str, Any]]:
        data = await service.json_export(db, clock, user.id, team_view=False)
        return _download(data, "application/json", "afterglow-export.json")

    @get("/export.csv", media_type=ZIP)
    async def export_csv(self, db: Database, user: CurrentUser) -> Response[bytes]:
        return _download(await service.csv_export(db, user.id, team_view=False), ZIP, "afterglow-export.zip")

    @get("/export.fhir.json", media_type=FHIR_JSON)
    async def export_fhir(self, db: Database, clock: Clock, user: CurrentUser) -> Response[dict[str, Any]]:
        bundle = await service.fhir_export(db, clock, user.id, team_view=False)
        return _download(bundle, FHIR_JSON, "afterglow-export.fhir.json")


class PatientExportApi(Controller):
    path = "/api/v1/patients/{patient_id:str}"
    guards = [therapists_only]
    tags = ["exports"]

    async def _reach(
        self, db: Database, clock: Clock, user: CurrentUser, actor: Actor, patient_id: str, fmt: str
    ) -> str:
        patient = await patient_in_reach(db, user, patient_id)
        await record_read(
            db, at=iso(clock.now()), actor=actor, action="export.downloaded", patient_id=patient.id, object_type=fmt
        )
        return patient.id

    @get("/export")
    async def export_json(
        self, patient_id: str, db: Database, clock: Clock, user: CurrentUser, actor: Actor
    ) -> Response[dict[str, Any]]:
        pid = await self._reach(db, clock, user, actor, patient_id, "json")
        return _download(await service.json_export(db, clock, pid, team_view=True), "application/json", "export.json")

    @get("/export.csv", media_type=ZIP)
    async def export_csv(
        self, patient_id: str, db: Database, clock: Clock, user: CurrentUser, actor: Actor
    ) -> Response[bytes]:
        pid = await self._reach(db, clock, user, actor, patient_id, "csv")
        return _download(await service.csv_export(db, pid, team_view=True), ZIP, "export.zip")

    @get("/export.fhir.json", media_type=FHIR_JSON)
    async def export_fhir(
        self, patient_id: str, db: Database, clock: Clock, user: CurrentUser, actor: Actor
    ) -> Response[dict[str, Any]]:
        pid = await self._reach(db, clock, user, actor, patient_id, "fhir")
        bundle = await service.fhir_export(db, clock, pid, team_view=True)
        return _download(bundle, FHIR_JSON, "export.fhir.json")


# Registered by server.app; a feature adds its controllers here and nowhere else.
ROUTES = [MyExportApi, PatientExportApi]
