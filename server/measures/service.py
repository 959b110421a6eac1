"""What is due for a patient, and the schedule their therapist sets."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import msgspec

from server.admin import clinic_settings
from server.clock import Clock, iso, parse_iso
from server.db import Database
from server.measures import queries, schedule
from server.measures.instruments import INSTRUMENTS
from server.measures.schemas import DueList, DueQuestionnaire, InstrumentList, InstrumentOut, ScheduleIn
from server.security import audit
from server.security.audit import Actor


def _local_day(utc_text: str, zone: ZoneInfo) -> date:
    return parse_iso(utc_text).astimezone(zone).date()


async def schedule_settings(db: Database, patient_id: str) -> schedule.ScheduleSettings:
    """The patient's own schedule if their therapist set one, else their clinic's defaults (which fall
    back to the built-in schedule for anything the clinic left unset)."""
    row = await queries.schedule(db, patient_id)
    if row is None:
        defaults = await clinic_settings.schedule_defaults_for(db, patient_id)
        return schedule.ScheduleSettings(**msgspec.structs.asdict(defaults))
    return schedule.ScheduleSettings(
        induction_interval_days=row["induction_interval_days"],
        maintenance_interval_days=row["maintenance_interval_days"],
        at_booster=bool(row["at_booster"]),
        ebi_after_session=bool(row["ebi_after_session"]),
        window_days=row["window_days"],
    )


async def due_questionnaires(db: Database, clock: Clock, patient_id: str) -> DueList:
    person = await queries.patient_joined(db, patient_id)
    if person is None:
        return DueList(items=[])
    zone = ZoneInfo(person["timezone"])
    today = clock.now().astimezone(zone).date()
    sessions = [
        schedule.Session(day=_local_day(r["scheduled_for"], zone), series=r["series"])
        for r in await queries.session_times(db, patient_id)
    ]
    windows = schedule.windows(
        joined=_local_day(person["created_at"], zone),
        sessions=sessions,
        settings=await schedule_settings(db, patient_id),
        today=today,
    )
    done: dict[str, list[date]] = {}
    for row in await queries.questionnaire_dates(db, patient_id):
        done.setdefault(row["instrument"], []).append(date.fromisoformat(row["local_date"]))
    return DueList(
        items=[
            DueQuestionnaire(
                instrument=w.instrument,
                name=INSTRUMENTS[w.instrument].name,
                reason=w.reason,
                opens=w.opens.isoformat(),
                closes=w.closes.isoformat(),
            )
            for w in schedule.due(windows, done, today)
        ]
    )


async def save_schedule(db: Database, clock: Clock, *, patient_id: str, actor: Actor, data: ScheduleIn) -> None:
    now = iso(clock.now())
    async with db.transaction() as conn:
        values = msgspec.to_builtins(data)
        values.update(updated_at=now, updated_by=actor.user_id)
        await queries.save_schedule(conn, patient_id, values)
        await audit.record(conn, at=now, actor=actor, action="schedule.updated", patient_id=patient_id)


def instrument_list() -> InstrumentList:
    return InstrumentList(items=[msgspec.convert(msgspec.to_builtins(i), InstrumentOut) for i in INSTRUMENTS.values()])
