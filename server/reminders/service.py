"""Reminders for one patient: preferences, devices, and what is due (for the in-app list and the scheduler)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import sqlite3

import msgspec
from litestar.exceptions import NotFoundException

from server.clock import Clock, iso, parse_iso
from server.db import Database
from server.errors import FieldError
from server.measures import service as measures
from server.reminders import due, queries
from server.reminders.push import endpoint_allowed
from server.reminders.schemas import (
    PreferencesIn,
    PreferencesOut,
    ReminderOut,
    SubscriptionIn,
    SubscriptionOut,
)
from server.security.sessions import CurrentUser
from server.settings import Settings

NOT_FOUND = "No such device."


# --- preferences ------------------------------------------------------------------------------------


def preferences_of(row: sqlite3.Row) -> due.Preferences:
    enabled = frozenset(kind for kind, column in queries.PREFERENCE_COLUMNS.items() if row[column])
    return due.Preferences(
        timezone=row["timezone"],
        reminder_time=due.hhmm(row["reminder_time"]),
        enabled=enabled,
        quiet_start=due.hhmm(row["quiet_start"]) if row["quiet_start"] else None,
        quiet_end=due.hhmm(row["quiet_end"]) if row["quiet_end"] else None,
    )


async def _patient_row(db: Database, patient_id: str) -> sqlite3.Row:
    row = await queries.patient(db, patient_id)
    if row is None:
        raise NotFoundException("No such patient.")
    return row


def _preferences_out(row: sqlite3.Row) -> PreferencesOut:
    return PreferencesOut(
        **{kind: bool(row[column]) for kind, column in queries.PREFERENCE_COLUMNS.items()},
        quiet_start=row["quiet_start"],
        quiet_end=row["quiet_end"],
        reminder_time=row["reminder_time"],
        timezone=row["timezone"],
    )


async def preferences(db: Database, patient_id: str) -> PreferencesOut:
    return _preferences_out(await _patient_row(db, patient_id))


async def save_preferences(db: Database, clock: Clock, patient_id: str, data: PreferencesIn) -> PreferencesOut:
    current = msgspec.to_builtins(await preferences(db, patient_id))
    values = {kind: current[kind] for kind in queries.KINDS}
    values.update({k: v for k, v in msgspec.to_builtins(data).items() if k in queries.KINDS})
    start = current["quiet_start"] if data.quiet_start is msgspec.UNSET else data.quiet_start
    end = current["quiet_end"] if data.quiet_end is msgspec.UNSET else data.quiet_end
    if (start is None) != (end is None):
        raise FieldError("quiet_end" if end is None else "quiet_start", "Quiet hours need a start and an end time.")
    if start is not None and start == end:
        raise FieldError("quiet_end", "Quiet hours need to end at a different time than they start.")
    values.update(quiet_start=start, quiet_end=end)
    async with db.transaction() as conn:
        await queries.save_preferences(
            conn, patient_id, {k: int(v) if isinstance(v, bool) else v for k, v in values.items()}, iso(clock.now())
        )
    return await preferences(db, patient_id)


# --- what is due -------------------------------------------------------------------------------------


async def facts_for(db: Database, clock: Clock, row: sqlite3.Row) -> due.Facts:
    """Load what the rules need about one patient (from the row of ``queries.patient``)."""
    now = clock.now()
    prefs = preferences_of(row)
    patient_id = row["patient_id"]
    sessions = [
        due.SessionFact(id=s["id"], at=parse_iso(s["scheduled_for"]))
        for s in await queries.sessions_between(
            db, patient_id, iso(now - due.SESSION_LOOKBACK), iso(now + due.SESSION_LOOKAHEAD)
        )
    ]
    written = await queries.reflections_for_sessions(db, patient_id, [s.id for s in sessions])
    today = due.local_date(now, prefs.timezone).isoformat()
    questionnaires = []
    if "questionnaire" in prefs.enabled:
        questionnaires = [
            (q.instrument, q.opens) for q in (await measures.due_questionnaires(db, clock, patient_id)).items
        ]
    return due.Facts(
        prefs=prefs,
        sessions=sessions,
        written=written,
        checked_in_today=await queries.checked_in_on(db, patient_id, today),
        questionnaires=questionnaires,
    )


async def in_app(db: Database, clock: Clock, patient_id: str) -> list[ReminderOut]:
    """The reminders the app shows now. Always shown in the app, quiet hours or not, push or not."""
    facts = await facts_for(db, clock, await _patient_row(db, patient_id))
    return due.due(facts, clock.now())


# --- devices -----------------------------------------------------------------------------------------


def subscription_id(endpoint: str) -> str:
    return hashlib.sha256(endpoint.encode()).hexdigest()


def _decoded_length(value: str) -> int:
    try:
        return len(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (binascii.Error, ValueError):
        return -1


def _subscription_out(row: sqlite3.Row) -> SubscriptionOut:
    return SubscriptionOut(
        id=row["id"], user_agent=row["user_agent"], created_at=row["created_at"], last_success_at=row["last_success_at"]
    )


async def subscribe(
    db: Database, clock: Clock, settings: Settings, user: CurrentUser, data: SubscriptionIn, user_agent: str
) -> tuple[bool, SubscriptionOut]:
    """Store this device's subscription for this sign-in. Returns (created, the device)."""
    if not endpoint_allowed(data.endpoint, settings.push_services):
        raise FieldError("endpoint", "This push service is not one we send to.")
    # P-256 public key, uncompressed (65 bytes); authentication secret (16 bytes): RFC 8291.
    if _decoded_length(data.keys.p256dh) != 65 or not data.keys.p256dh.startswith("B"):
        raise FieldError("keys.p256dh", "p256dh must be an uncompressed P-256 public key, base64url.")
    if _decoded_length(data.keys.auth) != 16:
        raise FieldError("keys.auth", "auth must be 16 bytes, base64url.")
    device_id = subscription_id(data.endpoint)
    async with db.transaction() as conn:
        existing = await queries.subscription_by_id(conn, device_id)
        await queries.upsert_subscription(
            conn,
            {
                "id": device_id,
                "patient_id": user.id,
                "session_hash": user.session_hash,
                "endpoint": data.endpoint,
                "p256dh": data.keys.p256dh,
                "auth": data.keys.auth,
                "user_agent": user_agent[:300],
                "now": iso(clock.now()),
            },
        )
        row = await queries.subscription_by_id(conn, device_id)
    assert row is not None
    return existing is None, _subscription_out(row)


async def devices(db: Database, patient_id: str) -> list[SubscriptionOut]:
    return [_subscription_out(row) for row in await queries.subscriptions_of(db, patient_id)]


async def unsubscribe(db: Database, patient_id: str, device_id: str) -> None:
    async with db.transaction() as conn:
        if not await queries.delete_subscription(conn, device_id, patient_id):
            raise NotFoundException(NOT_FOUND)
