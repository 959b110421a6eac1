"""Time, behind one seam so tests can move it (session expiry, throttling, invitations)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from server.errors import FieldError


class Clock:
    """A base class rather than a runtime-checkable Protocol: handlers receive it through dependency
    injection, which checks the type on every request, and a Protocol check is many times slower."""

    def now(self) -> datetime:
        raise NotImplementedError


class SystemClock(Clock):
    def now(self) -> datetime:
        return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """Fixed-width UTC text, so timestamps stored in SQLite compare correctly as strings."""
    # isoformat() with microseconds is always "YYYY-MM-DDTHH:MM:SS.ffffff+00:00" in UTC, and several times
    # cheaper than strftime; every write stamps two or three of these.
    return moment.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def parse_iso(text: str) -> datetime:
    # fromisoformat reads the trailing "Z" since Python 3.11 and is many times cheaper than strptime (the
    # brief parses a year of timestamps); the shape check keeps it as strict as iso() is about what it writes.
    if len(text) != 27 or text[-1] != "Z":
        raise ValueError(f"not a UTC timestamp: {text!r}")
    return datetime.fromisoformat(text)


def checked_timezone(name: str, field: str = "timezone") -> str:
    """An IANA time zone name we can use, or the field's error."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise FieldError(field, f"{name!r} is not a time zone we know, like America/Denver.") from None
    return name
