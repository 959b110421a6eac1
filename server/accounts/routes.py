"""Sign-in, sign-out, the current user, first-run set-up and invitations: JSON API and pages."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.exceptions import HTTPException, NotAuthorizedException, NotFoundException
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from server.accounts import mfa, queries, service
from server.accounts.schemas import (
    CodeIn,
    EndedOut,
    InvitationAccept,
    InvitationCreate,
    InvitationCreated,
    InvitationList,
    InvitationOut,
    LoginRequest,
    LoginResult,
    MfaSetupOut,
    MfaStatusOut,
    PasswordChange,
    PasswordConfirm,
    RecoveryCodesOut,
    SessionList,
    SessionOut,
    UserOut,
    UserResponse,
)
from server.accounts.service import Client
from server.clock import Clock, iso
from server.db import Database
from server.errors import field_errors
from server.security.audit import Actor
from server.security.auth import clinicians_only, signed_in
from server.security.sessions import ENROL_PENDING, FULL, MFA_PENDING, SESSION_COOKIE, CurrentUser
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


def _signed_in_response(settings: Settings, signed: service.SignedIn, status: int) -> Response[LoginResult]:
    """The body says what the session can do: everything, or only finishing the second factor."""
    stage = signed.user.stage
    body = LoginResult(
        user=None if stage == MFA_PENDING else UserOut.of(signed.user),
        mfa_required=stage == MFA_PENDING,
        mfa_enrolment_required=stage == ENROL_PENDING,
    )
    return Response(
        body, status_code=status, cookies=[make_session_cookie(settings, signed.session_id, signed.user.role)]
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
    ) -> Response[LoginResult]:
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

    @post("/auth/mfa", status_code=HTTP_200_OK, description="The second step of signing in: a TOTP or recovery code")
    async def second_factor(
        self, data: CodeIn, any_user: CurrentUser, db: Database, clock: Clock, settings: Settings, client: Client
    ) -> Response[LoginResult]:
        signed = await mfa.finish_sign_in(db, clock, any_user, code=data.code, client=client)
        return _signed_in_response(settings, signed, HTTP_200_OK)

    @get("/me", guards=[signed_in])
    async def me(self, user: CurrentUser) -> UserResponse:
        return UserResponse(user=UserOut.of(user))

    @post("/me/password", guards=[signed_in], status_code=HTTP_204_NO_CONTENT)
    async def change_password(
        self, data: PasswordChange, user: CurrentUser, actor: Actor, db: Database, clock: Clock
    ) -> None:
        await service.change_password(db, clock, user, actor, current=data.current_password, new=data.new_password)


def _stage_in(user: CurrentUser, *stages: str) -> None:
    if user.stage not in stages:
        raise NotAuthorizedException("Finish signing in first.")


class MfaApi(Controller):
    """Two-factor sign-in for the current user, and their sessions."""

    path = "/api/v1/me"
    tags = ["auth"]

    @get("/mfa")
    async def mfa_status(self, any_user: CurrentUser, db: Database) -> MfaStatusOut:
        _stage_in(any_user, FULL, ENROL_PENDING)
        found = await mfa.status(db, any_user)
        return MfaStatusOut(
            enabled=found.enabled, required=found.required, recovery_codes_left=found.recovery_codes_left
        )

    @post("/mfa/setup", status_code=HTTP_200_OK)
    async def mfa_setup(self, any_user: CurrentUser, db: Database, clock: Clock) -> MfaSetupOut:
        _stage_in(any_user, FULL, ENROL_PENDING)
        enrolment = await mfa.start_enrolment(db, clock, any_user)
        return MfaSetupOut(secret=enrolment.secret, otpauth_uri=enrolment.uri, qr_svg=str(enrolment.qr_svg))

    @post("/mfa/enable", status_code=HTTP_200_OK)
    async def mfa_enable(
        self, data: CodeIn, any_user: CurrentUser, db: Database, clock: Clock, settings: Settings, client: Client
    ) -> Response[RecoveryCodesOut]:
        _stage_in(any_user, FULL, ENROL_PENDING)
        codes, signed = await mfa.finish_enrolment(db, clock, any_user, code=data.code, client=client)
        cookies = [make_session_cookie(settings, signed.session_id, signed.user.role)] if signed else []
        return Response(RecoveryCodesOut(recovery_codes=codes), cookies=cookies)

    @post("/mfa/disable", guards=[signed_in], status_code=HTTP_204_NO_CONTENT)
    async def mfa_disable(
        self, data: PasswordConfirm, user: CurrentUser, actor: Actor, db: Database, clock: Clock
    ) -> None:
        await mfa.turn_off(db, clock, user, actor, password=data.password)

    @post("/mfa/recovery-codes", guards=[signed_in], status_code=HTTP_200_OK)
    async def mfa_recovery_codes(
        self, data: PasswordConfirm, user: CurrentUser, actor: Actor, db: Database, clock: Clock
    ) -> RecoveryCodesOut:
        return RecoveryCodesOut(
            recovery_codes=await mfa.new_recovery_codes(db, clock, user, actor, password=data.password)
        )

    @get("/sessions", guards=[signed_in])
    async def sessions(self, user: CurrentUser, db: Database, clock: Clock) -> SessionList:
        return SessionList(
            items=[SessionOut(**msgspec.structs.asdict(s)) for s in await mfa.my_sessions(db, clock, user)]
        )

    @post("/sessions/end-others", guards=[signed_in], status_code=HTTP_200_OK, description="Sign out everywhere else")
    async def end_others(self, user: CurrentUser, actor: Actor, db: Database, clock: Clock) -> EndedOut:
        return EndedOut(ended=await mfa.sign_out_elsewhere(db, clock, user, actor))

    @delete("/sessions/{session_id:str}", guards=[signed_in], status_code=HTTP_204_NO_CONTENT)
    async def end_one(self, session_id: str, user: CurrentUser, actor: Actor, db: Database, clock: Clock) -> None:
        await mfa.end_one_session(db, clock, user, actor, session_id)


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
    ) -> Response[LoginResult]:
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


async def _account_page(
    request: Request[Any, Any, Any],
    user: CurrentUser,
    db: Database,
    clock: Clock,
    *,
    error: str | None,
    changed: bool,
    status: int = 200,
) -> Template:
    return page(
        request,
        "accounts/account.html",
        status=status,
        error=error,
        changed=changed,
        sessions=await mfa.my_sessions(db, clock, user),
        two_factor=await mfa.status(db, user),
        ended=request.query_params.get("ended"),
    )


async def _two_factor_page(
    request: Request[Any, Any, Any],
    user: CurrentUser,
    db: Database,
    clock: Clock,
    *,
    error: str | None,
    codes: list[str] | None,
    status: int = 200,
) -> Template:
    state = await mfa.status(db, user)
    enrolment = None
    if not state.enabled:
        enrolment = await mfa.pending_enrolment(db, user) or await mfa.start_enrolment(db, clock, user)
    return Template(
        template_name="accounts/two_factor.html",
        context={
            "user": user if user.stage == FULL else None,
            "state": state,
            "enrolment": enrolment,
            "codes": codes,
            "error": error,
            "enrolling": user.stage == ENROL_PENDING,
        },
        status_code=status,
    )


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
        cookies = [make_session_cookie(settings, signed.session_id, signed.user.role)]
        if signed.user.stage == MFA_PENDING:
            return redirect(f"/login/code?next={quote(safe_next(fields['next'], ''))}", cookies=cookies)
        if signed.user.stage == ENROL_PENDING:
            return redirect("/account/two-factor", cookies=cookies)
        return redirect(safe_next(fields["next"], home_path(signed.user)), cookies=cookies)

    @get("/login/code")
    async def code_form(self, request: Request[Any, Any, Any], next: str | None = None) -> Template | Redirect:
        if request.scope.get("partial_user") is None:
            return redirect("/login")
        return page(request, "accounts/login_code.html", next=safe_next(next, ""), error=None)

    @post("/login/code")
    async def code(
        self,
        request: Request[Any, Any, Any],
        any_user: CurrentUser,
        db: Database,
        clock: Clock,
        settings: Settings,
        client: Client,
    ) -> Template | Redirect:
        fields = await form_fields(request, "code", "next")
        try:
            signed = await mfa.finish_sign_in(db, clock, any_user, code=fields["code"][:32], client=client)
        except HTTPException as exc:
            return Template(
                template_name="accounts/login_code.html",
                context={"user": None, "next": safe_next(fields["next"], ""), "error": exc.detail},
                status_code=exc.status_code,
                headers=exc.headers,
            )
        return redirect(
            safe_next(fields["next"], home_path(signed.user)),
            cookies=[make_session_cookie(settings, signed.session_id, signed.user.role)],
        )

    @get("/account/two-factor")
    async def two_factor(
        self, request: Request[Any, Any, Any], any_user: CurrentUser, db: Database, clock: Clock
    ) -> Template:
        _stage_in(any_user, FULL, ENROL_PENDING)
        return await _two_factor_page(request, any_user, db, clock, error=None, codes=None)

    @post("/account/two-factor/enable")
    async def two_factor_enable(
        self,
        request: Request[Any, Any, Any],
        any_user: CurrentUser,
        db: Database,
        clock: Clock,
        settings: Settings,
        client: Client,
    ) -> Template:
        _stage_in(any_user, FULL, ENROL_PENDING)
        fields = await form_fields(request, "code")
        try:
            codes, signed = await mfa.finish_enrolment(db, clock, any_user, code=fields["code"][:32], client=client)
        except HTTPException as exc:
            return await _two_factor_page(
                request, any_user, db, clock, error=_form_error(exc), codes=None, status=exc.status_code
            )
        response = await _two_factor_page(
            request, signed.user if signed else any_user, db, clock, error=None, codes=codes
        )
        if signed:
            response.cookies.append(make_session_cookie(settings, signed.session_id, signed.user.role))
        return response

    @post("/account/two-factor/recovery-codes", guards=[signed_in])
    async def two_factor_codes(
        self, request: Request[Any, Any, Any], user: CurrentUser, actor: Actor, db: Database, clock: Clock
    ) -> Template:
        fields = await form_fields(request, "password")
        try:
            codes = await mfa.new_recovery_codes(db, clock, user, actor, password=fields["password"][:1024])
        except HTTPException as exc:
            return await _two_factor_page(
                request, user, db, clock, error=_form_error(exc), codes=None, status=exc.status_code
            )
        return await _two_factor_page(request, user, db, clock, error=None, codes=codes)

    @post("/account/two-factor/disable", guards=[signed_in])
    async def two_factor_disable(
        self, request: Request[Any, Any, Any], user: CurrentUser, actor: Actor, db: Database, clock: Clock
    ) -> Template | Redirect:
        fields = await form_fields(request, "password")
        try:
            await mfa.turn_off(db, clock, user, actor, password=fields["password"][:1024])
        except HTTPException as exc:
            return await _two_factor_page(
                request, user, db, clock, error=_form_error(exc), codes=None, status=exc.status_code
            )
        return redirect("/account/two-factor")

    @post("/account/sessions/end-others", guards=[signed_in])
    async def end_other_sessions(self, user: CurrentUser, actor: Actor, db: Database, clock: Clock) -> Redirect:
        await mfa.sign_out_elsewhere(db, clock, user, actor)
        return redirect("/account?ended=1")

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
    async def account(self, request: Request[Any, Any, Any], user: CurrentUser, db: Database, clock: Clock) -> Template:
        return await _account_page(request, user, db, clock, error=None, changed=False)

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
            return await _account_page(
                request, user, db, clock, error=_form_error(exc), changed=False, status=exc.status_code
            )
        return await _account_page(request, user, db, clock, error=None, changed=True)

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
ROUTES = [AuthApi, MfaApi, InvitationsApi, AccountPages]
