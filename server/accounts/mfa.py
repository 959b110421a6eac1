"""Two-factor sign-in: finishing a sign-in with a code, enrolling, recovery codes, and the list of
sessions with "sign out everywhere". Codes are throttled with the same counters as passwords."""

from __future__ import annotations

import msgspec
from anyio import to_thread
from litestar.exceptions import NotAuthorizedException, NotFoundException, TooManyRequestsException
from markupsafe import Markup

from server.accounts import queries
from server.accounts.service import Client, SignedIn
from server.clock import Clock, iso
from server.db import Database
from server.errors import ConflictError, FieldError
from server.security import audit, mfa, throttle
from server.security.audit import Actor
from server.security.passwords import verify_password
from server.security.sessions import (
    ENROL_PENDING,
    FULL,
    CurrentUser,
    create_session,
    end_other_sessions,
    end_session,
    end_session_by_public_id,
    sessions_of,
)
from server.security.tokens import token_hash

WRONG_CODE = "That code is not right. Use the 6-digit code from your app, or one of your recovery codes."


class Enrolment(msgspec.Struct, frozen=True):
    secret: str
    uri: str
    qr_svg: Markup


class MfaStatus(msgspec.Struct, frozen=True):
    enabled: bool
    required: bool
    recovery_codes_left: int


class SessionInfo(msgspec.Struct, frozen=True):
    id: str
    created_at: str
    last_seen_at: str
    client_address: str
    user_agent: str
    current: bool


async def _throttled(db: Database, clock: Clock, user: CurrentUser, client: Client) -> None:
    wait = await throttle.retry_after(db, email=user.email, client_address=client.address, now=clock.now())
    if wait is not None:
        raise TooManyRequestsException(
            detail="Too many wrong codes. Please wait and try again.", headers={"Retry-After": str(wait)}
        )


async def _fail(db: Database, clock: Clock, user: CurrentUser, client: Client, action: str) -> None:
    now = clock.now()
    async with db.transaction() as conn:
        await throttle.record_failure(conn, email=user.email, client_address=client.address, now=now)
        await audit.record(conn, at=iso(now), actor=Actor(user.id, user.role, client.address), action=action)


async def _accept_code(db: Database, clock: Clock, user: CurrentUser, code: str) -> str | None:
    """'totp' or 'recovery_code' if the code is good (and is now used up), else None."""
    factor = await queries.mfa_factor(db, user.id)
    if factor is None or factor["enabled_at"] is None:
        return None
    now = clock.now()
    step = mfa.matching_step(factor["secret"], code, now, factor["last_used_step"])
    async with db.transaction() as conn:
        if step is not None and await queries.use_step(conn, user.id, step):
            return "totp"
        if await queries.use_recovery_code(conn, user.id, mfa.recovery_code_hash(code), iso(now)):
            return "recovery_code"
    return None


async def _full_session(
    db: Database, clock: Clock, user: CurrentUser, client: Client, detail: dict[str, str]
) -> SignedIn:
    """Replace the half-way session with a new one: the id changes when the privilege does."""
    now = clock.now()
    async with db.transaction() as conn:
        await end_session(conn, user.session_hash)
        session_id = await create_session(
            conn, user_id=user.id, role=user.role, now=now, client_address=client.address, user_agent=client.user_agent
        )
        await audit.record(
            conn, at=iso(now), actor=Actor(user.id, user.role, client.address), action="auth.login", detail=detail
        )
    full = msgspec.structs.replace(user, stage=FULL, session_hash=token_hash(session_id))
    return SignedIn(user=full, session_id=session_id)


async def finish_sign_in(db: Database, clock: Clock, user: CurrentUser, *, code: str, client: Client) -> SignedIn:
    """The second step of signing in, for a session whose password step is done."""
    if user.stage == FULL:
        raise ConflictError("You are already signed in.")
    if user.stage == ENROL_PENDING:
        raise ConflictError("Set up two-factor sign-in first.")
    await _throttled(db, clock, user, client)
    used = await _accept_code(db, clock, user, code)
    if used is None:
        await _fail(db, clock, user, client, "auth.mfa.failed")
        raise NotAuthorizedException(WRONG_CODE)
    return await _full_session(db, clock, user, client, {"second_factor": used})


async def status(db: Database, user: CurrentUser) -> MfaStatus:
    factor = await queries.mfa_factor(db, user.id)
    return MfaStatus(
        enabled=factor is not None and factor["enabled_at"] is not None,
        required=await queries.mfa_required(db, user.id),
        recovery_codes_left=await queries.recovery_codes_left(db, user.id),
    )


