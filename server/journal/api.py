"""The patient's journal as JSON (PRODUCT.md §8). Every write is an idempotent PUT to a client UUID."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.datastructures import MutableScopeHeaders
from litestar.response.base import ASGIResponse
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from server.clock import Clock
from server.course.schemas import KapSessionList
from server.course.service import session_list
from server.db import Database
from server.journal import service
from server.journal.schemas import (
    AftercareIn,
    AftercareList,
    AftercareOut,
    AnyEntry,
    CheckinIn,
    CheckinList,
    CheckinOut,
    CrisisCard,
    PromptSetList,
    QuestionnaireIn,
    QuestionnaireList,
    QuestionnaireOut,
    ReflectionIn,
    ReflectionList,
    ReflectionOut,
    SafetyPlanIn,
    SafetyPlanOut,
    SettingsIn,
    SettingsOut,
)
from server.measures import service as measures
from server.measures.schemas import DueList, InstrumentList
from server.security.audit import Actor
from server.security.auth import patients_only, signed_in
from server.security.sessions import CurrentUser

RANGE_HELP = "since/until: a date (YYYY-MM-DD) filters on the local date; a UTC date-time, on the last change."


class _EncodedJson(ASGIResponse):
    """A JSON body already encoded, with its two headers: what Litestar's ``ASGIResponse`` would send, built
    without its case-insensitive header map (a ``setdefault`` that raises and catches ``KeyError`` per header)."""

    __slots__ = ()

    def __init__(self, body: bytes, status_code: int) -> None:
        self.headers = MutableScopeHeaders()
        self.headers.headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        self.body = body
        self.content_length = len(body)
        self.status_code = status_code
        self.background = None
        self.encoding = "utf-8"
        self.is_head_response = False
        self._encoded_cookies = ()


class EntryResponse(Response[AnyEntry]):
    """The answer to an entry's PUT (every outbox replay is one): the entry, encoded by msgspec as Litestar
    would. Anything more (headers, cookies, background tasks, set on the response or on a layer) takes
    Litestar's general path."""

    def to_asgi_response(self, app: Any, request: Request[Any, Any, Any], **extra: Any) -> ASGIResponse:
        if self.headers or self.cookies or self.background or any(extra.get(name) for name in _EXTRAS):
            return super().to_asgi_response(app, request, **extra)
        return _EncodedJson(msgspec.json.encode(self.content), self.status_code or HTTP_200_OK)


# What a layer may add to a response; ``media_type``, ``status_code`` and ``type_encoders`` are the entry's own.
_EXTRAS = ("background", "cookies", "encoded_headers", "headers", "is_head_response")


def _saved(saved: service.Saved) -> Response[AnyEntry]:
    return EntryResponse(saved.entry, status_code=HTTP_201_CREATED if saved.created else HTTP_200_OK)


