"""When each questionnaire is due (PRODUCT.md §4), as windows of local dates.

Default: PHQ-9 and GAD-7 at baseline, every 7 days during the induction series, then every 14 days and
at each booster; the EBI the day after each session. A window closes after a few days, so a form meant
for one moment is not filled in at another by accident. A questionnaire dated inside a window fulfils it.
"""

from __future__ import annotations

from datetime import date, timedelta

import msgspec

MOOD_SCALES = ("phq9", "gad7")
BASELINE_DAYS = 14


class ScheduleSettings(msgspec.Struct, frozen=True):
    induction_interval_days: int = 7
    maintenance_interval_days: int = 14
    at_booster: bool = True
    ebi_after_session: bool = True
    window_days: int = 3


class Session(msgspec.Struct, frozen=True):
    day: date
    series: str


class Window(msgspec.Struct, frozen=True):
    instrument: str
    reason: str  # baseline | induction | maintenance | booster | after_session
    opens: date
    closes: date  # inclusive

    def contains(self, day: date) -> bool:
        return self.opens <= day <= self.closes


def _periodic(start: date, every: int, until: date) -> list[date]:
    days, day = [], start + timedelta(days=every)
    while day <= until:
        days.append(day)
        day += timedelta(days=every)
    return days


def windows(*, joined: date, sessions: list[Session], settings: ScheduleSettings, today: date) -> list[Window]:
    """Every window from joining up to today (and those opening today)."""
    span = timedelta(days=settings.window_days - 1)
    induction = sorted(s.day for s in sessions if s.series == "induction")
    boosters = sorted(s.day for s in sessions if s.series == "booster")
    first_session = min((s.day for s in sessions), default=None)
    baseline_close = joined + timedelta(days=BASELINE_DAYS - 1)
    if first_session and joined <= first_session < baseline_close:
        baseline_close = first_session
    slots: list[tuple[str, date]] = []
    if induction:
        last = induction[-1]
        slots += [("induction", d) for d in _periodic(induction[0], settings.induction_interval_days, last)]
        slots += [("maintenance", d) for d in _periodic(last, settings.maintenance_interval_days, today)]
    else:
        slots += [("maintenance", d) for d in _periodic(joined, settings.maintenance_interval_days, today)]
    if settings.at_booster:
        slots += [("booster", d) for d in boosters if d <= today]
    result = []
    for instrument in MOOD_SCALES:
        result.append(Window(instrument, "baseline", joined, baseline_close))
        result += [Window(instrument, reason, day, day + span) for reason, day in slots]
    if settings.ebi_after_session:
        for session in sessions:
            opens = session.day + timedelta(days=1)
            if opens <= today:
                result.append(Window("ebi", "after_session", opens, opens + timedelta(days=1)))
    return sorted(result, key=lambda w: (w.opens, w.instrument))


def due(all_windows: list[Window], done: dict[str, list[date]], today: date) -> list[Window]:
    """Windows open today that no questionnaire of theirs fulfils yet, one per instrument."""
    open_now = [
        w for w in all_windows if w.contains(today) and not any(w.contains(d) for d in done.get(w.instrument, []))
    ]
    first: dict[str, Window] = {}
    for window in sorted(open_now, key=lambda w: w.closes):
        first.setdefault(window.instrument, window)
    return list(first.values())