async def start_enrolment(db: Database, clock: Clock, user: CurrentUser) -> Enrolment:
    if (await status(db, user)).enabled:
        raise ConflictError("Two-factor sign-in is already on. Turn it off first to set up a new phone.")
    secret = mfa.new_secret()
    async with db.transaction() as conn:
        await queries.save_pending_factor(conn, user.id, secret, iso(clock.now()))
    uri = mfa.provisioning_uri(secret, user.email)
    return Enrolment(secret=secret, uri=uri, qr_svg=mfa.qr_svg(uri))


async def pending_enrolment(db: Database, user: CurrentUser) -> Enrolment | None:
    factor = await queries.mfa_factor(db, user.id)
    if factor is None or factor["enabled_at"] is not None:
        return None
    uri = mfa.provisioning_uri(factor["secret"], user.email)
    return Enrolment(secret=factor["secret"], uri=uri, qr_svg=mfa.qr_svg(uri))


async def finish_enrolment(
    db: Database, clock: Clock, user: CurrentUser, *, code: str, client: Client
) -> tuple[list[str], SignedIn | None]:
    """Turn the factor on with a first good code. Returns the recovery codes (shown once) and, for a
    sign-in that was waiting on enrolment, the new full session."""
    factor = await queries.mfa_factor(db, user.id)
    if factor is None or factor["enabled_at"] is not None:
        raise ConflictError("Start the set-up again: scan a new QR code.")
    await _throttled(db, clock, user, client)
    now = clock.now()
    step = mfa.matching_step(factor["secret"], code, now, 0)
    if step is None:
        await _fail(db, clock, user, client, "mfa.enrolment_failed")
        raise FieldError("code", "That code does not match. Check your phone's clock and try the newest code.")
    codes = mfa.new_recovery_codes()
    async with db.transaction() as conn:
        if not await queries.enable_factor(conn, user.id, step, iso(now)):
            raise ConflictError("Two-factor sign-in is already on.")
        await queries.replace_recovery_codes(conn, user.id, [mfa.recovery_code_hash(c) for c in codes], iso(now))
        await audit.record(
            conn,
            at=iso(now),
            actor=Actor(user.id, user.role, client.address),
            action="mfa.enabled",
            object_type="user",
            object_id=user.id,
        )
    signed = None
    if user.stage == ENROL_PENDING:
        signed = await _full_session(db, clock, user, client, {"second_factor": "enrolment"})
    return codes, signed


async def _check_password(db: Database, user: CurrentUser, password: str) -> None:
    row = await queries.user_by_id(db, user.id)
    assert row is not None
    if not await to_thread.run_sync(verify_password, row["password_hash"], password):
        raise FieldError("password", "That is not your password.")


async def turn_off(db: Database, clock: Clock, user: CurrentUser, actor: Actor, *, password: str) -> None:
    if await queries.mfa_required(db, user.id):
        raise ConflictError("Your clinic requires two-factor sign-in, so it cannot be turned off.")
    await _check_password(db, user, password)
    async with db.transaction() as conn:
        await queries.delete_factor(conn, user.id)
        await audit.record(
            conn, at=iso(clock.now()), actor=actor, action="mfa.disabled", object_type="user", object_id=user.id
        )


async def new_recovery_codes(
    db: Database, clock: Clock, user: CurrentUser, actor: Actor, *, password: str
) -> list[str]:
    if not (await status(db, user)).enabled:
        raise ConflictError("Turn on two-factor sign-in first.")
    await _check_password(db, user, password)
    codes = mfa.new_recovery_codes()
    now = iso(clock.now())
    async with db.transaction() as conn:
        await queries.replace_recovery_codes(conn, user.id, [mfa.recovery_code_hash(c) for c in codes], now)
        await audit.record(
            conn, at=now, actor=actor, action="mfa.recovery_codes_replaced", object_type="user", object_id=user.id
        )
    return codes


# --- sessions ---------------------------------------------------------------------------------------


async def my_sessions(db: Database, clock: Clock, user: CurrentUser) -> list[SessionInfo]:
    return [
        SessionInfo(
            id=r["public_id"] or "",
            created_at=r["created_at"],
            last_seen_at=r["last_seen_at"],
            client_address=r["client_address"],
            user_agent=r["user_agent"],
            current=r["id_hash"] == user.session_hash,
        )
        for r in await sessions_of(db, user.id, clock.now())
    ]


async def sign_out_elsewhere(db: Database, clock: Clock, user: CurrentUser, actor: Actor) -> int:
    async with db.transaction() as conn:
        ended = await end_other_sessions(conn, user.id, user.session_hash)
        await audit.record(
            conn, at=iso(clock.now()), actor=actor, action="auth.logout_everywhere", detail={"sessions_ended": ended}
        )
    return ended


async def end_one_session(db: Database, clock: Clock, user: CurrentUser, actor: Actor, public_id: str) -> None:
    async with db.transaction() as conn:
        if not await end_session_by_public_id(conn, user.id, public_id):
            raise NotFoundException("No such session.")
        await audit.record(conn, at=iso(clock.now()), actor=actor, action="auth.session_ended")
