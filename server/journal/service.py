"""Writing and reading journal entries: the rules every kind of entry shares.

A write is an idempotent PUT to a client-generated UUID: the same content again changes nothing; new
content keeps the previous state as a version; an edit based on an older version than the stored one is
refused with the stored copy, so the client can keep both. Fields left out of an update keep their
stored values, so a replayed outbox item made yesterday does not move to today.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from litestar.exceptions import NotFoundException

from server.clock import Clock, checked_timezone, iso
from server.db import Database, Row, fetch_row, row_dict
from server.errors import ConflictError, FieldError
from server.journal import queries
from server.journal.schemas import (
    AftercareIn,
    AnyEntry,
    CheckinIn,
    CheckinOut,
    CrisisCard,
    CrisisLine,
    EntryMeta,
    PromptOut,
    PromptSetList,
    PromptSetOut,
    QuestionnaireIn,
    QuestionnaireOut,
    ReflectionIn,
    SafetyPlanBody,
    SafetyPlanOut,
    SettingsIn,
    SettingsOut,
)
from server.measures import safety
from server.measures.instruments import INSTRUMENTS, answers_problem, score
from server.security import audit
from server.security.audit import Actor

ENTRY_NOT_FOUND = "No such entry."
DEFAULT_CRISIS_LINES = [
    CrisisLine(label="988 Suicide & Crisis Lifeline (call or text)", number="988", kind="call_or_text"),
    CrisisLine(label="Emergency services", number="911", kind="call"),
]
CRISIS_MESSAGE = (
    "You don't have to go through this alone. If you might act on thoughts of harming yourself, call or text "
    "a crisis line now, or call emergency services. Afterglow is not monitored in real time."
)


class EntryWrite(msgspec.Struct, frozen=True, kw_only=True):
    """What a PUT asks for, after the kind-specific validation: the kind's own ``body`` and the common fields."""

    kind: str
    subkind: str | None
    body: dict[str, Any]
    kap_session_id: str | None
    status: str
    meta: EntryMeta


class Saved(msgspec.Struct, frozen=True):
    created: bool
    entry: AnyEntry


# --- dates and zones --------------------------------------------------------------------------------


def local_today(now: datetime, timezone: str) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()


def checked_local_date(value: str, now: datetime, timezone: str) -> str:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise FieldError("local_date", "local_date must be a real date, like 2026-11-21.") from None
    # Tomorrow is allowed: the device's clock and ours may disagree around midnight.
    if day < date(2000, 1, 1) or day > local_today(now, timezone) + timedelta(days=1):
        raise FieldError("local_date", "local_date cannot be in the future.")
    return value


# --- converting rows --------------------------------------------------------------------------------


