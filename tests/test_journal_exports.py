"""Exports: the patient's own (everything, from every table that holds their data), as JSON, a zip of CSVs
and a FHIR R4 Bundle checked by an independent validator; the care team's holds only what was shared."""

from __future__ import annotations

import csv
import io
import uuid
import zipfile
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from server.db import connect_sync
from server.exports.queries import WITHHELD
from server.settings import Settings
from tests.conftest import Client, People, count, query

SESSION = {"scheduled_for": "2026-11-20T16:00:00Z", "route": "iv", "series": "induction", "dose_mg": 35}
LOINC = "http://loinc.org"
CSV_FILES = {"checkins.csv", "reflections.csv", "aftercare.csv", "questionnaires.csv"}


def new_id() -> str:
    return str(uuid.uuid4())


def tables_with_patient_id(settings: Settings) -> set[str]:
    """Every table of the real database file that has a patient_id column."""
    names = [r["name"] for r in query(settings, "SELECT name FROM sqlite_master WHERE type = 'table'")]
    found = set()
    for name in names:
        columns = [c["name"] for c in query(settings, f"SELECT name FROM pragma_table_info('{name}')")]
        if "patient_id" in columns:
            found.add(name)
    return found


def put(client: Client, path: str, body: dict[str, Any], entry_id: str | None = None) -> str:
    entry_id = entry_id or new_id()
    response = client.put(f"/api/v1/{path}/{entry_id}", json=body)
    assert response.status_code in (200, 201), response.text
    return entry_id


def write_everything(client: Client, people: People) -> dict[str, str]:
    """Something in every table that holds patient A's data. Leaves patient A signed in."""
    client.login(people.therapist_a.email)
    session = client.post(f"/api/v1/patients/{people.patient_a.id}/kap-sessions", json=SESSION)
    assert session.status_code == 201
    session_id = session.json()["id"]
    schedule = client.put(f"/api/v1/patients/{people.patient_a.id}/questionnaire-schedule", json={"window_days": 5})
    assert schedule.status_code == 200
    appointment = client.post(
        f"/api/v1/patients/{people.patient_a.id}/appointments",
        json={"starts_at": "2026-11-25T15:00:00+00:00", "kind": "integration"},
    )
    assert appointment.status_code == 201
    note = client.post(f"/api/v1/appointments/{appointment.json()['id']}/notes", json={"body": "clinician-only note"})
    assert note.status_code == 201
    client.login(people.patient_a.email)
    assert client.put("/api/v1/me/settings", json={"default_sharing": "discuss"}).status_code == 200
    assert client.put("/api/v1/safety-plan", json={"reason_for_living": "my cat"}).status_code == 200
    # Reminders: a preference and a device (an endpoint of a push service the server accepts; nothing is sent).
    assert client.put("/api/v1/reminders/preferences", json={"capture": False}).status_code == 200
    device = {
        "endpoint": "https://fcm.googleapis.com/fcm/send/export",
        "keys": {"p256dh": "B" + "A" * 86, "auth": "A" * 22},
    }
    assert client.post("/api/v1/push/subscriptions", json=device).status_code == 201
    ids = {
        "private_checkin": put(
            client,
            "checkins",
            {
                "mood": 3,
                "anxiety": 6,
                "sleep_hours": 5.5,
                "tags": ["tired", "Work"],
                "note": "private note",
                "sharing": "private",
            },
        ),
        "shared_checkin": put(client, "checkins", {"mood": 7, "note": "shared note", "sharing": "shared"}),
        "reflection": put(
            client,
            "reflections",
            {
                "kind": "integration",
                "kap_session_id": session_id,
                "prompt_set": "integration-v1",
                "answers": [
                    {"prompt_id": "insight", "text": "first answer"},
                    {"prompt_id": "action", "text": "second answer"},
                ],
                "sharing": "private",
            },
        ),
        "aftercare": put(
            client,
            "aftercare",
            {"kap_session_id": session_id, "symptoms": {"nausea": 2, "dissociation": 1}, "note": "queasy"},
        ),
        "phq9": put(client, "questionnaires", {"instrument": "phq9", "answers": [1, 2, 1, 0, 0, 1, 0, 0, 0, 1]}),
        "gad7": put(
            client, "questionnaires", {"instrument": "gad7", "answers": [1, 1, 1, 1, 0, 0, 0], "sharing": "private"}
        ),
        "ebi": put(client, "questionnaires", {"instrument": "ebi", "answers": [10, 20, 30, 40, 50, 65]}),
        "session": session_id,
    }
    # An edit keeps a version; a tap on "I'm not safe" raises a flag.
    put(client, "checkins", {"mood": 7, "note": "shared note, edited", "sharing": "shared"}, ids["shared_checkin"])
    assert client.post("/api/v1/safety/not-safe").status_code == 200
    client.login(people.therapist_a.email)
    reviewed = client.post(f"/api/v1/patients/{people.patient_a.id}/reviewed", json={"up_to": "2026-12-31T00:00:00Z"})
    assert reviewed.status_code == 200
    client.login(people.patient_a.email)
    return ids


