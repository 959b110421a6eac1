"""Which reminders are due for one patient at one moment: pure rules over facts loaded by the service.

The same rules feed the in-app list (always) and the scheduler's pushes (outside quiet hours). Every text
is generic on purpose: a notification can be read on a lock screen by anyone, so it never carries entry
text, scores, session details or the word "ketamine" (PRODUCT.md §5; tests/test_reminders.py checks).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import msgspec

from server.reminders.schemas import ReminderOut

TEXTS = {
    "checkin": "Time for your check-in",
    "intention": "Time to set an intention for your next session",
    "capture": "Time for a quick capture, while it is fresh",
    "reflection": "Time for your reflection",
    "questionnaire": "A short questionnaire is ready for you",
}
TITLE = "Afterglow"

# Around a session (PRODUCT.md §2): an intention the day before, a quick capture "within about 2 hours"
# (after the session and its monitoring), the fuller reflection 24-72 hours after.
INTENTION_LEAD = timedelta(hours=24)
CAPTURE_FROM, CAPTURE_UNTIL = timedelta(hours=2), timedelta(hours=12)
REFLECTION_FROM, REFLECTION_UNTIL = timedelta(hours=24), timedelta(hours=72)
# How far around now the service looks for sessions.
SESSION_LOOKBACK, SESSION_LOOKAHEAD = REFLECTION_UNTIL, INTENTION_LEAD

# Reminder kind -> the reflection kind that fulfils it.
SESSION_REFLECTIONS = {"intention": "intention", "capture": "quick_capture", "reflection": "integration"}


class Preferences(msgspec.Struct, frozen=True, kw_only=True):
    timezone: str
    reminder_time: time
    enabled: frozenset[str]
    quiet_start: time | None = None
    quiet_end: time | None = None


class SessionFact(msgspec.Struct, frozen=True):
    id: str
    at: datetime


class Facts(msgspec.Struct, frozen=True, kw_only=True):
    prefs: Preferences
    sessions: list[SessionFact]
    written: set[tuple[str, str]]  # (reflection kind, session id) already written
    checked_in_today: bool
    questionnaires: list[tuple[str, str]]  # (instrument, window opening date) due today, not yet filled in


def hhmm(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def due(facts: Facts, now: datetime) -> list[ReminderOut]:
    """Everything due at ``now`` that the patient has not turned off, oldest occasion first."""
    prefs = facts.prefs
    local = now.astimezone(ZoneInfo(prefs.timezone))
    after_daily_time = local.time() >= prefs.reminder_time
    found: list[ReminderOut] = []
    if after_daily_time and not facts.checked_in_today:
        found.append(_reminder("checkin", local.date().isoformat(), "/home#checkin"))
    for session in facts.sessions:
        windows = {
            "intention": (session.at - INTENTION_LEAD, session.at),
            "capture": (session.at + CAPTURE_FROM, session.at + CAPTURE_UNTIL),
            "reflection": (session.at + REFLECTION_FROM, session.at + REFLECTION_UNTIL),
        }
        for kind, (opens, closes) in windows.items():
            reflection_kind = SESSION_REFLECTIONS[kind]
            if opens <= now < closes and (reflection_kind, session.id) not in facts.written:
                found.append(_reminder(kind, session.id, f"/reflect/{reflection_kind}?session={session.id}"))
    if after_daily_time:
        for instrument, opens_on in facts.questionnaires:
            found.append(_reminder("questionnaire", f"{instrument}:{opens_on}", f"/questionnaires/{instrument}"))
    return [r for r in found if r.kind in prefs.enabled]


def in_quiet_hours(prefs: Preferences, now: datetime) -> bool:
    """Quiet hours are local and may wrap midnight (22:00-07:00)."""
    if prefs.quiet_start is None or prefs.quiet_end is None or prefs.quiet_start == prefs.quiet_end:
        return False
    moment = now.astimezone(ZoneInfo(prefs.timezone)).time()
    if prefs.quiet_start < prefs.quiet_end:
        return prefs.quiet_start <= moment < prefs.quiet_end
    return moment >= prefs.quiet_start or moment < prefs.quiet_end


def local_date(now: datetime, timezone: str) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()


def _reminder(kind: str, occasion: str, link: str) -> ReminderOut:
    return ReminderOut(kind=kind, occasion=occasion, text=TEXTS[kind], link=link)  # type: ignore[arg-type]
