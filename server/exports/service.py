"""Building the exports. The patient gets everything; their care team gets only what was shared."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import zipfile
from typing import Any

import msgspec

from server.clock import Clock, iso
from server.db import Database
from server.exports import queries
from server.exports.fhir import CheckinRecord, PatientInfo, QuestionnaireRecord, questionnaire_bundle
from server.journal import queries as journal_queries
from server.journal.schemas import SYMPTOM_LABELS
from server.journal.service import entry_out
from server.measures.instruments import INSTRUMENTS


def _row_dict(row: sqlite3.Row) -> dict[str, Any]:
    data = dict(row)
    if "body" in data and isinstance(data["body"], str):
        data["body"] = json.loads(data["body"])
    data.pop("body_hash", None)
    return data


async def _entries(db: Database, patient_id: str, *, team_view: bool) -> list[sqlite3.Row]:
    return await journal_queries.entries_of(db, patient_id, kind=None, team_view=team_view, limit=1_000_000)


async def json_export(db: Database, clock: Clock, patient_id: str, *, team_view: bool) -> dict[str, Any]:
    person = await queries.patient_record(db, patient_id)
    assert person is not None
    if team_view:
        entries = await _entries(db, patient_id, team_view=True)
        tables: dict[str, Any] = {"entries": [msgspec.to_builtins(entry_out(r)) for r in entries]}
        for table, found in (await queries.team_rows(db, patient_id)).items():
            tables[table] = [_row_dict(r) for r in found]
    else:
        rows = await queries.patient_rows(db, patient_id)
        tables = {table: [_row_dict(r) for r in found] for table, found in rows.items()}
        tables["entries"] = [msgspec.to_builtins(entry_out(r)) for r in rows["entries"]]
    return {
        "format": "afterglow-export",
        "version": 1,
        "exported_at": iso(clock.now()),
        "scope": "shared-with-care-team" if team_view else "everything",
        "patient": dict(person),
        "tables": tables,
    }


CSV_COLUMNS = {
    "checkins": [
        "id",
        "local_date",
        "created_at",
        "sharing",
        "mood",
        "anxiety",
        "energy",
        "sleep_hours",
        "tags",
        "note",
    ],
    "reflections": [
        "id",
        "local_date",
        "created_at",
        "sharing",
        "status",
        "kind",
        "kap_session_id",
        "prompt_set",
        "prompt_id",
        "prompt",
        "text",
    ],
    "aftercare": ["id", "local_date", "created_at", "sharing", "kap_session_id", *SYMPTOM_LABELS, "note"],
    "questionnaires": ["id", "local_date", "created_at", "sharing", "instrument", "score", "severity", "answers"],
}


def _csv_rows(entry: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    kind = entry["type"]
    common = {k: entry.get(k) for k in ("id", "local_date", "created_at", "sharing", "status", "kap_session_id")}
    if kind == "checkin":
        return "checkins", [{**common, **entry, "tags": ";".join(entry["tags"])}]
    if kind == "reflection":
        answers = entry["answers"] or [{"prompt_id": "", "prompt": "", "text": ""}]
        return "reflections", [{**common, **entry, **a} for a in answers]
    if kind == "aftercare":
        return "aftercare", [{**common, **entry["symptoms"], "note": entry["note"]}]
    return "questionnaires", [{**common, **entry, "answers": " ".join(str(a) for a in entry["answers"])}]


def _cell(value: Any) -> Any:
    """Spreadsheets run a cell starting with = + - @ as a formula: a patient's note must stay text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


async def csv_export(db: Database, patient_id: str, *, team_view: bool) -> bytes:
    """A zip with one CSV per kind of entry (spreadsheets open each directly)."""
    sheets: dict[str, list[dict[str, Any]]] = {name: [] for name in CSV_COLUMNS}
    for row in await _entries(db, patient_id, team_view=team_view):
        name, rows = _csv_rows(msgspec.to_builtins(entry_out(row)))
        sheets[name].extend(rows)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, rows in sheets.items():
            text = io.StringIO()
            writer = csv.DictWriter(text, fieldnames=CSV_COLUMNS[name], extrasaction="ignore")
            writer.writeheader()
            writer.writerows([{k: _cell(v) for k, v in row.items()} for row in rows])
            archive.writestr(f"{name}.csv", text.getvalue())
    return buffer.getvalue()


async def fhir_export(db: Database, clock: Clock, patient_id: str, *, team_view: bool) -> dict[str, Any]:
    person = await queries.patient_record(db, patient_id)
    assert person is not None
    questionnaires, checkins = [], []
    for row in await _entries(db, patient_id, team_view=team_view):
        entry = msgspec.to_builtins(entry_out(row))
        if entry["type"] == "questionnaire" and entry["instrument"] in INSTRUMENTS:
            questionnaires.append(
                QuestionnaireRecord(
                    id=entry["id"],
                    instrument=entry["instrument"],
                    answers=entry["answers"],
                    score=entry["score"],
                    severity=entry["severity"],
                    authored=entry["created_at"],
                )
            )
        elif entry["type"] == "checkin":
            checkins.append(
                CheckinRecord(
                    id=entry["id"],
                    mood=entry["mood"],
                    anxiety=entry["anxiety"],
                    energy=entry["energy"],
                    sleep_hours=entry["sleep_hours"],
                    authored=entry["created_at"],
                )
            )
    return questionnaire_bundle(
        patient=PatientInfo(id=person["id"], display_name=person["display_name"]),
        questionnaires=questionnaires,
        checkins=checkins,
        generated_at=iso(clock.now()),
    )