# --- the patient's own JSON export -----------------------------------------------------------------------


def test_the_patients_export_has_every_table_that_holds_their_data(
    client: Client, people: People, settings: Settings
) -> None:
    client.login(people.patient_b.email)
    put(client, "checkins", {"mood": 4, "note": "canary-patient-b-3c1d"})
    ids = write_everything(client, people)
    # A reminder the scheduler claimed (tests/test_reminders.py sends real ones through a push service).
    conn = connect_sync(settings.database_path)
    conn.execute(
        "INSERT INTO reminders_sent (patient_id, kind, occasion, claimed_at, claimed_by)"
        " VALUES (?, 'checkin', ?, ?, 't')",
        (people.patient_a.id, "2026-11-21", "2026-11-21T20:00:00.000000Z"),
    )
    conn.close()

    response = client.get("/api/v1/me/export")

    assert response.status_code == 200
    export = response.json()
    assert export["scope"] == "everything"
    assert export["patient"]["id"] == people.patient_a.id
    discovered = tables_with_patient_id(settings)
    assert {"entries", "entry_versions", "flags", "audit_log"} <= discovered  # the discovery itself works
    expected = discovered - set(WITHHELD)
    missing = sorted(expected - set(export["tables"]))
    assert missing == [], f"tables with a patient_id column that the export forgets: {missing}"
    for table in expected:
        stored = count(settings, table, "patient_id = ?", (people.patient_a.id,))
        assert stored > 0, f"the test wrote nothing to {table}"
        assert len(export["tables"][table]) == stored, table
    exported_ids = {e["id"] for e in export["tables"]["entries"]}
    assert {ids[k] for k in ("private_checkin", "reflection", "gad7")} <= exported_ids  # private ones too
    assert len(exported_ids) == 7
    assert "canary-patient-b-3c1d" not in response.text
    assert "body_hash" not in response.text
    versions = export["tables"]["entry_versions"]
    assert [(v["entry_id"], v["body"]["note"]) for v in versions] == [(ids["shared_checkin"], "shared note")]


def test_a_table_withheld_from_the_export_says_why() -> None:
    assert all(isinstance(reason, str) and reason.strip() for reason in WITHHELD.values())


# --- CSV ---------------------------------------------------------------------------------------------------


def read_zip(content: bytes) -> dict[str, list[dict[str, str]]]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name: list(csv.DictReader(io.StringIO(archive.read(name).decode()))) for name in archive.namelist()}


def test_the_csv_export_is_a_zip_with_one_sheet_per_kind(client: Client, people: People) -> None:
    ids = write_everything(client, people)

    response = client.get("/api/v1/me/export.csv")

    assert response.status_code == 200
    sheets = read_zip(response.content)
    assert set(sheets) == CSV_FILES
    checkins = {r["id"]: r for r in sheets["checkins.csv"]}
    assert set(checkins) == {ids["private_checkin"], ids["shared_checkin"]}
    private = checkins[ids["private_checkin"]]
    assert (private["mood"], private["anxiety"], private["sleep_hours"], private["sharing"]) == (
        "3",
        "6",
        "5.5",
        "private",
    )
    assert private["tags"] == "tired;work"
    assert private["note"] == "private note"
    assert private["local_date"] == "2026-11-21"
    assert checkins[ids["shared_checkin"]]["note"] == "shared note, edited"
    reflections = sheets["reflections.csv"]
    assert [(r["id"], r["prompt_id"], r["text"]) for r in reflections] == [
        (ids["reflection"], "insight", "first answer"),
        (ids["reflection"], "action", "second answer"),
    ]
    assert reflections[0]["prompt"] == "What insight, if any, are you taking from it?"
    assert reflections[0]["kap_session_id"] == ids["session"]
    aftercare = sheets["aftercare.csv"]
    assert len(aftercare) == 1
    assert (aftercare[0]["id"], aftercare[0]["nausea"], aftercare[0]["dissociation"], aftercare[0]["headache"]) == (
        ids["aftercare"],
        "2",
        "1",
        "0",
    )
    assert aftercare[0]["note"] == "queasy"
    questionnaires = {r["id"]: r for r in sheets["questionnaires.csv"]}
    assert set(questionnaires) == {ids["phq9"], ids["gad7"], ids["ebi"]}
    phq9 = questionnaires[ids["phq9"]]
    assert (phq9["instrument"], float(phq9["score"]), phq9["severity"]) == ("phq9", 5.0, "mild")
    assert phq9["answers"] == "1 2 1 0 0 1 0 0 0 1"
    assert float(questionnaires[ids["ebi"]]["score"]) == 35.8


