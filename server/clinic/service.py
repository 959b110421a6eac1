"""The therapist's workspace: the caseload, the integration brief, review marks, notes and search.

Everything here reads only what the patient shared (or marked to discuss) and finished; flags are the
one exception, by design: a private entry still raises a flag, which names what raised it, never its text.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from litestar.exceptions import NotFoundException
from markupsafe import escape

from server.clinic import queries
from server.clinic.schemas import (
    Brief,
    CaseloadRow,
    DailyMood,
    NoteOut,
    PatientSummary,
    ScorePoint,
    ScoreSummary,
    SearchHit,
    SearchResults,
    SessionGroup,
)
from server.clock import Clock, iso, parse_iso
from server.course import queries as course_queries
from server.course import service as course
from server.db import Database
from server.errors import FieldError
from server.journal.schemas import AftercareOut, CheckinOut, ReflectionOut
from server.journal.service import entry_out
from server.measures.flags import flag_out
from server.measures.instruments import INSTRUMENTS, Instrument, change_status, severity
from server.security import audit
from server.security.audit import Actor
from server.security.reach import PatientRef, patient_in_reach
from server.security.sessions import CurrentUser

DEFAULT_BRIEF_DAYS = 30


# --- caseload ---------------------------------------------------------------------------------------


def _days_json(now: datetime) -> Callable[[list[str]], str]:
    """CASELOAD's ``days``: each time zone's local today and the bounds of this week and the week before."""

    def days(zones: list[str]) -> str:
        rows = []
        for zone in zones:
            today = now.astimezone(ZoneInfo(zone)).date()
            rows.append([zone, *(str(today - timedelta(days=offset)) for offset in (0, 6, 13, 7))])
        return json.dumps(rows)

    return days


def _score_summary(
    instrument: Instrument, baseline: float | None, latest: float | None, latest_date: str
) -> ScoreSummary | None:
    if latest is None or baseline is None:
        return None
    latest, baseline = float(latest), float(baseline)
    return ScoreSummary(
        instrument=instrument.id,
        latest=latest,
        latest_date=latest_date,
        severity=severity(instrument, latest),
        baseline=baseline,
        change=round(latest - baseline, 1),
        status=change_status(instrument, baseline, latest),
    )


def _sort_key(row: CaseloadRow) -> tuple[Any, ...]:
    """Open safety flags first, then the soonest appointment, then by name."""
    upcoming = min(filter(None, [row.next_integration, row.next_session]), default="9999")
    return (-row.open_high_flags, -row.open_flags, upcoming, row.display_name.lower())


async def caseload(db: Database, clock: Clock, therapist: CurrentUser) -> list[CaseloadRow]:
    now = clock.now()
    rows = await queries.caseload_rows(
        db, therapist_id=therapist.id, clinic_id=therapist.clinic_id, now=iso(now), days_json=_days_json(now)
    )
    phq9, gad7 = INSTRUMENTS["phq9"], INSTRUMENTS["gad7"]
    result = []
    for (
        patient_id,
        name,
        open_flags,
        open_high_flags,
        last_checkin_at,
        week_text,
        before_text,
        unreviewed,
        next_integration,
        next_session,
        phq9_first,
        phq9_latest,
        phq9_date,
        gad7_first,
        gad7_latest,
        gad7_date,
    ) in rows:
        week = float(week_text) if week_text is not None else None
        before = float(before_text) if before_text is not None else None
        result.append(
            CaseloadRow(
                id=patient_id,
                display_name=name,
                open_flags=open_flags,
                open_high_flags=open_high_flags,
                last_checkin_at=last_checkin_at,
                mood_7d=round(week, 1) if week is not None else None,
                mood_7d_change=round(week - before, 1) if week is not None and before is not None else None,
                phq9=_score_summary(phq9, phq9_first, phq9_latest, phq9_date),
                gad7=_score_summary(gad7, gad7_first, gad7_latest, gad7_date),
                unreviewed=unreviewed,
                next_integration=next_integration,
                next_session=next_session,
            )
        )
    return sorted(result, key=_sort_key)


def filter_caseload(rows: list[CaseloadRow], which: str | None, now: datetime, zone: ZoneInfo) -> list[CaseloadRow]:
    """flagged | unreviewed | today | week (an integration appointment or session today / in 7 days)."""
    if which == "flagged":
        return [r for r in rows if r.open_flags]
    if which == "unreviewed":
        return [r for r in rows if r.unreviewed]
    if which in ("today", "week"):
        today = now.astimezone(zone).date()
        last = today if which == "today" else today + timedelta(days=6)

        def soon(at: str | None) -> bool:
            return at is not None and today <= parse_iso(at).astimezone(zone).date() <= last

        return [r for r in rows if soon(r.next_integration) or soon(r.next_session)]
    return rows


# --- the integration brief --------------------------------------------------------------------------


async def brief_window(
    db: Database, clock: Clock, patient_id: str, since: str | None, zone: ZoneInfo
) -> tuple[str, str]:
    """(since, until) as UTC timestamps: the chosen date (from midnight in the patient's time zone), else
    the last integration appointment, else 30 days."""
    now = clock.now()
    if since:
        try:
            start = date.fromisoformat(since)
        except ValueError:
            raise FieldError("since", "since must be a date, like 2026-11-01.") from None
        return iso(datetime(start.year, start.month, start.day, tzinfo=zone)), iso(now)
    last = await course_queries.last_integration_before(db, patient_id, iso(now))
    return last or iso(now - timedelta(days=DEFAULT_BRIEF_DAYS)), iso(now)


async def brief(db: Database, clock: Clock, *, therapist: CurrentUser, patient: PatientRef, since: str | None) -> Brief:
    zone = ZoneInfo(patient.timezone)
    start, until = await brief_window(db, clock, patient.id, since, zone)
    since_date = parse_iso(start).astimezone(zone).date().isoformat()
    today = parse_iso(until).astimezone(zone).date().isoformat()
    rows = await queries.brief_rows(
        db,
        therapist_id=therapist.id,
        patient_id=patient.id,
        since=start,
        until=until,
        since_date=since_date,
        today=today,
    )
    entries = [entry_out(r) for r in rows.entries]
    sessions = [course.session_out(r) for r in rows.sessions]
    return Brief(
        patient=PatientSummary(
            id=patient.id,
            display_name=patient.display_name,
            email=patient.email,
            timezone=patient.timezone,
            disabled=patient.disabled,
        ),
        since=start,
        until=until,
        as_of=until,
        flags=[flag_out(r) for r in rows.flags],
        mood=[DailyMood(r["local_date"], r["mood"], r["anxiety"], r["checkins"]) for r in rows.mood],
        sessions=[s for s in sessions if not s.cancelled and start <= s.scheduled_for <= until],
        scores=[_score_point(r) for r in rows.scores],
        discuss=[e for e in entries if e.sharing == "discuss" and e.local_date >= since_date],
        session_groups=_session_groups(entries, sessions, since_date),
        other_reflections=[
            e for e in entries if isinstance(e, ReflectionOut) and not e.kap_session_id and e.local_date >= since_date
        ],
        aftercare=[e for e in entries if isinstance(e, AftercareOut)],
        checkins=[e for e in entries if isinstance(e, CheckinOut)],
        new_entry_ids=[
            e.id for e, r in zip(entries, rows.entries, strict=True) if (r["reviewed_version"] or 0) < e.version
        ],
        upcoming=[course.event_out(r) for r in rows.upcoming],
    )


def _score_point(r: Any) -> ScorePoint:
    instrument = INSTRUMENTS[r["instrument"]]
    score, baseline = float(r["score"]), float(r["baseline"])
    return ScorePoint(
        id=r["id"],
        instrument=r["instrument"],
        local_date=r["local_date"],
        score=score,
        severity=r["severity"],
        change_from_baseline=round(score - baseline, 1) if instrument.bands else None,
        status=change_status(instrument, baseline, score),
    )


def _session_groups(entries: list[Any], sessions: list[Any], since_date: str) -> list[SessionGroup]:
    """Reflections grouped by the session they follow; the intention beside the reflection revisiting it."""
    by_session: dict[str, list[Any]] = defaultdict(list)
    for e in entries:
        if getattr(e, "kap_session_id", None):
            by_session[e.kap_session_id].append(e)
    groups = []
    for session in sessions:
        linked = by_session.get(session.id, [])
        if not any(e.local_date >= since_date for e in linked):
            continue
        reflections = [e for e in linked if isinstance(e, ReflectionOut)]
        intention = next((e for e in reflections if e.kind == "intention"), None)
        integrations = [e for e in reflections if e.kind == "integration"]
        groups.append(
            SessionGroup(
                session=session,
                intention=intention,
                intention_revisited=any(
                    a.prompt_id == "intention_revisited" and a.text.strip() for e in integrations for a in e.answers
                ),
                quick_captures=[e for e in reflections if e.kind == "quick_capture"],
                integrations=integrations,
                aftercare=[e for e in linked if isinstance(e, AftercareOut)],
            )
        )
    return groups


async def mark_reviewed(
    db: Database,
    clock: Clock,
    *,
    therapist: CurrentUser,
    actor: Actor,
    patient_id: str,
    up_to: datetime,
    entry_ids: list[str] | None,
) -> int:
    if up_to.tzinfo is None:
        raise FieldError("up_to", "up_to needs a time zone, like 2026-11-21T12:00:00Z (use the brief's as_of).")
    now = iso(clock.now())
    async with db.transaction() as conn:
        marked = await queries.mark_reviewed(
            conn, therapist_id=therapist.id, patient_id=patient_id, entry_ids=entry_ids, up_to=iso(up_to), now=now
        )
        await audit.record(
            conn, at=now, actor=actor, action="entries.reviewed", patient_id=patient_id, detail={"count": marked}
        )
    return marked


# --- clinician notes --------------------------------------------------------------------------------


NO_APPOINTMENT = "No such appointment."


async def appointment_in_reach(db: Database, therapist: CurrentUser, appointment_id: str) -> PatientRef:
    """The appointment's patient, if the therapist may reach them. Missing and out of reach answer alike."""
    row = await queries.appointment_of_patient(db, appointment_id)
    if row is None:
        raise NotFoundException(NO_APPOINTMENT)
    try:
        return await patient_in_reach(db, therapist, row["patient_id"])
    except NotFoundException:
        raise NotFoundException(NO_APPOINTMENT) from None


async def notes(db: Database, appointment_id: str) -> list[NoteOut]:
    return [
        NoteOut(
            id=r["id"],
            appointment_id=r["appointment_id"],
            body=r["body"],
            author=r["author"],
            created_at=r["created_at"],
        )
        for r in await queries.notes_of(db, appointment_id)
    ]


async def add_note(
    db: Database, clock: Clock, *, appointment_id: str, patient_id: str, actor: Actor, body: str
) -> NoteOut:
    if not body.strip():
        raise FieldError("body", "Write the note first.")
    note_id = str(uuid.uuid4())
    now = iso(clock.now())
    async with db.transaction() as conn:
        await queries.insert_note(
            conn,
            {
                "id": note_id,
                "patient_id": patient_id,
                "appointment_id": appointment_id,
                "author_id": actor.user_id,
                "body": body,
                "now": now,
            },
        )
        await audit.record(
            conn,
            at=now,
            actor=actor,
            action="clinician_note.created",
            patient_id=patient_id,
            object_type="clinician_note",
            object_id=note_id,
        )
    return next(n for n in await notes(db, appointment_id) if n.id == note_id)


# --- search -----------------------------------------------------------------------------------------

_WORD = re.compile(r"[\w'-]+", re.UNICODE)


def fts_query(text: str) -> str | None:
    """Each word quoted (so FTS syntax in a search box is just text), all required, the last as a prefix."""
    words = [w.replace('"', "") for w in _WORD.findall(text)][:12]
    if not words:
        return None
    quoted = [f'"{w}"' for w in words]
    quoted[-1] += "*"
    return " ".join(quoted)


def _snippet_html(snippet: str) -> str:
    # Escape the patient's words first, then turn the match markers into <mark>.
    return str(escape(snippet)).replace("\x02", "<mark>").replace("\x03", "</mark>")


async def search(db: Database, *, therapist: CurrentUser, text: str, limit: int = 50) -> SearchResults:
    query = fts_query(text)
    if query is None:
        return SearchResults(query=text, items=[])
    rows = await queries.search(db, therapist_id=therapist.id, clinic_id=therapist.clinic_id, query=query, limit=limit)
    return SearchResults(
        query=text,
        items=[
            SearchHit(
                entry_id=r["id"],
                patient_id=r["patient_id"],
                patient_name=r["patient_name"],
                type=r["kind"],
                kind=r["subkind"],
                local_date=r["local_date"],
                snippet=r["snippet"].replace("\x02", "").replace("\x03", ""),
                snippet_html=_snippet_html(r["snippet"]),
            )
            for r in rows
        ],
    )
