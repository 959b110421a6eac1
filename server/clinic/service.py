"""The therapist's workspace: the caseload, the integration brief, review marks, notes and search.

Everything here reads only what the patient shared (or marked to discuss) and finished; flags are the
one exception, by design: a private entry still raises a flag, which names what raised it, never its text.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import defaultdict
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
from server.journal import queries as journal_queries
from server.journal.schemas import AftercareOut, CheckinOut, ReflectionOut
from server.journal.service import entry_out
from server.measures import queries as measure_queries
from server.measures.flags import flag_out
from server.measures.instruments import INSTRUMENTS, change_status
from server.security import audit
from server.security.audit import Actor
from server.security.reach import PatientRef, patient_in_reach
from server.security.sessions import CurrentUser

DEFAULT_BRIEF_DAYS = 30


# --- caseload ---------------------------------------------------------------------------------------


def _week_bounds(today: date) -> list[str]:
    def day(offset: int) -> str:
        return (today - timedelta(days=offset)).isoformat()

    return [day(0), day(6), day(13), day(7)]


def _score_summaries(rows: list[Any]) -> dict[tuple[str, str], ScoreSummary]:
    firsts = {(r["patient_id"], r["instrument"]): r for r in rows if r["first_rank"] == 1}
    summaries = {}
    for row in rows:
        if row["last_rank"] != 1:
            continue
        key = (row["patient_id"], row["instrument"])
        baseline = float(firsts[key]["score"])
        latest = float(row["score"])
        instrument = INSTRUMENTS[row["instrument"]]
        summaries[key] = ScoreSummary(
            instrument=row["instrument"],
            latest=latest,
            latest_date=row["local_date"],
            severity=next((b.label for b in instrument.bands if b.low <= latest <= b.high), None),
            baseline=baseline,
            change=round(latest - baseline, 1),
            status=change_status(instrument, baseline, latest),
        )
    return summaries


def _sort_key(row: CaseloadRow) -> tuple[Any, ...]:
    """Open safety flags first, then the soonest appointment, then by name."""
    upcoming = min(filter(None, [row.next_integration, row.next_session]), default="9999")
    return (-row.open_high_flags, -row.open_flags, upcoming, row.display_name.lower())


async def caseload(db: Database, clock: Clock, therapist: CurrentUser) -> list[CaseloadRow]:
    now = clock.now()
    zones = await queries.team_zones(db, therapist.id, therapist.clinic_id)
    days = [[z["id"], *_week_bounds(now.astimezone(ZoneInfo(z["timezone"])).date())] for z in zones]
    rows = await queries.caseload_rows(
        db, therapist_id=therapist.id, clinic_id=therapist.clinic_id, days_json=json.dumps(days), now=iso(now)
    )
    scores = _score_summaries(await queries.score_rows(db, therapist.id))
    result = []
    for r in rows:
        week, before = r["mood_week"], r["mood_prev_week"]
        result.append(
            CaseloadRow(
                id=r["id"],
                display_name=r["display_name"],
                open_flags=r["open_flags"],
                open_high_flags=r["open_high_flags"],
                last_checkin_at=r["last_checkin_at"],
                mood_7d=round(week, 1) if week is not None else None,
                mood_7d_change=round(week - before, 1) if week is not None and before is not None else None,
                phq9=scores.get((r["id"], "phq9")),
                gad7=scores.get((r["id"], "gad7")),
                unreviewed=r["unreviewed"],
                next_integration=r["next_integration"],
                next_session=r["next_session"],
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
    rows = await queries.visible_entries(db, patient.id, since_date)
    entries = [entry_out(r) for r in rows]
    reviewed = await queries.reviewed_versions(db, therapist.id, patient.id)
    sessions = (await course.session_list(db, clock, patient.id)).items
    in_window = [s for s in sessions if not s.cancelled and start <= s.scheduled_for <= until]
    daily = await journal_queries.daily_mood(db, patient.id, since_date, today, team_view=True)
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
        flags=[flag_out(r) for r in await measure_queries.flags_for_brief(db, patient.id, start)],
        mood=[DailyMood(r["local_date"], r["mood"], r["anxiety"], r["checkins"]) for r in daily],
        sessions=in_window,
        scores=_score_points(await queries.all_scores(db, patient.id), since_date),
        discuss=[e for e in entries if e.sharing == "discuss" and e.local_date >= since_date],
        session_groups=_session_groups(entries, sessions, since_date),
        other_reflections=[
            e for e in entries if isinstance(e, ReflectionOut) and not e.kap_session_id and e.local_date >= since_date
        ],
        aftercare=[e for e in entries if isinstance(e, AftercareOut)],
        checkins=[e for e in entries if isinstance(e, CheckinOut)],
        new_entry_ids=[e.id for e in entries if reviewed.get(e.id, 0) < e.version],
        upcoming=[
            a
            for a in (await course.patient_appointments(db, patient.id)).items
            if not a.cancelled and a.starts_at >= until
        ],
    )


def _score_points(rows: list[Any], since_date: str) -> list[ScorePoint]:
    baseline: dict[str, float] = {}
    points = []
    for r in rows:
        instrument = INSTRUMENTS[r["instrument"]]
        first = baseline.setdefault(r["instrument"], float(r["score"]))
        if r["local_date"] < since_date:
            continue
        score = float(r["score"])
        points.append(
            ScorePoint(
                id=r["id"],
                instrument=r["instrument"],
                local_date=r["local_date"],
                score=score,
                severity=json.loads(r["body"]).get("severity"),
                change_from_baseline=round(score - first, 1) if instrument.bands else None,
                status=change_status(instrument, first, score),
            )
        )
    return points


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
