"""Turning HTML form posts into the same Structs the JSON API takes, with friendly field errors."""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec
from litestar import Request

from server.errors import FieldError

T = TypeVar("T")
_PATH = re.compile(r"at `\$\.([a-z_]+)")

FIELD_LABELS = {
    "mood": "Mood",
    "anxiety": "Anxiety",
    "energy": "Energy",
    "sleep_hours": "Hours of sleep",
    "tags": "Tags",
    "note": "Note",
    "answers": "Answers",
    "local_date": "Date",
    "reminder_time": "Reminder time",
    "timezone": "Time zone",
}


def convert_form(values: dict[str, Any], target: type[T]) -> T:
    """Validate like the API does; a problem becomes a FieldError naming the field in words."""
    try:
        return msgspec.convert(values, target, strict=False)
    except msgspec.ValidationError as exc:
        match = _PATH.search(str(exc))
        field = match.group(1) if match else "form"
        label = FIELD_LABELS.get(field, field.replace("_", " ").capitalize())
        raise FieldError(field, f"{label} {_in_words(str(exc).split(' - at ')[0])}.") from None


_RULES = (
    (re.compile(r"Expected `(?:int|float)` <= ([\d.]+)"), "must be {0} or less"),
    (re.compile(r"Expected `(?:int|float)` >= ([\d.]+)"), "must be {0} or more"),
    (re.compile(r"Expected `(?:int|float)` > ([\d.]+)"), "must be more than {0}"),
    (re.compile(r"Expected `str` of length <= (\d+)"), "can be at most {0} characters long"),
    (re.compile(r"Expected `array` of length <= (\d+)"), "can have at most {0} items"),
    (re.compile(r"Expected `(?:int|float)`, got `str`"), "must be a number"),
    (re.compile(r"Invalid enum value"), "is not one of the choices"),
)


def _in_words(message: str) -> str:
    for pattern, words in _RULES:
        if match := pattern.search(message):
            return words.format(*match.groups())
    return "is not valid"


async def form_values(request: Request[Any, Any, Any]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Single values (trimmed of nothing: a patient's words are kept exactly) and the multi-valued ones."""
    form = await request.form()
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for key in form:
        values = [v for v in form.getall(key) if isinstance(v, str)]
        multi[key] = values
        single[key] = values[0] if values else ""
    return single, multi


def present(values: dict[str, str], *names: str) -> dict[str, str]:
    """Only the fields the person filled in (an empty optional field means "not answered")."""
    return {name: values[name] for name in names if values.get(name, "").strip() != ""}
