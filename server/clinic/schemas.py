from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import Meta

from server.course.schemas import AppointmentOut, KapSessionOut
from server.journal.schemas import AftercareOut, AnyEntry, CheckinOut, ReflectionOut
from server.measures.schemas import FlagOut


class PatientSummary(msgspec.Struct):
    id: str
    display_name: str
    email: str
    timezone: str
    disabled: bool


class ScoreSummary(msgspec.Struct):
    instrument: str
    latest: float
    latest_date: str
    severity: str | None
    baseline: float
    change: float
    status: str | None  # response | remission | None


class CaseloadRow(msgspec.Struct):
    id: str
    display_name: str
    open_flags: int
    open_high_flags: int
    last_checkin_at: str | None
    mood_7d: float | None
    mood_7d_change: float | None
    phq9: ScoreSummary | None
    gad7: ScoreSummary | None
    unreviewed: Annotated[
        int, Meta(description="Shared entries new or changed since this therapist reviewed them (100: 100 or more).")
    ]
    next_integration: str | None
    next_session: str | None


class Caseload(msgspec.Struct):
    items: list[CaseloadRow]


class DailyMood(msgspec.Struct):
    local_date: str
    mood: float
    anxiety: float | None
    checkins: int


class ScorePoint(msgspec.Struct):
    id: str
    instrument: str
    local_date: str
    score: float
    severity: str | None
    change_from_baseline: float | None
    status: str | None


class SessionGroup(msgspec.Struct):
    session: KapSessionOut
    intention: ReflectionOut | None
    intention_revisited: bool
    quick_captures: list[ReflectionOut]
    integrations: list[ReflectionOut]
    aftercare: list[AftercareOut]


class Brief(msgspec.Struct):
    patient: PatientSummary
    since: str
    until: str
    as_of: str
    flags: list[FlagOut]
    mood: list[DailyMood]
    sessions: list[KapSessionOut]
    scores: list[ScorePoint]
    discuss: list[AnyEntry]
    session_groups: list[SessionGroup]
    other_reflections: list[ReflectionOut]
    aftercare: list[AftercareOut]
    checkins: list[CheckinOut]
    new_entry_ids: list[str]
    upcoming: list[AppointmentOut]


class ReviewIn(msgspec.Struct, forbid_unknown_fields=True):
    """Mark entries read: those listed, or every visible entry changed up to ``up_to`` (the brief's as_of)."""

    up_to: datetime
    entry_ids: Annotated[list[Annotated[str, Meta(max_length=64)]], Meta(max_length=2000)] | None = None


class ReviewOut(msgspec.Struct):
    marked: int


class NoteIn(msgspec.Struct, forbid_unknown_fields=True):
    body: Annotated[str, Meta(min_length=1, max_length=20000)]


class NoteOut(msgspec.Struct):
    id: str
    appointment_id: str
    body: str
    author: str | None
    created_at: str


class NoteList(msgspec.Struct):
    items: list[NoteOut]


class SearchHit(msgspec.Struct):
    entry_id: str
    patient_id: str
    patient_name: str
    type: str
    kind: str | None
    local_date: str
    snippet: str
    snippet_html: str


class SearchIn(msgspec.Struct, forbid_unknown_fields=True):
    """Search words travel in the body, never the URL: a therapist may type a patient's own words."""

    q: Annotated[str, Meta(min_length=1, max_length=200)]


class SearchResults(msgspec.Struct):
    query: str
    items: list[SearchHit]
