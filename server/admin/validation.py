"""Refusing several fields at once, in the API's error shape and in a form's."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar.exceptions import HTTPException


class InvalidFields(HTTPException):
    """422 naming every refused field: ``{"detail", "errors": [{"field", "message"}]}`` under /api/, and
    ``problems`` (field -> message) for a form to show beside what was typed."""

    status_code = 422

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = dict(problems)
        messages = list(self.problems.values())
        detail = messages[0] if len(messages) == 1 else "Some fields need a change."
        super().__init__(detail=detail, extra=[{"field": f, "message": m} for f, m in self.problems.items()])


def check(problems: dict[str, str], field: str, value: Any, type_: Any, message: str) -> Any:
    """``value`` converted to ``type_`` (with its bounds), or None with ``message`` noted for ``field``.

    Lax conversion, because a form sends every value as text ("7" for 7).
    """
    try:
        return msgspec.convert(value, type_, strict=False)
    except msgspec.ValidationError:
        problems[field] = message
        return None