# --- FHIR --------------------------------------------------------------------------------------------------


def resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def codes(resource: dict[str, Any]) -> set[tuple[str, str]]:
    return {(c.get("system", ""), c.get("code", "")) for c in resource.get("code", {}).get("coding", [])}


def test_the_fhir_export_validates_and_carries_the_loinc_scores(client: Client, people: People) -> None:
    ids = write_everything(client, people)

    response = client.get("/api/v1/me/export.fhir.json")

    assert response.status_code == 200
    bundle = response.json()
    Bundle.model_validate(bundle)  # an independent validator: raises on an invalid resource
    assert bundle["resourceType"] == "Bundle"
    answered = resources(bundle, "QuestionnaireResponse")
    assert sorted(r["id"] for r in answered) == sorted([ids["phq9"], ids["gad7"], ids["ebi"]])
    observations = resources(bundle, "Observation")
    phq9_totals = [o for o in observations if (LOINC, "44261-6") in codes(o)]
    gad7_totals = [o for o in observations if (LOINC, "70274-6") in codes(o)]
    assert [o["valueInteger"] for o in phq9_totals] == [5]
    assert [o["valueInteger"] for o in gad7_totals] == [4]
    moods = [o for o in observations if any(code == "mood" for _, code in codes(o))]
    assert sorted(o["valueInteger"] for o in moods) == [3, 7]
    patients = resources(bundle, "Patient")
    assert len(patients) == 1
    subject = f"urn:uuid:{patients[0]['id']}"
    assert all(r["subject"]["reference"] == subject for r in [*answered, *observations])


# --- headers -----------------------------------------------------------------------------------------------

MEDIA_TYPES = {
    "export": "application/json",
    "export.csv": "application/zip",
    "export.fhir.json": "application/fhir+json",
}


@pytest.mark.parametrize("who", ["patient", "therapist"])
def test_exports_have_their_content_type_and_are_never_cached(who: str, client: Client, people: People) -> None:
    write_everything(client, people)
    if who == "therapist":
        client.login(people.therapist_a.email)
        base = f"/api/v1/patients/{people.patient_a.id}"
    else:
        base = "/api/v1/me"

    for name, media_type in MEDIA_TYPES.items():
        response = client.get(f"{base}/{name}")
        assert response.status_code == 200, (name, response.text[:200])
        assert response.headers["content-type"].split(";")[0].strip() == media_type, name
        assert "no-store" in response.headers["cache-control"], name
        assert response.headers["content-disposition"].startswith("attachment"), name
    Bundle.model_validate(client.get(f"{base}/export.fhir.json").json())
    if who == "therapist":
        assert client.get(f"{base}/export").json()["scope"] == "shared-with-care-team"


def test_the_care_teams_export_names_no_private_entry_even_through_a_flag(client: Client, people: People) -> None:
    client.login(people.patient_a.email)
    private_ids = []
    for _ in range(2):  # two low check-ins running raise a flag, private as they are
        private_ids.append(str(uuid.uuid4()))
        body = {"mood": 0, "sharing": "private"}
        assert client.put(f"/api/v1/checkins/{private_ids[-1]}", json=body).status_code == 201
    own_flags = client.get("/api/v1/me/export").json()["tables"]["flags"]
    assert {f["entry_id"] for f in own_flags} & set(private_ids)  # the patient sees what raised it

    client.login(people.therapist_a.email)
    export = client.get(f"/api/v1/patients/{people.patient_a.id}/export")
    assert export.status_code == 200
    team_flags = export.json()["tables"]["flags"]
    assert [f["kind"] for f in team_flags] == ["low_mood"]
    assert [f["entry_id"] for f in team_flags] == [None]
    assert not any(entry_id in export.text for entry_id in private_ids)