class JournalApi(Controller):
    """Check-ins, reflections, aftercare reports and questionnaires: PUT, GET, list and DELETE each."""

    path = "/api/v1"
    guards = [patients_only]
    tags = ["journal"]

    async def _put(
        self, db: Database, clock: Clock, user: CurrentUser, actor: Actor, entry_id: UUID, write: service.EntryWrite
    ) -> Response[AnyEntry]:
        saved = await service.put_entry(db, clock, patient_id=user.id, actor=actor, entry_id=str(entry_id), write=write)
        return _saved(saved)

    # check-ins
    @put("/checkins/{entry_id:uuid}", status_code=HTTP_200_OK, description="201 created, 200 updated or replayed")
    async def put_checkin(
        self, entry_id: UUID, data: CheckinIn, db: Database, clock: Clock, user: CurrentUser, actor: Actor
    ) -> Response[CheckinOut]:
        return await self._put(db, clock, user, actor, entry_id, service.checkin_write(data))  # type: ignore[return-value]

    @get("/checkins/{entry_id:uuid}")
    async def get_checkin(self, entry_id: UUID, db: Database, user: CurrentUser) -> CheckinOut:
        return await service.get_entry(db, patient_id=user.id, kind="checkin", entry_id=str(entry_id))  # type: ignore[return-value]

    @get("/checkins", description=RANGE_HELP)
    async def list_checkins(
        self, db: Database, user: CurrentUser, since: str | None = None, until: str | None = None
    ) -> CheckinList:
        items = await service.list_entries(db, patient_id=user.id, kind="checkin", since=since, until=until)
        return CheckinList(items=items)  # type: ignore[arg-type]

    @delete("/checkins/{entry_id:uuid}", status_code=HTTP_204_NO_CONTENT)
    async def delete_checkin(self, entry_id: UUID, db: Database, user: CurrentUser) -> None:
        await service.delete_entry(db, patient_id=user.id, kind="checkin", entry_id=str(entry_id))

    # reflections
    @put("/reflections/{entry_id:uuid}", status_code=HTTP_200_OK, description="201 created, 200 updated or replayed")
    async def put_reflection(
        self, entry_id: UUID, data: ReflectionIn, db: Database, clock: Clock, user: CurrentUser, actor: Actor
    ) -> Response[ReflectionOut]:
        write = await service.reflection_write(db, data)
        return await self._put(db, clock, user, actor, entry_id, write)  # type: ignore[return-value]

    @get("/reflections/{entry_id:uuid}")
    async def get_reflection(self, entry_id: UUID, db: Database, user: CurrentUser) -> ReflectionOut:
        return await service.get_entry(db, patient_id=user.id, kind="reflection", entry_id=str(entry_id))  # type: ignore[return-value]

    @get("/reflections", description=RANGE_HELP)
    async def list_reflections(
        self, db: Database, user: CurrentUser, since: str | None = None, until: str | None = None
    ) -> ReflectionList:
        items = await service.list_entries(db, patient_id=user.id, kind="reflection", since=since, until=until)
        return ReflectionList(items=items)  # type: ignore[arg-type]

    @delete("/reflections/{entry_id:uuid}", status_code=HTTP_204_NO_CONTENT)
    async def delete_reflection(self, entry_id: UUID, db: Database, user: CurrentUser) -> None:
        await service.delete_entry(db, patient_id=user.id, kind="reflection", entry_id=str(entry_id))

    # aftercare
    @put("/aftercare/{entry_id:uuid}", status_code=HTTP_200_OK, description="201 created, 200 updated or replayed")
    async def put_aftercare(
        self, entry_id: UUID, data: AftercareIn, db: Database, clock: Clock, user: CurrentUser, actor: Actor
    ) -> Response[AftercareOut]:
        return await self._put(db, clock, user, actor, entry_id, service.aftercare_write(data))  # type: ignore[return-value]

    @get("/aftercare/{entry_id:uuid}")
    async def get_aftercare(self, entry_id: UUID, db: Database, user: CurrentUser) -> AftercareOut:
        return await service.get_entry(db, patient_id=user.id, kind="aftercare", entry_id=str(entry_id))  # type: ignore[return-value]

    @get("/aftercare", description=RANGE_HELP)
    async def list_aftercare(
        self, db: Database, user: CurrentUser, since: str | None = None, until: str | None = None
    ) -> AftercareList:
        items = await service.list_entries(db, patient_id=user.id, kind="aftercare", since=since, until=until)
        return AftercareList(items=items)  # type: ignore[arg-type]

    @delete("/aftercare/{entry_id:uuid}", status_code=HTTP_204_NO_CONTENT)
    async def delete_aftercare(self, entry_id: UUID, db: Database, user: CurrentUser) -> None:
        await service.delete_entry(db, patient_id=user.id, kind="aftercare", entry_id=str(entry_id))

    # questionnaires
    @put("/questionnaires/{entry_id:uuid}", status_code=HTTP_200_OK, description="201 created, 200 updated or replayed")
    async def put_questionnaire(
        self, entry_id: UUID, data: QuestionnaireIn, db: Database, clock: Clock, user: CurrentUser, actor: Actor
    ) -> Response[QuestionnaireOut]:
        return await self._put(db, clock, user, actor, entry_id, service.questionnaire_write(data))  # type: ignore[return-value]

    @get("/questionnaires/{entry_id:uuid}")
    async def get_questionnaire(self, entry_id: UUID, db: Database, user: CurrentUser) -> QuestionnaireOut:
        return await service.get_entry(db, patient_id=user.id, kind="questionnaire", entry_id=str(entry_id))  # type: ignore[return-value]

    @get("/questionnaires", description=RANGE_HELP)
    async def list_questionnaires(
        self, db: Database, user: CurrentUser, since: str | None = None, until: str | None = None
    ) -> QuestionnaireList:
        items = await service.list_entries(db, patient_id=user.id, kind="questionnaire", since=since, until=until)
        return QuestionnaireList(items=items)  # type: ignore[arg-type]

    @delete("/questionnaires/{entry_id:uuid}", status_code=HTTP_204_NO_CONTENT)
    async def delete_questionnaire(self, entry_id: UUID, db: Database, user: CurrentUser) -> None:
        await service.delete_entry(db, patient_id=user.id, kind="questionnaire", entry_id=str(entry_id))

    @get("/questionnaires/due")
    async def due(self, db: Database, clock: Clock, user: CurrentUser) -> DueList:
        return await measures.due_questionnaires(db, clock, user.id)

    # the rest of the patient's own things
    @get("/kap-sessions")
    async def kap_sessions(self, db: Database, clock: Clock, user: CurrentUser) -> KapSessionList:
        return await session_list(db, clock, user.id)

    @get("/safety-plan")
    async def get_safety_plan(self, db: Database, user: CurrentUser) -> SafetyPlanOut:
        return await service.safety_plan(db, user.id)

    @put("/safety-plan", status_code=HTTP_200_OK)
    async def put_safety_plan(
        self, data: SafetyPlanIn, db: Database, clock: Clock, user: CurrentUser, actor: Actor
    ) -> SafetyPlanOut:
        return await service.save_safety_plan(
            db, clock, patient_id=user.id, editor_id=user.id, actor=actor, plan=data, base_version=data.base_version
        )

    @post("/safety/not-safe", status_code=HTTP_200_OK, description="The \u201cI'm not safe\u201d button")
    async def not_safe(self, db: Database, clock: Clock, user: CurrentUser, actor: Actor) -> CrisisCard:
        return await service.not_safe(db, clock, patient_id=user.id, actor=actor)

    @get("/me/settings")
    async def get_settings(self, db: Database, user: CurrentUser) -> SettingsOut:
        return await service.patient_settings(db, user.id)

    @put("/me/settings", status_code=HTTP_200_OK)
    async def put_settings(self, data: SettingsIn, db: Database, clock: Clock, user: CurrentUser) -> SettingsOut:
        return await service.save_patient_settings(db, clock, patient_id=user.id, data=data)


class ReferenceApi(Controller):
    """Prompt sets and instruments: the same for every signed-in user."""

    path = "/api/v1"
    guards = [signed_in]
    tags = ["reference"]

    @get("/prompt-sets")
    async def prompt_sets(self, db: Database) -> PromptSetList:
        return await service.prompt_set_list(db)

    @get("/instruments")
    async def instruments(self) -> InstrumentList:
        return measures.instrument_list()


ROUTES = [JournalApi, ReferenceApi]
