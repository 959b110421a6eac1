"""Erasing a patient: every row of theirs goes, the words are gone from the database files, and the
audit trail keeps only that it happened."""

from __future__ import annotations

import uuid

from server.db import connect_sync
from server.security.audit import verify_chain
from server.settings import Settings
from tests.conftest import Client, People, query

CANARY = "zqxcanary"  # unlikely anywhere else; each place gets its own numbered copy


def canaries(n: int) -> list[str]:
    return [f"{CANARY}{i:02d}word" for i in range(n)]


def plant_everything(client: Client, people: People) -> list[str]:
    """A canary in every kind of entry and every place text of patient A is kept."""
    words = canaries(12)
    client.login(people.therapist_a.email)
    session = client.post(
        f"/api/v1/patients/{people.patient_a.id}/kap-sessions",
        json={"scheduled_for": "2026-11-20T09:00:00-07:00", "route": "iv", "series": "induction", "setting": words[0]},
    ).json()["id"]
    appointment = client.post(
        f"/api/v1/patients/{people.patient_a.id}/appointments",
        json={"starts_at": "2026-11-25T15:00:00+00:00", "kind": "integration"},
    ).json()["id"]
    assert client.post(f"/api/v1/appointments/{appointment}/notes", json={"body": words[1]}).status_code == 201
    client.login(people.patient_a.email)

    def put(kind: str, body: dict[str, object], entry_id: str | None = None) -> str:
        entry_id = entry_id or str(uuid.uuid4())
        assert client.put(f"/api/v1/{kind}/{entry_id}", json=body).status_code in (200, 201)
        return entry_id

    shared = put("checkins", {"mood": 5, "note": words[2], "sharing": "shared"})
    put("checkins", {"mood": 5, "note": words[3], "sharing": "shared"}, shared)  # the first note is now a version
    put("checkins", {"mood": 4, "note": words[4], "sharing": "private", "tags": [words[5]]})
    put(
        "reflections",
        {
            "kind": "integration",
            "kap_session_id": session,
            "answers": [{"prompt_id": "insight", "text": words[6]}],
            "sharing": "discuss",
        },
    )
    put("reflections", {"kind": "free", "answers": [{"prompt_id": "free", "text": words[7]}], "status": "draft"})
    put("aftercare", {"kap_session_id": session, "symptoms": {"nausea": 2}, "note": words[8], "sharing": "shared"})
    put("questionnaires", {"instrument": "phq9", "answers": [0, 0, 0, 0, 0, 0, 0, 0, 1]})
    assert client.put("/api/v1/safety-plan", json={"reason_for_living": words[9]}).status_code == 200
    assert client.put("/api/v1/safety-plan", json={"reason_for_living": words[10]}).status_code == 200
    return words[:11]


def database_bytes(settings: Settings) -> bytes:
    path = settings.database_path
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def test_erasure_removes_every_row_and_every_word(client: Client, people: People, settings: Settings) -> None:
    words = plant_everything(client, people)
    before = database_bytes(settings)
    assert all(w.encode() in before for w in words[2:]), "the canaries were planted"
    client.login(people.admin.email)
    refused = client.post(f"/api/v1/admin/patients/{people.patient_a.id}/erase", json={"confirm_email": "wrong@x.y"})
    assert refused.status_code == 422
    assert query(settings, "SELECT count(*) AS n FROM entries")[0]["n"] > 0
    # The admin never gets the patient's private entries, not even to hand them over.
    assert client.get(f"/api/v1/admin/patients/{people.patient_a.id}/export").status_code == 404
    erased = client.post(
        f"/api/v1/admin/patients/{people.patient_a.id}/erase", json={"confirm_email": people.patient_a.email}
    )
    assert erased.status_code == 200 and erased.json()["erased_rows"] > 10

    after = database_bytes(settings)
    assert CANARY.encode() not in after
    assert people.patient_a.email.encode() not in after
    assert people.patient_a.name.encode() not in after
    wal = settings.database_path.with_name(settings.database_path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0

    for table in [r["name"] for r in query(settings, "SELECT name FROM sqlite_master WHERE type = 'table'")]:
        columns = {c["name"] for c in query(settings, f"SELECT name FROM pragma_table_info('{table}')")}
        if "patient_id" in columns and table != "audit_log":
            count = query(settings, f"SELECT count(*) AS n FROM {table} WHERE patient_id = ?", (people.patient_a.id,))
            assert count[0]["n"] == 0, table
    assert query(settings, "SELECT count(*) AS n FROM users WHERE id = ?", (people.patient_a.id,))[0]["n"] == 0
    # The search index forgot too, and is intact.
    assert query(settings, f"SELECT count(*) AS n FROM entries_fts WHERE entries_fts MATCH '{CANARY}*'")[0]["n"] == 0
    query(settings, "INSERT INTO entries_fts (entries_fts) VALUES ('integrity-check')")

    actions = [
        r["action"]
        for r in query(settings, "SELECT action FROM audit_log WHERE patient_id = ?", (people.patient_a.id,))
    ]
    assert actions[-1] == "patient.erased"
    conn = connect_sync(settings.database_path)
    assert verify_chain(conn)[1] is None
    conn.close()


def test_other_patients_are_untouched(client: Client, people: People, settings: Settings) -> None:
    client.login(people.patient_b.email)
    kept = str(uuid.uuid4())
    assert client.put(f"/api/v1/checkins/{kept}", json={"mood": 6, "note": "patient b stays"}).status_code == 201
    client.login(people.admin.email)
    client.post(f"/api/v1/admin/patients/{people.patient_a.id}/erase", json={"confirm_email": people.patient_a.email})
    client.login(people.patient_b.email)
    assert client.get(f"/api/v1/checkins/{kept}").json()["note"] == "patient b stays"


def test_only_an_admin_of_the_clinic_can_erase(client: Client, people: People, settings: Settings) -> None:
    client.login(people.therapist_a.email)
    body = {"confirm_email": people.patient_a.email}
    assert client.post(f"/api/v1/admin/patients/{people.patient_a.id}/erase", json=body).status_code == 403
    client.login(people.admin.email)
    missing = client.post(f"/api/v1/admin/patients/{uuid.uuid4()}/erase", json=body)
    assert missing.status_code == 404
    assert query(settings, "SELECT count(*) AS n FROM users WHERE id = ?", (people.patient_a.id,))[0]["n"] == 1