def entry_out(row: Row) -> AnyEntry:
    """A stored row as the API shows it: common columns plus the kind's own fields."""
    data = msgspec.json.decode(row["body"])
    data.update(
        type=row["kind"],
        id=row["id"],
        sharing=row["sharing"],
        status=row["status"],
        local_date=row["local_date"],
        timezone=row["timezone"],
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
    if row["kind"] != "checkin":
        data["kap_session_id"] = row["kap_session_id"]
    entry: AnyEntry = msgspec.convert(data, AnyEntry)
    return entry


def entry_view(row: sqlite3.Row) -> dict[str, Any]:
    """An entry as plain data for templates (with its ``type``, which a tagged Struct keeps out of reach)."""
    view: dict[str, Any] = msgspec.to_builtins(entry_out(row))
    return view


def search_text(kind: str, body: dict[str, Any]) -> str:
    """The words a therapist's search may match (indexed only while the entry is shared and finished)."""
    if kind == "checkin":
        return " ".join([body.get("note") or "", *body.get("tags", [])]).strip()
    if kind == "reflection":
        return "\n".join(answer["text"] for answer in body.get("answers", []))
    if kind == "aftercare":
        return str(body.get("note") or "")
    return ""


_HASHED = ("subkind", "kap_session_id", "sharing", "status", "local_date", "timezone", "body")
# Where json.dumps writes a float in exponent form (below 1e-4 or from 1e16 on), msgspec writes either an
# exponent too (1e16, 1e-9 against 1e+16, 1e-09) or a plain decimal with at least four leading zeros.
_EXPONENT = re.compile(rb"[0-9]e[-+0-9]|0\.0000")


def _content_hash(values: dict[str, Any]) -> str:
    """SHA-256 of the write's canonical JSON (sorted keys, compact), compared with the stored one to tell a
    replay from a change, so it must stay byte for byte what the stored hashes were made from.

    msgspec writes exactly what ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
    writes (and several times faster) except for floats json writes in exponent form: in the rare text that
    might hold one (a sleep of 0.00001 hours, or a note saying "3e5"), json decides.
    """
    hashed = {k: values[k] for k in _HASHED}
    canonical = msgspec.json.encode(hashed, order="sorted")
    if _EXPONENT.search(canonical):
        canonical = json.dumps(hashed, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(canonical).hexdigest()


# --- writing ----------------------------------------------------------------------------------------


async def put_entry(
    db: Database, clock: Clock, *, patient_id: str, actor: Actor, entry_id: str, write: EntryWrite
) -> Saved:
    now = clock.now()
    if not safety.may_fire(write.kind, write.body):
        # The hot path (most check-ins): no safety rule can act on this entry, so the whole write is one
        # call on the writer, group-committed with the others queued at the same moment.
        created, _, row = await db.write(_store, now, patient_id, entry_id, write)
        return Saved(created=created, entry=entry_out(row))
    async with db.transaction() as conn:
        created, replayed, row = await conn.run(lambda c: _store(c, now, patient_id, entry_id, write))
        entry = await _with_safety(conn, db, row, actor, replay=replayed)
    return Saved(created=created, entry=entry)


def _store(
    conn: sqlite3.Connection, now: datetime, patient_id: str, entry_id: str, write: EntryWrite
) -> tuple[bool, bool, dict[str, Any]]:
    """Check and store one write, on the writer: (created, replayed unchanged, stored row).

    The row comes back as a dict: from the writer process, results must pickle."""
    prefs = fetch_row(conn, queries.PREFERENCES, (patient_id,))
    if prefs is None:
        raise NotFoundException(ENTRY_NOT_FOUND)
    existing = fetch_row(conn, queries.ENTRY_FOR_UPDATE, (entry_id,))
    session_found = not write.kap_session_id or (
        fetch_row(conn, queries.SESSION_OF_PATIENT, (write.kap_session_id, patient_id)) is not None
    )
    values = _entry_values(
        existing, prefs, write, now, patient_id=patient_id, entry_id=entry_id, session_found=session_found
    )
    if existing is not None and existing["body_hash"] == values["body_hash"]:
        return False, True, row_dict(existing)
    if existing is not None and write.meta.base_version is not None and write.meta.base_version != existing["version"]:
        raise _conflict(existing)
    if existing is None:
        row = fetch_row(conn, queries.INSERT_ENTRY, values)
    else:
        # A draft autosaving over itself is work in progress, not history: only finished states are kept.
        # Two changes: were the UPDATE to fail after the archive, Database.write fails the batch whole.
        if existing["status"] == "final":
            conn.execute(queries.ARCHIVE_VERSION, (iso(now), entry_id))
        row = fetch_row(conn, queries.UPDATE_ENTRY, values)
    assert row is not None
    return existing is None, False, row_dict(row)


def _entry_values(
    existing: sqlite3.Row | None,
    prefs: sqlite3.Row,
    write: EntryWrite,
    now: datetime,
    *,
    patient_id: str,
    entry_id: str,
    session_found: bool,
) -> dict[str, Any]:
    """Check a write against the stored entry (if any) and build the row's values; raises what the API answers."""
    meta = write.meta
    if existing is not None and existing["patient_id"] != patient_id:
        # Someone else's UUID: answer as if it did not exist, and write nothing.
        raise NotFoundException(ENTRY_NOT_FOUND)
    if existing is not None and existing["kind"] != write.kind:
        raise ConflictError(f"This id belongs to an entry of another kind ({existing['kind']}).")
    timezone = checked_timezone(meta.timezone) if meta.timezone else None
    timezone = timezone or (existing["timezone"] if existing else prefs["timezone"])
    if meta.local_date:
        local_date = checked_local_date(meta.local_date, now, timezone)
    else:
        local_date = existing["local_date"] if existing else local_today(now, timezone).isoformat()
    if not session_found:
        raise FieldError("kap_session_id", "That ketamine session was not found in your journal.")
    if existing is not None and existing["status"] == "final" and write.status == "draft":
        raise FieldError("status", "A finished entry cannot go back to being a draft.")
    values: dict[str, Any] = {
        "id": entry_id,
        "patient_id": patient_id,
        "kind": write.kind,
        "subkind": write.subkind,
        "kap_session_id": write.kap_session_id,
        "sharing": meta.sharing or (existing["sharing"] if existing else prefs["default_sharing"]),
        "status": write.status,
        "local_date": local_date,
        "timezone": timezone,
        "body": write.body,
        "now": iso(now),
    }
    values["body_hash"] = _content_hash(values)
    values["search_text"] = search_text(write.kind, write.body)
    values["body"] = msgspec.json.encode(write.body).decode()
    return values


def _conflict(existing: sqlite3.Row) -> ConflictError:
    current = msgspec.to_builtins(entry_out(existing))
    message = "This entry was changed since the version you edited. Both copies are kept on your device."
    return ConflictError(detail=message, extra={"current": current})


async def _with_safety(conn: Any, db: Database, row: Row, actor: Actor, *, replay: bool) -> AnyEntry:
    """Run the safety rules on a finished entry and attach the crisis card when one fires."""
    entry = entry_out(row)
    if row["status"] != "final":
        return entry
    outcome = await safety.evaluate_entry(
        conn,
        patient_id=row["patient_id"],
        entry_id=row["id"],
        kind=row["kind"],
        body=json.loads(row["body"]),
        now=row["updated_at"],
        actor=actor,
    )
    if outcome.alert and isinstance(entry, CheckinOut | QuestionnaireOut):
        entry.safety_alert = True
        entry.crisis = await crisis_card(db, row["patient_id"])
    return entry


async def delete_entry(db: Database, *, patient_id: str, kind: str, entry_id: str) -> None:
    async with db.transaction() as conn:
        if not await queries.delete_entry(conn, entry_id, patient_id, kind):
            raise NotFoundException(ENTRY_NOT_FOUND)


async def change_sharing(
    db: Database, clock: Clock, *, patient_id: str, actor: Actor, entry_id: str, sharing: str
) -> None:
    """Re-save the entry with a new sharing level: a new version, so an edit made before it is a 409."""
    row = await queries.own_entry_any_kind(db, patient_id, entry_id)
    if row is None:
        raise NotFoundException(ENTRY_NOT_FOUND)
    write = EntryWrite(
        kind=row["kind"],
        subkind=row["subkind"],
        body=json.loads(row["body"]),
        kap_session_id=row["kap_session_id"],
        status=row["status"],
        meta=EntryMeta(sharing=sharing, base_version=row["version"]),  # type: ignore[arg-type]
    )
    await put_entry(db, clock, patient_id=patient_id, actor=actor, entry_id=entry_id, write=write)


async def get_entry(db: Database, *, patient_id: str, kind: str, entry_id: str) -> AnyEntry:
    row = await queries.own_entry(db, patient_id, kind, entry_id)
    if row is None:
        raise NotFoundException(ENTRY_NOT_FOUND)
    return entry_out(row)


async def list_entries(
    db: Database, *, patient_id: str, kind: str | None, since: str | None, until: str | None, team_view: bool = False
) -> list[AnyEntry]:
    for name, value in (("since", since), ("until", until)):
        if value and not _is_date_or_datetime(value):
            raise FieldError(name, f"{name} must be a date (2026-11-21) or a UTC date-time (2026-11-21T08:00:00Z).")
    rows = await queries.entries_of(db, patient_id, kind=kind, since=since, until=until, team_view=team_view)
    return [entry_out(row) for row in rows]


def _is_date_or_datetime(value: str) -> bool:
    try:
        if len(value) == 10:
            date.fromisoformat(value)
        else:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


# --- safety: crisis card, "I'm not safe", the safety plan --------------------------------------------


async def crisis_lines(db: Database) -> list[CrisisLine]:
    raw = await queries.clinic_crisis_lines(db)
    if raw is None:
        return DEFAULT_CRISIS_LINES
    return msgspec.json.decode(raw, type=list[CrisisLine])


async def safety_plan(db: Database, patient_id: str) -> SafetyPlanOut:
    row = await queries.safety_plan(db, patient_id)
    if row is None:
        return SafetyPlanOut(plan=SafetyPlanBody(), version=0, updated_at=None, updated_by_role=None)
    return SafetyPlanOut(
        plan=msgspec.json.decode(row["body"], type=SafetyPlanBody),
        version=row["version"],
        updated_at=row["updated_at"],
        updated_by_role=row["updated_by_role"],
    )


async def crisis_card(db: Database, patient_id: str) -> CrisisCard:
    plan = await safety_plan(db, patient_id)
    return CrisisCard(
        message=CRISIS_MESSAGE,
        lines=await crisis_lines(db),
        safety_plan=plan.plan if plan.version else None,
    )


async def not_safe(db: Database, clock: Clock, *, patient_id: str, actor: Actor) -> CrisisCard:
    """The patient tapped "I'm not safe": a high flag for the care team, and the crisis card at once."""
    now = iso(clock.now())
    async with db.transaction() as conn:
        await safety.raise_flag(
            conn,
            patient_id=patient_id,
            kind="not_safe",
            severity="high",
            entry_id=None,
            entry_kind=None,
            now=now,
            actor=actor,
        )
    return await crisis_card(db, patient_id)


async def save_safety_plan(
    db: Database,
    clock: Clock,
    *,
    patient_id: str,
    editor_id: str,
    actor: Actor,
    plan: SafetyPlanBody,
    base_version: int | None,
) -> SafetyPlanOut:
    """Save a new version of the plan (every version is kept). Clinician edits are audited."""
    fields = {name: getattr(plan, name) for name in SafetyPlanBody.__struct_fields__}
    body = msgspec.json.encode(SafetyPlanBody(**fields)).decode()
    now = iso(clock.now())
    async with db.transaction() as conn:
        current = await queries.safety_plan_version(conn, patient_id)
        if base_version is not None and base_version != current:
            raise ConflictError(
                detail="The safety plan was changed since you opened it. Reload to see the newest version.",
                extra={"current_version": current},
            )
        await queries.save_safety_plan(conn, patient_id, body, current + 1, editor_id, now)
        if actor.role != "patient":
            await audit.record(
                conn,
                at=now,
                actor=actor,
                action="safety_plan.updated",
                patient_id=patient_id,
                object_type="safety_plan",
                object_id=str(current + 1),
            )
    return await safety_plan(db, patient_id)


# --- each kind's own fields -------------------------------------------------------------------------


def checkin_write(data: CheckinIn) -> EntryWrite:
    tags = list(dict.fromkeys(t.strip().lower() for t in data.tags if t.strip()))
    body = {
        "mood": data.mood,
        "anxiety": data.anxiety,
        "energy": data.energy,
        "sleep_hours": data.sleep_hours,
        "tags": tags,
        "note": data.note.strip(),
    }
    return EntryWrite(kind="checkin", subkind=None, body=body, kap_session_id=None, status="final", meta=data)


async def reflection_write(db: Database, data: ReflectionIn) -> EntryWrite:
    """Resolve the prompt set and keep, with each answer, the prompt text the patient was shown."""
    seen = [a.prompt_id for a in data.answers]
    answers = [a for a in data.answers if a.text.strip()]
    if len(seen) != len(set(seen)):
        raise FieldError("answers", "Each prompt can be answered once.")
    if data.kind == "free":
        if data.prompt_set not in (None, "free") or any(a.prompt_id != "free" for a in data.answers):
            raise FieldError("answers", 'A free reflection has one answer, with prompt_id "free".')
        prompt_set, shown = None, {"free": ""}
    else:
        prompt_set = data.prompt_set or await queries.active_prompt_set_id(db, data.kind)
        row = await queries.prompt_set(db, prompt_set) if prompt_set else None
        if row is None or row["kind"] != data.kind:
            raise FieldError("prompt_set", f"There is no {data.kind} prompt set called {data.prompt_set!r}.")
        shown = {p["prompt_id"]: p["text"] for p in await queries.prompts_of(db, prompt_set)}  # type: ignore[arg-type]
        unknown = [a.prompt_id for a in data.answers if a.prompt_id not in shown]
        if unknown:
            raise FieldError("answers", f"{unknown[0]!r} is not a prompt of {prompt_set}.")
    body = {
        "kind": data.kind,
        "prompt_set": prompt_set,
        "answers": [{"prompt_id": a.prompt_id, "prompt": shown[a.prompt_id], "text": a.text} for a in answers],
    }
    return EntryWrite(
        kind="reflection",
        subkind=data.kind,
        body=body,
        kap_session_id=data.kap_session_id,
        status=data.status,
        meta=data,
    )


def aftercare_write(data: AftercareIn) -> EntryWrite:
    body = {"symptoms": msgspec.to_builtins(data.symptoms), "note": data.note.strip()}
    return EntryWrite(
        kind="aftercare", subkind=None, body=body, kap_session_id=data.kap_session_id, status="final", meta=data
    )


def questionnaire_write(data: QuestionnaireIn) -> EntryWrite:
    """Score on the server from the answers alone: a score sent by a client is never trusted."""
    instrument = INSTRUMENTS[data.instrument]
    if problem := answers_problem(instrument, data.answers):
        raise FieldError("answers", problem)
    result = score(instrument, data.answers)
    body = {
        "instrument": data.instrument,
        "answers": data.answers,
        "score": result.score,
        "severity": result.severity,
        "safety_alert": result.safety_alert,
    }
    return EntryWrite(
        kind="questionnaire",
        subkind=data.instrument,
        body=body,
        kap_session_id=data.kap_session_id,
        status="final",
        meta=data,
    )


# --- settings and reference data --------------------------------------------------------------------


async def patient_settings(db: Database, patient_id: str) -> SettingsOut:
    prefs = await queries.patient_preferences(db, patient_id)
    if prefs is None:
        raise NotFoundException("No such patient.")
    return SettingsOut(
        default_sharing=prefs["default_sharing"], timezone=prefs["timezone"], reminder_time=prefs["reminder_time"]
    )


async def save_patient_settings(db: Database, clock: Clock, *, patient_id: str, data: SettingsIn) -> SettingsOut:
    current = await patient_settings(db, patient_id)
    async with db.transaction() as conn:
        await queries.save_preferences(
            conn,
            patient_id,
            timezone=checked_timezone(data.timezone) if data.timezone else current.timezone,
            default_sharing=data.default_sharing or current.default_sharing,
            reminder_time=data.reminder_time or current.reminder_time,
            now=iso(clock.now()),
        )
    return await patient_settings(db, patient_id)


async def prompt_set_list(db: Database) -> PromptSetList:
    sets = []
    for row in await queries.active_prompt_sets(db):
        prompts = [
            PromptOut(id=p["prompt_id"], text=p["text"], hint=p["hint"])
            for p in await queries.prompts_of(db, row["id"])
        ]
        sets.append(
            PromptSetOut(
                id=row["id"],
                kind=row["kind"],
                version=row["version"],
                title=row["title"],
                intro=row["intro"],
                prompts=prompts,
            )
        )
    return PromptSetList(items=sets)


def now_text(clock: Clock) -> str:
    return iso(clock.now())


async def mark_onboarded(db: Database, clock: Clock, patient_id: str) -> None:
    async with db.transaction() as conn:
        await queries.mark_onboarded(conn, patient_id, iso(clock.now()))


FREE_PROMPT = PromptOut(id="free", text="Write whatever you like.", hint="")


async def prompts_for(db: Database, kind: str, prompt_set_id: str | None) -> list[PromptOut]:
    """The prompts a form shows: those of the entry's own prompt set, or the kind's current set."""
    if kind == "free":
        return [FREE_PROMPT]
    set_id = prompt_set_id or await queries.active_prompt_set_id(db, kind)
    if set_id is None:
        return []
    return [PromptOut(id=p["prompt_id"], text=p["text"], hint=p["hint"]) for p in await queries.prompts_of(db, set_id)]
