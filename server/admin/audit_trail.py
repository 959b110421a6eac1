"""The admin's view of the audit trail: filtered, paged newest first, and downloadable as CSV.

Looking at the trail is itself a read of people's data (who saw which patient, from where), so every
view and every download is recorded, naming the patient when the view is filtered to one.
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import msgspec
from litestar.exceptions import NotFoundException

from server.admin import queries
from server.admin.schemas import ActionMatch, AuditRow
from server.admin.validation import InvalidFields
from server.clock import Clock, iso
from server.db import Database
from server.security import audit
from server.security.audit import Actor
from server.security.sessions import CurrentUser

PAGE_SIZE = 100
CSV_BATCH = 500
CSV_COLUMNS = (
    "id",
    "at",
    "actor_id",
    "actor_name",
    "actor_role",
    "action",
    "patient_id",
    "patient_name",
    "object_type",
    "object_id",
    "client_address",
    "detail",
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ACTION = re.compile(r"^[a-z0-9_.]{1,100}$")
# A spreadsheet runs a cell that starts with one of these as a formula ("CSV injection"); tab and carriage
# return are on OWASP's list too, as some spreadsheets skip them before looking.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class AuditFilters(msgspec.Struct, frozen=True):
    """What the admin asked for. Dates are whole UTC days, both ends included."""

    actor: str | None = None
    patient: str | None = None
    action: str | None = None
    match: ActionMatch = "prefix"
    since: date | None = None
    until: date | None = None

    def names(self) -> list[str]:
        """The filters in use, for the audit row's detail (names only, like every detail)."""
        return [name for name in ("actor", "patient", "action", "since", "until") if getattr(self, name)]

    def query(self) -> dict[str, str]:
        """As URL query parameters, to keep the filters across pages and in the CSV link."""
        values = {name: getattr(self, name) for name in ("actor", "patient", "action", "since", "until")}
        out = {name: str(value) for name, value in values.items() if value}
        if self.action:
            out["match"] = self.match
        return out


def _day(problems: dict[str, str], field: str, raw: str) -> date | None:
    if not raw:
        return None
    try:
        if _DATE.match(raw):
            return date.fromisoformat(raw)
    except ValueError:
        pass
    problems[field] = "Enter a date as YYYY-MM-DD."
    return None


def parse_filters(raw: dict[str, str]) -> AuditFilters:
    """Filters from query parameters (blank means "any"); InvalidFields naming each bad one."""
    problems: dict[str, str] = {}
    action = raw.get("action", "").strip()
    if action and not _ACTION.match(action):
        problems["action"] = "An action is lower-case letters, digits, dots and _, like care_team. or auth.login."
    match = raw.get("match") or "prefix"
    if match not in ("prefix", "exact"):
        problems["match"] = 'Choose "starts with" or "is exactly".'
    since, until = _day(problems, "since", raw.get("since", "")), _day(problems, "until", raw.get("until", ""))
    if since and until and since > until:
        problems["until"] = "The end date is before the start date."
    if problems:
        raise InvalidFields(problems)
    return AuditFilters(
        actor=raw.get("actor") or None,
        patient=raw.get("patient") or None,
        action=action or None,
        match=match,  # type: ignore[arg-type]
        since=since,
        until=until,
    )


async def _check_people(db: Database, admin: CurrentUser, filters: AuditFilters) -> None:
    """Filter only by people of the admin's own clinic (and never write another clinic's patient's id
    into this clinic's audit row)."""
    if filters.actor and await queries.user_in_clinic(db, admin.clinic_id, filters.actor) is None:
        raise NotFoundException("No such account.")
    if filters.patient:
        row = await queries.user_in_clinic(db, admin.clinic_id, filters.patient)
        if row is None or row["role"] != "patient":
            raise NotFoundException("No such patient.")


async def _rows(db: Database, admin: CurrentUser, f: AuditFilters, before: int | None, limit: int) -> list[sqlite3.Row]:
    return await queries.audit_rows(
        db,
        admin.clinic_id,
        actor_id=f.actor,
        patient_id=f.patient,
        action=f.action,
        exact=f.match == "exact",
        at_from=f"{f.since.isoformat()}T00:00:00.000000Z" if f.since else None,
        at_before=f"{(f.until + timedelta(days=1)).isoformat()}T00:00:00.000000Z" if f.until else None,
        before_id=before,
        limit=limit,
    )


async def _record(db: Database, clock: Clock, actor: Actor, action: str, filters: AuditFilters) -> None:
    # Not record_read: this row also says which filters were used (their names, not their values).
    async with db.transaction() as conn:
        await audit.record(
            conn,
            at=iso(clock.now()),
            actor=actor,
            action=action,
            patient_id=filters.patient,
            object_type="audit_log",
            detail={"filters": filters.names()},
        )


def audit_row(row: sqlite3.Row) -> AuditRow:
    return AuditRow(**{name: row[name] for name in CSV_COLUMNS})


async def page(
    db: Database,
    clock: Clock,
    admin: CurrentUser,
    actor: Actor,
    filters: AuditFilters,
    *,
    before: int | None,
    limit: int = PAGE_SIZE,
) -> tuple[list[AuditRow], int | None]:
    """One page of rows, newest first, and the ``before`` that fetches the next (older) page."""
    await _check_people(db, admin, filters)
    # One row more than asked says whether an older page exists, without a count over the whole trail.
    rows = [audit_row(r) for r in await _rows(db, admin, filters, before, limit + 1)]
    # Recorded after reading, so a page shows the trail as it was when asked for (the next one shows this).
    await _record(db, clock, actor, "admin.audit.viewed", filters)
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, rows[-1].id if more else None


def spreadsheet_safe(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _csv_text(rows: list[sqlite3.Row], *, header: bool) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if header:
        writer.writerow(CSV_COLUMNS)
    writer.writerows([spreadsheet_safe(row[name]) for name in CSV_COLUMNS] for row in rows)
    return out.getvalue()


async def csv_download(
    db: Database, clock: Clock, admin: CurrentUser, actor: Actor, filters: AuditFilters
) -> AsyncIterator[str]:
    """Record the download, then return the filtered rows as CSV text, in batches so a long trail never
    sits in memory at once. The download's own row is in it when the filters match it."""
    await _check_people(db, admin, filters)
    await _record(db, clock, actor, "admin.audit.downloaded", filters)

    async def chunks() -> AsyncIterator[str]:
        before, header = None, True
        while True:
            rows = await _rows(db, admin, filters, before, CSV_BATCH)
            yield _csv_text(rows, header=header)
            if len(rows) < CSV_BATCH:
                return
            before, header = rows[-1]["id"], False

    return chunks()
