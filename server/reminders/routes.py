"""Routes of reminders: the patient's devices for Web Push, reminder preferences, and the reminders due now
(JSON API), plus the reminders settings page."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.exceptions import HTTPException
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from server.clock import Clock
from server.db import Database
from server.errors import field_errors
from server.journal.forms import convert_form, form_values
from server.reminders import service
from server.reminders.schemas import (
    PreferencesIn,
    PreferencesOut,
    PublicKey,
    ReminderList,
    SubscriptionIn,
    SubscriptionList,
    SubscriptionOut,
)
from server.reminders.vapid import load_or_create
from server.security.auth import patients_only
from server.security.sessions import CurrentUser
from server.settings import Settings
from server.web import page, redirect

KIND_LABELS = {
    "checkin": "Daily check-in, at the time you chose",
    "intention": "Setting an intention, the day before a session",
    "capture": "A quick capture, a couple of hours after a session",
    "reflection": "Your reflection, the day after a session",
    "questionnaire": "Questionnaires, when one is due",
}


class PushApi(Controller):
    """This device's Web Push subscription. It lasts as long as the sign-in that made it."""

    path = "/api/v1/push"
    guards = [patients_only]
    tags = ["reminders"]

    @get("/public-key")
    async def public_key(self, settings: Settings) -> PublicKey:
        keys = await asyncio.to_thread(load_or_create, settings.var_dir)
        return PublicKey(public_key=keys.public_key)

    @get("/subscriptions")
    async def list_devices(self, db: Database, user: CurrentUser) -> SubscriptionList:
        return SubscriptionList(items=await service.devices(db, user.id))

    @post("/subscriptions", status_code=HTTP_200_OK, description="201 for a new device, 200 when it was known")
    async def subscribe(
        self,
        request: Request[Any, Any, Any],
        data: SubscriptionIn,
        db: Database,
        clock: Clock,
        settings: Settings,
        user: CurrentUser,
    ) -> Response[SubscriptionOut]:
        created, device = await service.subscribe(
            db, clock, settings, user, data, request.headers.get("user-agent", "")
        )
        return Response(device, status_code=HTTP_201_CREATED if created else HTTP_200_OK)

    @delete("/subscriptions/{device_id:str}", status_code=HTTP_204_NO_CONTENT)
    async def unsubscribe(self, device_id: str, db: Database, user: CurrentUser) -> None:
        await service.unsubscribe(db, user.id, device_id)


class RemindersApi(Controller):
    path = "/api/v1/reminders"
    guards = [patients_only]
    tags = ["reminders"]

    @get("/", description="The reminders due now, as the app shows them (generic text, a link in the app)")
    async def due_now(self, db: Database, clock: Clock, user: CurrentUser) -> ReminderList:
        return ReminderList(items=await service.in_app(db, clock, user.id))

    @get("/preferences")
    async def get_preferences(self, db: Database, user: CurrentUser) -> PreferencesOut:
        return await service.preferences(db, user.id)

    @put("/preferences", status_code=HTTP_200_OK)
    async def put_preferences(
        self, data: PreferencesIn, db: Database, clock: Clock, user: CurrentUser
    ) -> PreferencesOut:
        return await service.save_preferences(db, clock, user.id, data)


class ReminderPages(Controller):
    include_in_schema = False
    guards = [patients_only]

    @get("/settings/reminders")
    async def settings_page(self, request: Request[Any, Any, Any], db: Database, user: CurrentUser) -> Template:
        return self._page(request, await service.preferences(db, user.id), error=None)

    @post("/settings/reminders")
    async def settings_save(
        self, request: Request[Any, Any, Any], db: Database, clock: Clock, user: CurrentUser
    ) -> Template | Redirect:
        values, _ = await form_values(request)
        quiet = values.get("quiet") == "on"
        form: dict[str, Any] = {kind: values.get(kind) == "on" for kind in KIND_LABELS}
        form["quiet_start"] = (values.get("quiet_start") or None) if quiet else None
        form["quiet_end"] = (values.get("quiet_end") or None) if quiet else None
        try:
            await service.save_preferences(db, clock, user.id, convert_form(form, PreferencesIn))
        except HTTPException as exc:
            errors = field_errors(exc)
            message = errors[0]["message"] if errors else str(exc.detail)
            return self._page(request, await service.preferences(db, user.id), error=message, status=422)
        return redirect("/settings/reminders?saved=1")

    def _page(
        self, request: Request[Any, Any, Any], prefs: PreferencesOut, *, error: str | None, status: int = 200
    ) -> Template:
        return page(
            request,
            "journal/reminders.html",
            status=status,
            prefs=prefs,
            kinds=KIND_LABELS,
            saved=request.query_params.get("saved"),
            error=error,
        )


# Registered by server.app; a feature adds its controllers here and nowhere else.
ROUTES = [PushApi, RemindersApi, ReminderPages]
