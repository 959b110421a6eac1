"""An admin helping someone back in: a one-time link to choose a new password, and resetting a lost
second factor. Both end every session of that account and are audited; neither shows the admin
anything of the person's data."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec
from anyio import to_thread
from litestar import Controller, Request, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from server.accounts import queries
from server.clock import Clock, iso
from server.db import Database, fetch_one
from server.errors import FieldError
from server.security import audit
from server.security.audit import Actor
from server.security.auth import admins_only, client_address
from server.security.passwords import hash_password, password_problem
from server.security.sessions import CurrentUser, end_all_sessions
from server.security.tokens import new_token, token_hash
from server.settings import Settings
from server.web import form_fields, page, redirect

RESET_LIFETIME = timedelta(hours=1)
RESET_GONE = "This password link has expired or was already used. Ask your clinic's admin for a new one."


class ResetLink(msgspec.Struct):
    url: str
    expires_at: str


async def _account(db: Database, admin: CurrentUser, user_id: str) -> Any:
    row = await db.fetch_one("SELECT id, role FROM users WHERE id = ? AND clinic_id = ?", (user_id, admin.clinic_id))
    if row is None:
        raise NotFoundException("No such account.")
    return row


async def create_reset_link(
    db: Database, clock: Clock, settings: Settings, *, admin: CurrentUser, actor: Actor, user_id: str
) -> ResetLink:
    target = await _account(db, admin, user_id)
    token = new_token()
    now = clock.now()
    async with db.transaction() as conn:
        # Only the newest link works.
        await conn.execute(
            "UPDATE password_resets SET used_at = ? WHERE user_id = ? AND used_at IS NULL", (iso(now), user_id)
        )
        await conn.execute(
            "INSERT INTO password_resets (token_hash, user_id, created_by, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (token_hash(token), user_id, admin.id, iso(now), iso(now + RESET_LIFETIME)),
        )
        await audit.record(
            conn,
            at=iso(now),
            actor=actor,
            action="account.password_reset_link",
            object_type="user",
            object_id=user_id,
            patient_id=user_id if target["role"] == "patient" else None,
        )
    return ResetLink(url=f"{settings.base_url}/reset/{token}", expires_at=iso(now + RESET_LIFETIME))


async def _open_reset(db: Database, clock: Clock, token: str) -> Any:
    row = await db.fetch_one(
        "SELECT r.user_id, u.email, u.display_name FROM password_resets r JOIN users u ON u.id = r.user_id"
        " WHERE r.token_hash = ? AND r.used_at IS NULL AND r.expires_at > ? AND u.disabled_at IS NULL",
        (token_hash(token), iso(clock.now())),
    )
    if row is None:
        raise NotFoundException(RESET_GONE)
    return row


async def use_reset_link(db: Database, clock: Clock, *, token: str, password: str, client_address: str) -> None:
    target = await _open_reset(db, clock, token)
    if problem := password_problem(password):
        raise FieldError("password", problem)
    new_hash = await to_thread.run_sync(hash_password, password)
    now = iso(clock.now())
    async with db.transaction() as conn:
        claimed = await fetch_one(
            conn,
            "UPDATE password_resets SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?"
            " RETURNING user_id",
            (now, token_hash(token), now),
        )
        if claimed is None:
            raise NotFoundException(RESET_GONE)
        await queries.update_password_hash(conn, target["user_id"], new_hash, now)
        await end_all_sessions(conn, target["user_id"])
        await audit.record(
            conn,
            at=now,
            actor=Actor(target["user_id"], None, client_address),
            action="account.password_reset",
            object_type="user",
            object_id=target["user_id"],
        )


async def reset_second_factor(db: Database, clock: Clock, *, admin: CurrentUser, actor: Actor, user_id: str) -> None:
    target = await _account(db, admin, user_id)
    async with db.transaction() as conn:
        await queries.delete_factor(conn, user_id)
        await end_all_sessions(conn, user_id)
        await audit.record(
            conn,
            at=iso(clock.now()),
            actor=actor,
            action="mfa.reset_by_admin",
            object_type="user",
            object_id=user_id,
            patient_id=user_id if target["role"] == "patient" else None,
        )


class ResetApi(Controller):
    path = "/api/v1/admin/users/{user_id:str}"
    guards = [admins_only]
    tags = ["admin"]

    @post("/password-reset", status_code=HTTP_201_CREATED, description="A one-time link (1 hour) to set a new password")
    async def password_reset(
        self, user_id: str, user: CurrentUser, actor: Actor, db: Database, clock: Clock, settings: Settings
    ) -> ResetLink:
        return await create_reset_link(db, clock, settings, admin=user, actor=actor, user_id=user_id)

    @post("/mfa-reset", status_code=HTTP_204_NO_CONTENT, description="Remove a lost second factor; sessions end")
    async def mfa_reset(self, user_id: str, user: CurrentUser, actor: Actor, db: Database, clock: Clock) -> None:
        await reset_second_factor(db, clock, admin=user, actor=actor, user_id=user_id)


class AdminResetPages(Controller):
    """The buttons on an admin's patient and therapist pages."""

    path = "/admin/users/{user_id:str}"
    guards = [admins_only]
    include_in_schema = False

    async def _back(self, db: Database, user_id: str) -> str:
        row = await db.fetch_one("SELECT role FROM users WHERE id = ?", (user_id,))
        return f"/admin/{'patients' if row and row['role'] == 'patient' else 'therapists'}/{user_id}"

    @post("/password-link")
    async def password_link(
        self,
        request: Request[Any, Any, Any],
        user_id: str,
        user: CurrentUser,
        actor: Actor,
        db: Database,
        clock: Clock,
        settings: Settings,
    ) -> Template:
        link = await create_reset_link(db, clock, settings, admin=user, actor=actor, user_id=user_id)
        # Shown once on a no-store page, never put in a URL: the link is a key to the account.
        return page(request, "admin/reset_link.html", link=link, back=await self._back(db, user_id))

    @post("/two-factor-reset")
    async def two_factor_reset(
        self, user_id: str, user: CurrentUser, actor: Actor, db: Database, clock: Clock
    ) -> Redirect:
        await reset_second_factor(db, clock, admin=user, actor=actor, user_id=user_id)
        return redirect(await self._back(db, user_id))


class ResetPages(Controller):
    include_in_schema = False

    @get("/reset/{token:str}")
    async def form(self, request: Request[Any, Any, Any], token: str, db: Database, clock: Clock) -> Template:
        target = await _open_reset(db, clock, token)
        return page(request, "accounts/reset.html", token=token, email=target["email"], error=None)

    @post("/reset/{token:str}")
    async def reset(
        self, request: Request[Any, Any, Any], token: str, db: Database, clock: Clock
    ) -> Template | Redirect:
        fields = await form_fields(request, "password")
        target = await _open_reset(db, clock, token)
        client = client_address(request)
        try:
            await use_reset_link(db, clock, token=token, password=fields["password"][:1024], client_address=client)
        except FieldError as exc:
            return page(
                request, "accounts/reset.html", status=422, token=token, email=target["email"], error=exc.detail
            )
        return redirect("/login?reset=1")


ROUTES = [ResetApi, AdminResetPages, ResetPages]
