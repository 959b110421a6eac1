"""The admin's HTML forms: from posted text to the same Structs the API takes, with a friendly message
for each field that needs a change and everything typed kept for showing the form again.

Errors are keyed like the API's (``crisis_lines[2].number``), by the row of the form, so a message sits
beside the row it is about even when blank rows are skipped.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar.datastructures import FormMultiDict

from server.admin.clinic_settings import (
    LINES_PROBLEM,
    MISSED_PROBLEM,
    NAME_PROBLEM,
    SCHEDULE_PROBLEMS,
    line_problem,
    number_ok,
)
from server.admin.prompt_sets import INTRO_PROBLEM, PROMPTS_PROBLEM, TITLE_PROBLEM, prompt_problem
from server.admin.schemas import (
    MAX_CRISIS_LINES,
    MAX_PROMPTS,
    ClinicName,
    ClinicSettingsIn,
    ClinicSettingsOut,
    CrisisKind,
    CrisisLabel,
    CrisisNumber,
    MissedCheckinDays,
    PromptHint,
    PromptKind,
    PromptSetIn,
    PromptSetIntro,
    PromptSetTitle,
    PromptSlug,
    PromptText,
)
from server.admin.validation import check
from server.measures.schemas import ScheduleIn

Problems = dict[str, str]
SCHEDULE_NUMBERS = tuple(SCHEDULE_PROBLEMS)
SCHEDULE_SWITCHES = ("at_booster", "ebi_after_session")
KIND_PROBLEM = "Choose intention, quick capture or integration."
# Room to add crisis lines without JavaScript (never past the maximum).
SPARE_CRISIS_ROWS = 2


def _text(form: FormMultiDict, name: str, limit: int = 2000) -> str:
    # Cut at a generous length: the value goes back into the page, and the real bound is checked later.
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


# --- clinic settings -------------------------------------------------------------------------------------


def clinic_values(settings: ClinicSettingsOut) -> dict[str, Any]:
    """The form's fields as text, filled from the stored settings, with a few blank rows for new lines."""
    lines = [msgspec.to_builtins(line) for line in settings.crisis_lines]
    blank_rows = min(SPARE_CRISIS_ROWS, MAX_CRISIS_LINES - len(lines))
    lines += [{"label": "", "number": "", "kind": "call"}] * blank_rows
    return {
        "name": settings.name,
        "missed_checkin_days": str(settings.missed_checkin_days),
        "lines": lines,
        "schedule": msgspec.to_builtins(settings.schedule_defaults),
        "mfa_required_for_clinicians": settings.mfa_required_for_clinicians,
    }


def _posted_clinic_values(form: FormMultiDict) -> dict[str, Any]:
    schedule: dict[str, Any] = {name: _text(form, name, 20) for name in SCHEDULE_NUMBERS}
    schedule.update({name: name in form for name in SCHEDULE_SWITCHES})  # an unticked box sends nothing
    return {
        "name": _text(form, "name", 300),
        "missed_checkin_days": _text(form, "missed_checkin_days", 20),
        "lines": [
            {
                "label": _text(form, f"line{i}_label", 200),
                "number": _text(form, f"line{i}_number", 60),
                "kind": _text(form, f"line{i}_kind", 20),
            }
            for i in range(MAX_CRISIS_LINES)
            if f"line{i}_label" in form or f"line{i}_number" in form
        ],
        "schedule": schedule,
        "mfa_required_for_clinicians": "mfa_required_for_clinicians" in form,  # an unticked box sends nothing
    }


def _crisis_lines(lines: list[dict[str, str]], problems: Problems) -> list[dict[str, Any]]:
    checked = []
    for i, line in enumerate(lines):
        label, number = line["label"].strip(), " ".join(line["number"].split())
        if not label and not number:
            continue  # a blank row: the form always offers the maximum
        number_field = f"crisis_lines[{i}].number"
        checked_number = check(problems, number_field, number, CrisisNumber, line_problem(i, "number"))
        if checked_number is not None and not number_ok(checked_number):
            problems[number_field] = line_problem(i, "number")
        checked.append(
            {
                "label": check(problems, f"crisis_lines[{i}].label", label, CrisisLabel, line_problem(i, "label")),
                "number": number,
                "kind": check(problems, f"crisis_lines[{i}].kind", line["kind"], CrisisKind, line_problem(i, "kind")),
            }
        )
    if not checked:
        problems["crisis_lines"] = LINES_PROBLEM
    return checked


