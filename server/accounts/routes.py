"""Sign-in, sign-out, the current user, first-run set-up and invitations: JSON API and pages."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.exceptions import HTTPException, NotFoundException
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from server.accounts import queries, service
from server.accounts.schemas import (
    InvitationAccept,
    InvitationCreate,
    InvitationCreated,
    InvitationList,
    InvitationOut,
    LoginRequest,
    PasswordChange,
    UserOut,
    UserResponse,
)
from server.accounts.service import Client
from server.clock import Clock, iso
from server.db import Database
from server.errors import field_errors
from server.security.audit import Actor
from server.security.auth import clinicians_only, signed_in
from server.security.sessions import SESSION_COOKIE, CurrentUser
from server.settings import Settings
from server.web import (
    CLEAR_SITE_DATA,
    expired_session_cookie,
    form_fields,
    home_path,
    page,
    redirect,
    safe_next,
)
from server.web import session_cookie as make_session_cookie


def _signed_in_response(settings: Settings, signed: service.SignedIn, status: int) -> Response[UserResponse]:
    return Response(
        UserResponse(user=UserOut.of(signed.user)),
        status_code=status,
        cookies=[make_session_cookie(settings, signed.session_id, signed.user.role)],
    )


def _signed_out_headers() -> dict[str, str]:
    return {"Clear-Site-Data": CLEAR_SITE_DATA}


class AuthApi(Controller):
    path = "/api/v1"
    tags = ["auth"]

    @post("/auth/login", status_code=HTTP_200_OK)
    async def login(
        self,
        request: Request[Any, Any, Any],
        data: LoginRequest,
        db: Database,
        clock: Clock,
        settings: Settings,
        client: Client,
    ) -> Response[UserResponse]:
        signed = await service.sign_in(
            db,
            clock,
            email=data.email,
            password=data.password,
            client=client,
            replaces=request.cookies.get(SESSION_COOKIE),
        )
        return _signed_in_response(settings, signed, HTTP_200_OK)

    @post("/auth/logout", status_code=HTTP_204_NO_CONTENT)
    async def logout(
        self, request: Request[Any, Any, Any], db: Database, clock: Clock, settings: Settings, actor: Actor
    ) -> Response[None]:
        user: CurrentUser | None = request.scope.get("user")
        if user is not None:
            await service.sign_out(db, clock, user, actor)
        return Response(
            None,
            status_code=HTTP_204_NO_CONTENT,
            headers=_signed_out_headers(),
            cookies=[expired_session_cookie(settings)],
        )

    @get("/me", guards=[signed_in])
    async def me(self, user: CurrentUser) -> UserResponse:
        return UserResponse(user=UserOut.of(user))

    @post("/me/password", guards=[signed_in], status_code=HTTP_204_NO_CONTENT)
    async def change_password(
        self, data: PasswordChange, user: CurrentUser, actor: Actor, db: Database, clock: Clock
    ) -> None:
        await service.change_password(db, clock, user, actor, current=data.current_password, new=data.new_password)


class InvitationsApi(Controller):
    path = "/api/v1/invitations"
    tags = ["invitations"]

    @post("/", guards=[clinicians_only], status_code=HTTP_201_CREATED)
    async def create(
        self,
        data: InvitationCreate,
        user: CurrentUser,
        actor: Actor,
        db: Database,
        clock: Clock,
        settings: Settings,
    ) -> InvitationCreated:
        invitation = await service.create_invitation(
            db, clock, user, actor, email=data.email, display_name=data.display_name
        )
        return InvitationCreated(
            id=invitation.id,
            url=f"{settings.base_url}/invite/{invitation.token}",
            expires_at=invitation.expires_at,
        )

    @get("/", guards=[clinicians_only])
    async def list_mine(self, user: CurrentUser, db: Database, clock: Clock) -> InvitationList:
        now = iso(clock.now())
        rows = await queries.invitations_by(db, user.id)
        return InvitationList(
            items=[
                InvitationOut(
                    id=row["id"],
                    role=row["role"],
                    email=row["email"],
                    display_name=row["display_name"],
                    created_at=row["created_at"],
                    expires_at=row["expires_at"],
                    status=service.invitation_status(row, now),  # type: ignore[arg-type]
                )
                for row in rows
            ]
        )

    @delete("/{invitation_id:str}", guards=[clinicians_only], status_code=HTTP_204_NO_CONTENT)
    async def revoke(self, invitation_id: str, user: CurrentUser, actor: Actor, db: Database, clock: Clock) -> None:
        await service.revoke_invitation(db, clock, user, actor, invitation_id)

    @post("/accept", status_code=HTTP_201_CREATED)
    async def accept(
        self, data: InvitationAccept, db: Database, clock: Clock, settings: Settings, client: Client
    ) -> Response[UserResponse]:
        signed = await service.accept_invitation(
            db,
            clock,
            token=data.token,
            password=data.password,
            display_name=data.display_name,
            timezone=data.timezone,
            client=client,
        )
        return _signed_in_response(settings, signed, HTTP_201_CREATED)


def _form_error(exc: HTTPException) -> str:
    errors = field_errors(exc)
    return errors[0]["message"] if errors else str(exc.detail)


class AccountPages(Controller):
    include_in_schema = False

    @get("/")
    async def root(self, request: Request[Any, Any, Any]) -> Redirect:
        return redirect(home_path(request.scope.get("user")))

    @get("/login")
    async def login_form(self, request: Request[Any, Any, Any], next: str | None = None) -> Template | Redirect:
        user = request.scope.get("user")
        if user is not None:
            return redirect(safe_next(next, home_path(user)))
        return page(request, "accounts/login.html", next=safe_next(next, ""), email="", error=None)

    @post("/login")
    async def login(
        self, request: Request[Any, Any, Any], db: Database, clock: Clock, settings: Settings, client: Client
    ) -> Template | Redirect:
        fields = await form_fields(request, "email", "password", "next")
        try:
            signed = await service.sign_in(
                db,
                clock,
                email=fields["email"][:254],
                password=fields["password"][:1024],
                client=client,
                replaces=request.cookies.get(SESSION_COOKIE),
            )
        except HTTPException as exc:
            return Template(
                template_name="accounts/login.html",
                context={
                    "user": None,
                    "next": safe_next(fields["next"], ""),
                    "email": fields["email"][:254],
                    "error": exc.detail,
                },
                status_code=exc.status_code,
                headers=exc.headers,
            )
        destination = safe_next(fields["next"], home_path(signed.user))
        return redirect(destination, cookies=[make_session_cookie(settings, signed.session_id, signed.user.role)])

    @post("/logout")
    async def logout(
        self, request: Request[Any, Any, Any], db: Database, clock: Clock, settings: Settings, actor: Actor
    ) -> Redirect:
        user: CurrentUser | None = request.scope.get("user")
        if user is not None:
            await service.sign_out(db, clock, user, actor)
        return redirect(
            "/login?signed_out=1", cookies=[expired_session_cookie(settings)], headers=_signed_out_headers()
        )

    @get("/account", guards=[signed_in])
    async def account(self, request: Request[Any, Any, Any]) -> Template:
        return page(request, "accounts/account.html", error=None, changed=False)

    @post("/account/password", guards=[signed_in])
    async def change_password(
        self, request: Request[Any, Any, Any], user: CurrentUser, actor: Actor, db: Database, clock: Clock
    ) -> Template:
        fields = await form_fields(request, "current_password", "new_password")
        try:
            await service.change_password(
                db,
                clock,
                user,
                actor,
                current=fields["current_password"][:1024],
                new=fields["new_password"][:1024],
            )
        except HTTPException as exc:
            return page(
                request,
                "accounts/account.html",
                status=exc.status_code,
                error=_form_error(exc),
                changed=False,
            )
        return page(request, "accounts/account.html", error=None, changed=True)

    @get("/setup/{token:str}")
    async def setup_form(self, request: Request[Any, Any, Any], token: str, db: Database, clock: Clock) -> Template:
        if not await service.setup_link_usable(db, clock, token):
            raise NotFoundException(service.SETUP_GONE)
        return page(request, "accounts/setup.html", token=token, values={}, error=None)

    @post("/setup/{token:str}")
    async def setup(
        self,
        request: Request[Any, Any, Any],
        token: str,
        db: Database,
        clock: Clock,
        settings: Settings,
        client: Client,
    ) -> Template | Redirect:
        fields = await form_fields(request, "clinic_name", "display_name", "email", "password")
        try:
            signed = await service.create_first_admin(
                db,
                clock,
                token=token,
                clinic_name=fields["clinic_name"][:200],
                display_name=fields["display_name"][:100],
                email=fields["email"][:254],
                password=fields["password"][:1024],
                client=client,
            )
        except HTTPException as exc:
            if exc.status_code == 404:
                raise
            values = {k: v for k, v in fields.items() if k != "password"}
            return page(
                request,
                "accounts/setup.html",
                status=exc.status_code,
                token=token,
                values=values,
                error=_form_error(exc),
            )
        return redirect("/admin", cookies=[make_session_cookie(settings, signed.session_id, "admin")])

    @get("/invite/{token:str}")
    async def invitation_form(
        self, request: Request[Any, Any, Any], token: str, db: Database, clock: Clock
    ) -> Template:
        invitation = await service.open_invitation(db, clock, token)
        return page(request, "accounts/invitation.html", token=token, invitation=invitation, error=None)

    @post("/invite/{token:str}")
    async def accept_invitation(
        self,
        request: Request[Any, Any, Any],
        token: str,
        db: Database,
        clock: Clock,
        settings: Settings,
        client: Client,
    ) -> Template | Redirect:
        fields = await form_fields(request, "display_name", "password", "timezone")
        invitation = await service.open_invitation(db, clock, token)
        try:
            signed = await service.accept_invitation(
                db,
                clock,
                token=token,
                password=fields["password"][:1024],
                display_name=fields["display_name"][:100] or None,
                timezone=fields["timezone"][:64] or None,
                client=client,
            )
        except HTTPException as exc:
            if exc.status_code == 404:
                raise
            invitation["display_name"] = fields["display_name"][:100] or invitation["display_name"]
            return page(
                request,
                "accounts/invitation.html",
                status=exc.status_code,
                token=token,
                invitation=invitation,
                error=_form_error(exc),
            )
        return redirect(
            home_path(signed.user),
            cookies=[make_session_cookie(settings, signed.session_id, signed.user.role)],
        )


# Registered by server.app; a feature adds its controllers here and nowhere else.
ROUTES = [AuthApi, InvitationsApi, AccountPages]
