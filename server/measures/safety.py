"""The safety rules (PRODUCT.md §5) and the flags they raise.

Flags are created inside the same write transaction as the entry that raised them: an entry is never
saved without its flag, nor a flag without its entry. They are raised for private entries too; a flag
says what triggered it and never carries the entry's text.
"""

from __future__ import annotations

import uuid
from typing import Any

import aiosqlite
import msgspec

from server.journal import queries as journal_queries
from server.measures import queries
from server.security import audit
from server.security.audit import Actor

LOW_MOOD = 1  # mood at or below this on two check-ins running raises a flag

REASONS = {
    "phq9_item9": "PHQ-9 item 9 (thoughts of self-harm) answered above 0",
    "low_mood": f"Mood {LOW_MOOD} or lower on two check-ins running",
    "not_safe": "The patient tapped \u201cI'm not safe\u201d",
}


class SafetyOutcome(msgspec.Struct, frozen=True):
    alert: bool
    raised: tuple[str, ...] = ()


async def raise_flag(
    conn: aiosqlite.Connection,
    *,
    patient_id: str,
    kind: str,
    severity: str,
    entry_id: str | None,
    entry_kind: str | None,
    now: str,
    actor: Actor,
) -> str:
    flag_id = str(uuid.uuid4())
    await queries.insert_flag(
        conn,
        {
            "id": flag_id,
            "patient_id": patient_id,
            "kind": kind,
            "severity": severity,
            "entry_id": entry_id,
            "entry_kind": entry_kind,
            "reason": REASONS[kind],
            "created_at": now,
        },
    )
    await audit.record(
        conn,
        at=now,
        actor=actor,
        action="flag.raised",
        patient_id=patient_id,
        object_type="flag",
        object_id=flag_id,
        detail={"kind": kind, "entry_kind": entry_kind},
    )
    return flag_id


async def _once(
    conn: aiosqlite.Connection, kind: str, *, patient_id: str, entry_id: str, entry_kind: str, now: str, actor: Actor
) -> tuple[str, ...]:
    """Raise ``kind`` for this entry unless an edit or a replay of it already did."""
    if await queries.flag_exists(conn, entry_id, kind):
        return ()
    await raise_flag(
        conn,
        patient_id=patient_id,
        kind=kind,
        severity="high",
        entry_id=entry_id,
        entry_kind=entry_kind,
        now=now,
        actor=actor,
    )
    return (kind,)


async def evaluate_entry(
    conn: aiosqlite.Connection,
    *,
    patient_id: str,
    entry_id: str,
    kind: str,
    body: dict[str, Any],
    now: str,
    actor: Actor,
) -> SafetyOutcome:
    """Apply the rules that can fire on this entry; raise their flags in the caller's transaction."""

    async def once(flag_kind: str) -> tuple[str, ...]:
        return await _once(
            conn, flag_kind, patient_id=patient_id, entry_id=entry_id, entry_kind=kind, now=now, actor=actor
        )

    if not may_fire(kind, body):
        return SafetyOutcome(alert=False)
    if kind == "questionnaire":
        return SafetyOutcome(alert=True, raised=await once("phq9_item9"))
    # A low-mood check-in: the alert needs a second one running, before or after it.
    neighbours = await journal_queries.neighbour_checkin_moods(conn, patient_id, entry_id)
    if any(mood <= LOW_MOOD for mood in neighbours):
        return SafetyOutcome(alert=True, raised=await once("low_mood"))
    return SafetyOutcome(alert=False)


def may_fire(kind: str, body: dict[str, Any]) -> bool:
    """Whether a rule of ``evaluate_entry`` can act on this entry at all. Writes for which it is False skip
    the safety pass (the journal's fast path); a new rule belongs here as well as there."""
    if kind == "questionnaire":
        return bool(body.get("instrument") == "phq9" and body["answers"][8] > 0)
    if kind == "checkin":
        return bool(body["mood"] <= LOW_MOOD)
    return False
