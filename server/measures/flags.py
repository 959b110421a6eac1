"""The care team's side of safety flags: the queue, acknowledgement, and the watcher that raises the
pattern flags (no check-in for a while; a drop in the weekly mood average) from the clock."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import uuid
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from litestar.datastructures import State
from litestar.exceptions import NotFoundException

from server.clock import Clock, iso, parse_iso
from server.db import Database
from server.errors import ConflictError
from server.measures import queries
from server.measures.schemas import FlagOut
from server.security import audit
from server.security.audit import Actor
from server.security.reach import patient_in_reach
from server.security.sessions import CurrentUser

log = logging.getLogger("afterglow")
MOOD_DROP_POINTS = 3.0
WATCH_INTERVAL_SECONDS = 15 * 60
PATTERN_REASONS = {
    "missed_checkins": "No check-in for {days} days",
    "mood_drop": "7-day mood average dropped by 3 or more points",
}


def flag_out(row: sqlite3.Row) -> FlagOut:
    return FlagOut(
        id=row["id"],
        patient_id=row["patient_id"],
        patient_name=row["patient_name"],
        kind=row["kind"],
        severity=row["severity"],
        reason=row["reason"],
        created_at=row["created_at"],
        entry_kind=row["entry_kind"],
        entry_local_date=row["entry_local_date"],
        entry_id=row["visible_entry_id"],
        acknowledged_at=row["acknowledged_at"],
        acknowledged_by=row["acknowledged_by_name"],
        ack_note=row["ack_note"],
    )


async def open_flags(db: Database, therapist: CurrentUser) -> list[FlagOut]:
    return [flag_out(r) for r in await queries.open_flags_of_team(db, therapist.id)]


async def acknowledge(
    db: Database, clock: Clock, *, therapist: CurrentUser, actor: Actor, flag_id: str, note: str
) -> FlagOut:
    row = await queries.flag_view(db, flag_id)
    try:
        if row is None:
            raise NotFoundException
        await patient_in_reach(db, therapist, row["patient_id"])
    except NotFoundException:
        # Someone else's flag and no flag at all answer alike.
        raise NotFoundException("No such flag.") from None
    now = iso(clock.now())
    async with db.transaction() as conn:
        if not await queries.acknowledge(conn, flag_id, therapist.id, note.strip(), now):
            raise ConflictError("This flag was already acknowledged.")
        await audit.record(
            conn,
            at=now,
            actor=actor,
            action="flag.acknowledged",
            patient_id=row["patient_id"],
            object_type="flag",
            object_id=flag_id,
        )
    acknowledged = await queries.flag_view(db, flag_id)
    assert acknowledged is not None
    return flag_out(acknowledged)


# --- the watcher ------------------------------------------------------------------------------------


async def _raise_pattern(db: Database, *, patient_id: str, kind: str, key: str, reason: str, now: str) -> bool:
    async with db.transaction() as conn:
        flag_id = str(uuid.uuid4())
        raised = await queries.insert_pattern_flag(
            conn,
            {
                "id": flag_id,
                "patient_id": patient_id,
                "kind": kind,
                "severity": "medium",
                "reason": reason,
                "created_at": now,
                "dedupe_key": key,
            },
        )
        if raised:
            await audit.record(
                conn,
                at=now,
                actor=audit.SYSTEM,
                action="flag.raised",
                patient_id=patient_id,
                object_type="flag",
                object_id=flag_id,
                detail={"kind": kind},
            )
    return raised


async def evaluate_patterns(db: Database, clock: Clock) -> int:
    """One pass over every patient; returns how many flags were raised. Safe to run in several processes
    at once: each occurrence has a key, and the database keeps only the first flag for it."""
    moment = clock.now()
    raised = 0
    for patient in await queries.watched_patients(db):
        today = moment.astimezone(ZoneInfo(patient["timezone"])).date()
        raised += await _missed_checkins(db, patient, today, iso(moment))
        raised += await _mood_drop(db, patient["id"], today, iso(moment))
    return raised


async def _missed_checkins(db: Database, patient: sqlite3.Row, today: date, now: str) -> int:
    days = int(patient["missed_checkin_days"])
    joined = parse_iso(patient["created_at"]).astimezone(ZoneInfo(patient["timezone"])).date()
    last = date.fromisoformat(patient["last_checkin"]) if patient["last_checkin"] else None
    since = last or joined
    if (today - since).days < days:
        return 0
    # One flag per silence: keyed by the last check-in, so a new check-in starts a new count.
    key = f"after:{last.isoformat() if last else 'none'}"
    reason = PATTERN_REASONS["missed_checkins"].format(days=(today - since).days)
    return int(
        await _raise_pattern(db, patient_id=patient["id"], kind="missed_checkins", key=key, reason=reason, now=now)
    )


async def _mood_drop(db: Database, patient_id: str, today: date, now: str) -> int:
    def day(offset: int) -> str:
        return (today - timedelta(days=offset)).isoformat()

    this_week = await queries.mood_average(db, patient_id, day(6), day(0))
    week_before = await queries.mood_average(db, patient_id, day(13), day(7))
    if this_week is None or week_before is None or week_before - this_week < MOOD_DROP_POINTS:
        return 0
    # Once per drop: not while one is open or was raised in the last week.
    if await queries.recent_flag(db, patient_id, "mood_drop", iso(parse_iso(now) - timedelta(days=7))):
        return 0
    return int(
        await _raise_pattern(
            db,
            patient_id=patient_id,
            kind="mood_drop",
            key=today.isoformat(),
            reason=PATTERN_REASONS["mood_drop"],
            now=now,
        )
    )


async def watch(state: State) -> None:
    """Run the pattern rules every few minutes until cancelled. The first pass waits one interval, as the
    reminder scheduler's does: a pass reads every patient (seconds of CPU in a large clinic), and a starting
    worker should answer requests first; the patterns are about days, so minutes do not matter."""
    while True:
        await asyncio.sleep(WATCH_INTERVAL_SECONDS)
        try:
            await evaluate_patterns(state.db, state.clock)
        except Exception as exc:  # keep watching; the next pass may succeed
            log.error("pattern watch failed: %s", type(exc).__name__)
