"""The accounts flows, shared by the HTML pages and the JSON API."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import timedelta

import msgspec
from anyio import to_thread
from litestar.exceptions import NotAuthorizedException, NotFoundException, TooManyRequestsException

from server.accounts import queries
from server.accounts.schemas import normalise_email
from server.clock import Clock, checked_timezone, iso
from server.db import Database
from server.errors import ConflictError, FieldError
from server.security import audit, throttle
from server.security.audit import Actor
from server.security.passwords import hash_password, needs_rehash, password_problem, verify_password
from server.security.sessions import (
    ENROL_PENDING,
    FULL,
    MFA_PENDING,
    CurrentUser,
    create_session,
    end_other_sessions,
    end_session,
)
from server.security.tokens import new_token, token_hash

INVITATION_LIFETIME = timedelta(days=7)
SETUP_LIFETIME = timedelta(hours=1)
WRONG_CREDENTIALS = "Email or password is incorrect."
INVITATION_GONE = "This invitation link has expired, was already used or was withdrawn. Ask for a new one."
SETUP_GONE = "This set-up link has expired or was already used."


class SignedIn(msgspec.Struct, frozen=True):
    user: CurrentUser
    session_id: str


class Client(msgspec.Struct, frozen=True):
    """Where a request came from, for sessions and the audit trail."""

    address: str
    user_agent: str


def _current_user(row_id: str, clinic_id: int, role: str, email: str, name: str, tz: str, sid: str) -> CurrentUser:
    return CurrentUser(
        id=row_id,
        clinic_id=clinic_id,
        role=role,
        email=email,
        display_name=name,
        timezone=tz,
        session_hash=token_hash(sid),
    )


async def sign_in(
    db: Database, clock: Clock, *, email: str, password: str, client: Client, replaces: str | None
) -> SignedIn:
    """Check the password and start a new session (never reusing ``replaces``, the old one).

    Unknown email, wrong password and a disabled account all get the same answer, after the same work.
    """
    now = clock.now()
    account = normalise_email(email) or email.strip().lower()[:254]
    actor = Actor(user_id=None, role=None, client_address=client.address)
    wait = await throttle.retry_after(db, email=account, client_address=client.address, now=now)
    if wait is not None:
        async with db.transaction() as conn:
            await audit.record(conn, at=iso(now), actor=actor, action="auth.login.throttled")
        raise TooManyRequestsException(
            detail=f"Too many failed sign-ins. Please wait {(wait + 59) // 60} minute(s) and try again.",
            headers={"Retry-After": str(wait)},
        )
    row = await queries.user_by_email(db, account)
    password_ok = await to_thread.run_sync(verify_password, row["password_hash"] if row else None, password)
    if row is None or not password_ok or row["disabled_at"] is not None:
        reason = "unknown_account" if row is None else "wrong_password" if not password_ok else "disabled"
        failed_actor = Actor(row["id"], row["role"], client.address) if row else actor
        async with db.transaction() as conn:
            await throttle.record_failure(conn, email=account, client_address=client.address, now=now)
            await audit.record(
                conn, at=iso(now), actor=failed_actor, action="auth.login.failed", detail={"reason": reason}
            )
        raise NotAuthorizedException(WRONG_CREDENTIALS)
    new_hash = None
    if needs_rehash(row["password_hash"]):
        new_hash = await to_thread.run_sync(hash_password, password)
    # The password is right. A second factor, if this person has one (or must have one), comes next.
    factor = await queries.mfa_factor(db, row["id"])
    if factor is not None and factor["enabled_at"] is not None:
        stage = MFA_PENDING
    elif await queries.mfa_required(db, row["id"]):
        stage = ENROL_PENDING
    else:
        stage = FULL
    async with db.transaction() as conn:
        if replaces:
            await end_session(conn, token_hash(replaces))
        await throttle.clear_failures(conn, email=account)
        if new_hash:
            await queries.update_password_hash(conn, row["id"], new_hash, iso(now))
        session_id = await create_session(
            conn,
            user_id=row["id"],
            role=row["role"],
            now=now,
            client_address=client.address,
            user_agent=client.user_agent,
            stage=stage,
        )
        await audit.record(
            conn,
            at=iso(now),
            actor=Actor(row["id"], row["role"], client.address),
            action="auth.login" if stage == FULL else f"auth.login.password_ok.{stage}",
            detail={"password_rehashed": new_hash is not None},
        )
    user = _current_user(
        row["id"], row["clinic_id"], row["role"], row["email"], row["display_name"], row["timezone"], session_id
    )
    return SignedIn(user=msgspec.structs.replace(user, stage=stage), session_id=session_id)


async def sign_out(db: Database, clock: Clock, user: CurrentUser, actor: Actor) -> None:
    async with db.transaction() as conn:
        await end_session(conn, user.session_hash)
        await audit.record(conn, at=iso(clock.now()), actor=actor, action="auth.logout")


async def change_password(
    db: Database, clock: Clock, user: CurrentUser, actor: Actor, *, current: str, new: str
) -> None:
    """Change the password and end every other session of this user."""
    row = await queries.user_by_id(db, user.id)
    assert row is not None
    if not await to_thread.run_sync(verify_password, row["password_hash"], current):
        raise FieldError("current_password", "That is not your current password.")
    if problem := password_problem(new):
        raise FieldError("new_password", problem)
    new_hash = await to_thread.run_sync(hash_password, new)
    now = iso(clock.now())
    async with db.transaction() as conn:
        await queries.update_password_hash(conn, user.id, new_hash, now)
        await end_other_sessions(conn, user.id, user.session_hash)
        await audit.record(
            conn,
            at=now,
            actor=actor,
            action="account.password_changed",
            object_type="user",
            object_id=user.id,
        )


def _checked_email(raw: str, field: str = "email") -> str:
    email = normalise_email(raw)
    if email is None:
        raise FieldError(field, "Enter a valid email address, like name@example.org.")
    return email


def _checked_name(raw: str, field: str = "display_name") -> str:
    name = " ".join(raw.split())
    if not name:
        raise FieldError(field, "Enter a name.")
    return name


async def _checked_password_hash(password: str, field: str = "password") -> str:
    if problem := password_problem(password):
        raise FieldError(field, problem)
    return await to_thread.run_sync(hash_password, password)


# --- invitations ------------------------------------------------------------------------------------


class Invitation(msgspec.Struct, frozen=True):
    id: str
    token: str
    role: str
    expires_at: str


def invited_role(inviter_role: str) -> str:
    """Therapists invite patients; admins invite therapists."""
    return "patient" if inviter_role == "therapist" else "therapist"


async def create_invitation(
    db: Database, clock: Clock, inviter: CurrentUser, actor: Actor, *, email: str, display_name: str
) -> Invitation:
    address = _checked_email(email)
    name = _checked_name(display_name)
    role = invited_role(inviter.role)
    now = clock.now()
    token = new_token()
    invitation = Invitation(id=str(uuid.uuid4()), token=token, role=role, expires_at=iso(now + INVITATION_LIFETIME))
    async with db.transaction() as conn:
        if await queries.email_taken(conn, address):
            raise ConflictError("An account with this email address already exists.")
        await queries.insert_invitation(
            conn,
            invitation_id=invitation.id,
            token_hash=token_hash(token),
            clinic_id=inviter.clinic_id,
            role=role,
            email=address,
            display_name=name,
            invited_by=inviter.id,
            now=iso(now),
            expires_at=invitation.expires_at,
        )
        await audit.record(
            conn,
            at=iso(now),
            actor=actor,
            action="invitation.created",
            object_type="invitation",
            object_id=invitation.id,
            detail={"role": role},
        )
    return invitation


async def open_invitation(db: Database, clock: Clock, token: str) -> dict[str, str]:
    row = await queries.open_invitation(db, token_hash(token), iso(clock.now()))
    if row is None:
        raise NotFoundException(INVITATION_GONE)
    return {"email": row["email"], "display_name": row["display_name"], "role": row["role"]}


async def accept_invitation(
    db: Database,
    clock: Clock,
    *,
    token: str,
    password: str,
    display_name: str | None,
    timezone: str | None,
    client: Client,
) -> SignedIn:
    now = clock.now()
    invitation = await queries.open_invitation(db, token_hash(token), iso(now))
    if invitation is None:
        raise NotFoundException(INVITATION_GONE)
    name = _checked_name(display_name) if display_name else invitation["display_name"]
    tz = checked_timezone(timezone) if timezone else "UTC"
    password_hash = await _checked_password_hash(password)
    user_id = str(uuid.uuid4())
    role = invitation["role"]
    actor = Actor(user_id, role, client.address)
    async with db.transaction() as conn:
        if await queries.email_taken(conn, invitation["email"]):
            raise ConflictError("An account with this email address already exists.")
        await queries.insert_user(
            conn,
            user_id=user_id,
            clinic_id=invitation["clinic_id"],
            role=role,
            email=invitation["email"],
            display_name=name,
            password_hash=password_hash,
            now=iso(now),
        )
        # Claimed only once the user exists (accepted_user_id references users.id); if someone accepted or
        # withdrew it meanwhile, raising here rolls the new user back.
        if not await queries.claim_invitation(conn, invitation["id"], user_id, iso(now)):
            raise NotFoundException(INVITATION_GONE)
        await conn.execute("UPDATE users SET timezone = ? WHERE id = ?", (tz, user_id))
        patient_id = user_id if role == "patient" else None
        if role == "patient":
            await queries.add_to_care_team(conn, user_id, invitation["invited_by"], invitation["invited_by"], iso(now))
        await audit.record(
            conn,
            at=iso(now),
            actor=actor,
            action="invitation.accepted",
            patient_id=patient_id,
            object_type="invitation",
            object_id=invitation["id"],
            detail={"role": role, "invited_by": invitation["invited_by"]},
        )
        session_id = await create_session(
            conn,
            user_id=user_id,
            role=role,
            now=now,
            client_address=client.address,
            user_agent=client.user_agent,
        )
        await audit.record(conn, at=iso(now), actor=actor, action="auth.login")
    user = _current_user(user_id, invitation["clinic_id"], role, invitation["email"], name, tz, session_id)
    return SignedIn(user=user, session_id=session_id)


async def revoke_invitation(db: Database, clock: Clock, inviter: CurrentUser, actor: Actor, invitation_id: str) -> None:
    now = iso(clock.now())
    async with db.transaction() as conn:
        if not await queries.revoke_invitation(conn, invitation_id, inviter.id, now):
            raise NotFoundException("No such open invitation.")
        await audit.record(
            conn,
            at=now,
            actor=actor,
            action="invitation.revoked",
            object_type="invitation",
            object_id=invitation_id,
        )


def invitation_status(row: sqlite3.Row, now: str) -> str:
    if row["accepted_at"]:
        return "accepted"
    if row["revoked_at"]:
        return "revoked"
    return "expired" if row["expires_at"] <= now else "pending"


# --- first run and the command line -----------------------------------------------------------------


async def issue_setup_link(db: Database, clock: Clock, base_url: str) -> str | None:
    """A one-time link to create the clinic and its first admin, while the database has no users."""
    if await queries.count_users(db) > 0:
        return None
    token = new_token()
    now = clock.now()
    async with db.transaction() as conn:
        await queries.insert_setup_token(conn, token_hash(token), iso(now), iso(now + SETUP_LIFETIME))
    return f"{base_url}/setup/{token}"


async def setup_link_usable(db: Database, clock: Clock, token: str) -> bool:
    if await queries.count_users(db) > 0:
        return False
    return await queries.setup_token_usable(db, token_hash(token), iso(clock.now()))


async def create_first_admin(
    db: Database,
    clock: Clock,
    *,
    token: str,
    clinic_name: str,
    display_name: str,
    email: str,
    password: str,
    client: Client,
) -> SignedIn:
    if not await setup_link_usable(db, clock, token):
        raise NotFoundException(SETUP_GONE)
    clinic = _checked_name(clinic_name, "clinic_name")
    name = _checked_name(display_name)
    address = _checked_email(email)
    password_hash = await _checked_password_hash(password)
    now = clock.now()
    user_id = str(uuid.uuid4())
    actor = Actor(user_id, "admin", client.address)
    async with db.transaction() as conn:
        if not await queries.use_setup_token(conn, token_hash(token), iso(now)):
            raise NotFoundException(SETUP_GONE)
        if await conn.execute_fetchall("SELECT 1 FROM users LIMIT 1"):
            raise NotFoundException(SETUP_GONE)
        existing = await queries.the_clinic(conn)
        if existing:
            clinic_id = int(existing["id"])
            await conn.execute("UPDATE clinics SET name = ? WHERE id = ?", (clinic, clinic_id))
        else:
            clinic_id = await queries.insert_clinic(conn, clinic, iso(now))
        await queries.insert_user(
            conn,
            user_id=user_id,
            clinic_id=clinic_id,
            role="admin",
            email=address,
            display_name=name,
            password_hash=password_hash,
            now=iso(now),
        )
        await audit.record(conn, at=iso(now), actor=actor, action="clinic.setup", object_type="user", object_id=user_id)
        session_id = await create_session(
            conn,
            user_id=user_id,
            role="admin",
            now=now,
            client_address=client.address,
            user_agent=client.user_agent,
        )
        await audit.record(conn, at=iso(now), actor=actor, action="auth.login")
    user = _current_user(user_id, clinic_id, "admin", address, name, "UTC", session_id)
    return SignedIn(user=user, session_id=session_id)


async def create_account(
    db: Database,
    clock: Clock,
    actor: Actor,
    *,
    role: str,
    email: str,
    display_name: str,
    password: str,
    clinic_name: str = "Afterglow clinic",
) -> str:
    """Create a user directly (command line, demo). The clinic is created on first use."""
    address = _checked_email(email)
    name = _checked_name(display_name)
    password_hash = await _checked_password_hash(password)
    now = iso(clock.now())
    user_id = str(uuid.uuid4())
    async with db.transaction() as conn:
        if await queries.email_taken(conn, address):
            raise ConflictError(f"An account with the email {address} already exists.")
        existing = await queries.the_clinic(conn)
        clinic_id = int(existing["id"]) if existing else await queries.insert_clinic(conn, clinic_name, now)
        await queries.insert_user(
            conn,
            user_id=user_id,
            clinic_id=clinic_id,
            role=role,
            email=address,
            display_name=name,
            password_hash=password_hash,
            now=now,
        )
        await audit.record(
            conn,
            at=now,
            actor=actor,
            action="account.created",
            patient_id=user_id if role == "patient" else None,
            object_type="user",
            object_id=user_id,
            detail={"role": role},
        )
    return user_id
