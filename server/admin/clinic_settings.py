"""The clinic's settings: its name, the crisis lines patients see, the missed-check-in threshold and the
questionnaire schedule defaults. Read by the journal (crisis lines), the flag watcher (threshold) and
the questionnaire schedule (defaults); changed only here, and every change audited."""

from __future__ import annotations

import sqlite3
from typing import Any

import msgspec
from litestar.exceptions import NotFoundException

from server.admin import queries
from server.admin.schemas import ClinicSettingsIn, ClinicSettingsOut, CrisisLineSetting
from server.admin.validation import InvalidFields
from server.clock import Clock, iso
from server.db import Database
from server.measures.schemas import ScheduleIn
from server.security import audit
from server.security.audit import Actor
from server.security.sessions import CurrentUser

SETTING_FIELDS = ("name", "crisis_lines", "missed_checkin_days", "schedule_defaults", "mfa_required_for_clinicians")

# One wording per rule, for the API's errors and the form's alike.
NAME_PROBLEM = "Enter the clinic's name (up to 200 characters)."
LINES_PROBLEM = "Give at least one crisis line, and at most 8."
MISSED_PROBLEM = "Missed check-ins: enter a whole number of days from 1 to 60."
LINE_PROBLEMS = {
    "label": "enter a label of up to 100 characters",
    "number": "enter a phone number: digits, spaces, + - ( ) and dots, with 2 to 15 digits",
    "kind": "choose call, text, or call or text",
}
SCHEDULE_PROBLEMS = {
    "induction_interval_days": "During the induction series: enter a whole number of days from 1 to 90.",
    "maintenance_interval_days": "After the induction series: enter a whole number of days from 1 to 180.",
    "window_days": "Questionnaires stay open: enter a whole number of days from 1 to 14.",
}


def line_problem(index: int, part: str) -> str:
    return f"Crisis line {index + 1}: {LINE_PROBLEMS[part]}."


def number_ok(number: str) -> bool:
    """The schema checks the characters; a number a phone can dial also needs 2 to 15 digits (E.164)."""
    return 2 <= sum(ch.isdigit() for ch in number) <= 15


# --- reading ---------------------------------------------------------------------------------------------


def schedule_of(raw: str | None) -> ScheduleIn:
    """Stored defaults, the built-in ones filling any gap (the migration stores '{}': all built-in)."""
    try:
        return msgspec.json.decode(raw or "{}", type=ScheduleIn)
    except msgspec.DecodeError:
        # Only this module writes the column, so this is a hand edit: keep every patient's schedule working.
        return ScheduleIn()


def _lines_of(raw: str) -> list[CrisisLineSetting]:
    try:
        return msgspec.json.decode(raw, type=list[CrisisLineSetting])
    except msgspec.DecodeError:
        return []  # a hand-edited column: the form starts empty and saving it repairs the column


def _settings_of(row: sqlite3.Row) -> ClinicSettingsOut:
    return ClinicSettingsOut(
        id=row["id"],
        name=row["name"],
        crisis_lines=_lines_of(row["crisis_lines"]),
        missed_checkin_days=row["missed_checkin_days"],
        schedule_defaults=schedule_of(row["schedule_defaults"]),
        mfa_required_for_clinicians=bool(row["mfa_required_for_clinicians"]),
    )


async def clinic_settings(db: Database, clinic_id: int) -> ClinicSettingsOut:
    row = await queries.clinic(db, clinic_id)
    if row is None:
        raise NotFoundException("No such clinic.")
    return _settings_of(row)


async def schedule_defaults_for(db: Database, patient_id: str) -> ScheduleIn:
    """The questionnaire schedule of a patient who has none of their own: their clinic's defaults."""
    return schedule_of(await queries.schedule_defaults_of_patient(db, patient_id))


# --- changing --------------------------------------------------------------------------------------------


def normalised(data: ClinicSettingsIn) -> ClinicSettingsIn:
    """Trimmed text (and single spaces inside a number), so "  988 " and "988" are the same setting."""
    lines = [
        CrisisLineSetting(label=line.label.strip(), number=" ".join(line.number.split()), kind=line.kind)
        for line in data.crisis_lines
    ]
    return msgspec.structs.replace(data, name=data.name.strip(), crisis_lines=lines)


def problems(data: ClinicSettingsIn) -> dict[str, str]:
    """What the schema cannot say: text that is only spaces, a number without enough digits."""
    found = {}
    if not data.name:
        found["name"] = NAME_PROBLEM
    for index, line in enumerate(data.crisis_lines):
        if not line.label:
            found[f"crisis_lines[{index}].label"] = line_problem(index, "label")
        if not number_ok(line.number):
            found[f"crisis_lines[{index}].number"] = line_problem(index, "number")
    return found


def _stored(data: ClinicSettingsIn) -> dict[str, Any]:
    return {
        "name": data.name,
        "crisis_lines": msgspec.json.encode(data.crisis_lines).decode(),
        "missed_checkin_days": data.missed_checkin_days,
        "schedule_defaults": msgspec.json.encode(data.schedule_defaults).decode(),
        "mfa_required_for_clinicians": int(data.mfa_required_for_clinicians),
    }


def changed_fields(before: ClinicSettingsOut, after: ClinicSettingsIn) -> list[str]:
    return [
        name
        for name in SETTING_FIELDS
        if msgspec.to_builtins(getattr(before, name)) != msgspec.to_builtins(getattr(after, name))
    ]


async def save_clinic_settings(
    db: Database, clock: Clock, admin: CurrentUser, actor: Actor, data: ClinicSettingsIn
) -> ClinicSettingsOut:
    """Replace the settings. Audited with the names of the fields that changed (never their values);
    saving what is already there writes nothing."""
    data = normalised(data)
    found = problems(data)
    if found:
        raise InvalidFields(found)
    now = iso(clock.now())
    async with db.transaction() as conn:
        row = await queries.clinic_for_update(conn, admin.clinic_id)
        if row is None:
            raise NotFoundException("No such clinic.")
        changed = changed_fields(_settings_of(row), data)
        if changed:
            await queries.save_clinic(conn, admin.clinic_id, _stored(data))
            await audit.record(
                conn,
                at=now,
                actor=actor,
                action="clinic.settings_changed",
                object_type="clinic",
                object_id=str(admin.clinic_id),
                detail={"changed": changed},
            )
    return await clinic_settings(db, admin.clinic_id)