def _schedule(values: dict[str, Any], problems: Problems) -> dict[str, Any]:
    schedule = {name: values[name] for name in SCHEDULE_SWITCHES}
    for name, message in SCHEDULE_PROBLEMS.items():
        # Checked one field at a time against ScheduleIn itself, so the bounds live in one place.
        one = check(problems, f"schedule_defaults.{name}", {name: values[name].strip()}, ScheduleIn, message)
        schedule[name] = getattr(one, name, None)
    return schedule


def parse_clinic_form(form: FormMultiDict) -> tuple[dict[str, Any], ClinicSettingsIn | None, Problems]:
    """(what was typed, the settings or None, problems by field)."""
    values = _posted_clinic_values(form)
    problems: Problems = {}
    raw = {
        "name": check(problems, "name", values["name"].strip(), ClinicName, NAME_PROBLEM),
        "crisis_lines": _crisis_lines(values["lines"], problems),
        "missed_checkin_days": check(
            problems, "missed_checkin_days", values["missed_checkin_days"].strip(), MissedCheckinDays, MISSED_PROBLEM
        ),
        "schedule_defaults": _schedule(values["schedule"], problems),
        "mfa_required_for_clinicians": values["mfa_required_for_clinicians"],
    }
    if problems:
        return values, None, problems
    # The API's own type is the last word: whatever the checks above let through, it still bounds.
    return values, msgspec.convert(raw, ClinicSettingsIn), problems


# --- prompt sets -----------------------------------------------------------------------------------------


def prompt_set_values(data: PromptSetIn | None, kind: str, *, rows: int) -> dict[str, Any]:
    """The form's fields as text: ``data``'s prompts (or none) and blank rows to make ``rows``."""
    prompts = [msgspec.to_builtins(p) for p in data.prompts] if data else []
    prompts += [{"id": "", "text": "", "hint": ""}] * max(0, rows - len(prompts))
    return {
        "kind": kind,
        "title": data.title if data else "",
        "intro": data.intro if data else "",
        "prompts": prompts[:MAX_PROMPTS],
    }


def _posted_prompt_values(form: FormMultiDict) -> dict[str, Any]:
    prompts = [
        {
            "id": _text(form, f"p{i}_id", 60),
            "text": _text(form, f"p{i}_text", 400),
            "hint": _text(form, f"p{i}_hint", 400),
        }
        for i in range(MAX_PROMPTS)
        if f"p{i}_id" in form or f"p{i}_text" in form
    ]
    return {
        "kind": _text(form, "kind", 20),
        "title": _text(form, "title", 200),
        "intro": _text(form, "intro", 800),
        "prompts": prompts,
    }


def _prompts(rows: list[dict[str, str]], problems: Problems) -> list[dict[str, Any]]:
    checked: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, row in enumerate(rows):
        slug, text, hint = row["id"].strip(), row["text"].strip(), row["hint"].strip()
        if not (slug or text or hint):
            continue  # a blank row, offered for adding a prompt
        checked_slug = check(problems, f"prompts[{i}].id", slug, PromptSlug, prompt_problem(i, "id"))
        if checked_slug is not None and checked_slug in seen:
            problems[f"prompts[{i}].id"] = prompt_problem(i, "duplicate")
        seen.add(slug)
        checked.append(
            {
                "id": checked_slug,
                "text": check(problems, f"prompts[{i}].text", text, PromptText, prompt_problem(i, "text")),
                "hint": check(problems, f"prompts[{i}].hint", hint, PromptHint, prompt_problem(i, "hint")),
            }
        )
    if not checked or len(checked) > MAX_PROMPTS:
        problems["prompts"] = PROMPTS_PROBLEM
    return checked


def parse_prompt_set_form(form: FormMultiDict) -> tuple[dict[str, Any], PromptSetIn | None, Problems]:
    """(what was typed, the new prompt set or None, problems by field)."""
    values = _posted_prompt_values(form)
    problems: Problems = {}
    raw = {
        "kind": check(problems, "kind", values["kind"], PromptKind, KIND_PROBLEM),
        "title": check(problems, "title", values["title"].strip(), PromptSetTitle, TITLE_PROBLEM),
        "intro": check(problems, "intro", values["intro"].strip(), PromptSetIntro, INTRO_PROBLEM),
        "prompts": _prompts(values["prompts"], problems),
    }
    if problems:
        return values, None, problems
    return values, msgspec.convert(raw, PromptSetIn), problems
