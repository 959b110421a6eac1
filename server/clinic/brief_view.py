"""Shaping the brief and the week for the page: the two charts, labels, day columns."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from server.charts import Band, DayValue, Marker, Series, line_chart
from server.clinic.schemas import Brief
from server.clock import parse_iso
from server.course.schemas import KIND_LABELS, ROUTE_LABELS, AppointmentOut, KapSessionOut
from server.journal.schemas import SEVERITY_LABELS, SYMPTOM_LABELS
from server.measures.instruments import INSTRUMENTS

FLAG_LABELS = {
    "phq9_item9": "PHQ-9 item 9 (self-harm thoughts)",
    "low_mood": "Very low mood, two check-ins running",
    "not_safe": "Tapped \u201cI'm not safe\u201d",
    "missed_checkins": "Missed check-ins",
    "mood_drop": "Drop in weekly mood",
}
STATUS_LABELS = {"response": "Response (\u226550% drop)", "remission": "Remission (<5)"}
# PHQ-9 severity bands drawn behind the scores panel (GAD-7's cut-offs at 5, 10, 15 are the same).
SCORE_BANDS = [Band(low=b.low, high=b.high + 0.99, label=b.label) for b in INSTRUMENTS["phq9"].bands]


def session_label(session: KapSessionOut) -> str:
    dose = f", {session.dose_mg:g} mg" if session.dose_mg else ""
    return f"{session.series.capitalize()} {session.number} ({ROUTE_LABELS[session.route]}{dose})"


def _day(text: str, zone: ZoneInfo) -> date:
    return parse_iso(text).astimezone(zone).date()


def context(brief: Brief) -> dict[str, Any]:
    zone = ZoneInfo(brief.patient.timezone)
    start, end = _day(brief.since, zone), _day(brief.until, zone)
    markers = [Marker(day=_day(s.scheduled_for, zone), label=session_label(s)) for s in brief.sessions]
    mood_chart = line_chart(
        chart_id="mood-chart",
        title=f"Daily mood and anxiety of {brief.patient.display_name}",
        description="Average of shared check-ins per day, 0 to 10; vertical lines are ketamine sessions.",
        start=start,
        end=end,
        y_max=10,
        series=[
            Series("Mood", "mood", [DayValue(date.fromisoformat(m.local_date), m.mood) for m in brief.mood]),
            Series(
                "Anxiety",
                "anxiety",
                [DayValue(date.fromisoformat(m.local_date), m.anxiety) for m in brief.mood if m.anxiety is not None],
            ),
        ],
        markers=markers,
    )
    scores_chart = line_chart(
        chart_id="scores-chart",
        title="PHQ-9 and GAD-7 over their severity bands",
        description="Questionnaire totals; shaded bands are the PHQ-9 severity ranges (GAD-7 uses the same cut-offs).",
        start=start,
        end=end,
        y_max=27,
        y_ticks=(0, 5, 10, 15, 20, 27),
        series=[
            Series(
                INSTRUMENTS[name].name,
                name,
                [DayValue(date.fromisoformat(p.local_date), p.score) for p in brief.scores if p.instrument == name],
            )
            for name in ("phq9", "gad7")
        ],
        markers=markers,
        bands=SCORE_BANDS,
    )
    return {
        "brief": brief,
        "data": msgspec.to_builtins(brief),
        "mood_chart": mood_chart,
        "scores_chart": scores_chart,
        "since_date": start.isoformat(),
        "new_ids": set(brief.new_entry_ids),
        "session_label": session_label,
        "flag_labels": FLAG_LABELS,
        "status_labels": STATUS_LABELS,
        "instruments": INSTRUMENTS,
        "symptoms": SYMPTOM_LABELS,
        "severities": SEVERITY_LABELS,
        "kind_labels": KIND_LABELS,
        "route_labels": ROUTE_LABELS,
        "zone": zone,
        "local_time": lambda text: parse_iso(text).astimezone(zone).strftime("%a %b %-d, %H:%M"),
    }


def week_context(items: list[AppointmentOut], first: date, zone: ZoneInfo, today: date) -> dict[str, Any]:
    days: list[dict[str, Any]] = []
    for offset in range(7):
        day = first + timedelta(days=offset)
        days.append(
            {
                "date": day,
                "events": [a for a in items if _day(a.starts_at, zone) == day],
            }
        )
    return {
        "days": days,
        "first": first,
        "previous": first - timedelta(days=7),
        "next": first + timedelta(days=7),
        "kind_labels": KIND_LABELS,
        "route_labels": ROUTE_LABELS,
        "local_time": lambda text: parse_iso(text).astimezone(zone).strftime("%H:%M"),
        "today": today,
    }
