"""Dates and schedules: an entry's local date is the patient's own calendar day, and questionnaires are
due in windows (baseline, after a session) that close again; the therapist adjusts the schedule."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from server.settings import Settings
from tests.conftest import Client, FrozenClock, People, count, query

# 06:30 UTC on 22 November is 23:30 on the 21st in Denver and 15:30 on the 22nd in Tokyo.
LATE_EVENING_IN_DENVER = datetime(2026, 11, 22, 6, 30, tzinfo=UTC)
INDUCTION = {"scheduled_for": "2026-11-23T16:00:00Z", "route": "im", "series": "induction", "dose_mg": 60}


def new_id() -> str:
    return str(uuid.uuid4())


def set_timezone(client: Client, timezone: str) -> None:
    response = client.put("/api/v1/me/settings", json={"timezone": timezone})
    assert response.status_code == 200, response.text
    assert response.json()["timezone"] == timezone


def local_date_of(settings: Settings, entry_id: str) -> str:
    return str(query(settings, "SELECT local_date FROM entries WHERE id = ?", (entry_id,))[0]["local_date"])


def due(client: Client) -> list[dict[str, Any]]:
    response = client.get("/api/v1/questionnaires/due")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def due_pairs(client: Client) -> set[tuple[str, str]]:
    return {(item["instrument"], item["reason"]) for item in due(client)}


# --- local dates --------------------------------------------------------------------------------------------


def test_the_local_date_is_the_patients_own_day(
    client: Client, people: People, settings: Settings, clock: FrozenClock
) -> None:
    client.login(people.patient_b.email)
    set_timezone(client, "Asia/Tokyo")
    client.login(people.patient_a.email)
    set_timezone(client, "America/Denver")
    clock.moment = LATE_EVENING_IN_DENVER

    denver_id = new_id()
    denver = client.put(f"/api/v1/checkins/{denver_id}", json={"mood": 6})
    client.login(people.patient_b.email)
    tokyo_id = new_id()
    tokyo = client.put(f"/api/v1/checkins/{tokyo_id}", json={"mood": 6})

    assert denver.status_code == 201, denver.text
    assert (denver.json()["local_date"], denver.json()["timezone"]) == ("2026-11-21", "America/Denver")
    assert local_date_of(settings, denver_id) == "2026-11-21"
    assert tokyo.status_code == 201, tokyo.text
    assert (tokyo.json()["local_date"], tokyo.json()["timezone"]) == ("2026-11-22", "Asia/Tokyo")
    assert local_date_of(settings, tokyo_id) == "2026-11-22"


def test_a_local_date_two_days_ahead_is_refused(
    client: Client, people: People, settings: Settings, clock: FrozenClock
) -> None:
    client.login(people.patient_a.email)
    set_timezone(client, "America/Denver")
    clock.moment = LATE_EVENING_IN_DENVER  # still the 21st in Denver, already the 22nd in UTC

    refused = client.put(f"/api/v1/checkins/{new_id()}", json={"mood": 6, "local_date": "2026-11-23"})

    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == ["local_date"]
    assert count(settings, "entries") == 0
    # One day ahead is tolerated: the phone's clock and ours may disagree around midnight.
    tolerated = client.put(f"/api/v1/checkins/{new_id()}", json={"mood": 6, "local_date": "2026-11-22"})
    assert tolerated.status_code == 201, tolerated.text
    assert count(settings, "entries") == 1


def test_an_unknown_time_zone_is_refused(client: Client, people: People, settings: Settings) -> None:
    client.login(people.patient_a.email)

    setting = client.put("/api/v1/me/settings", json={"timezone": "Mars/Olympus_Mons"})
    entry = client.put(f"/api/v1/checkins/{new_id()}", json={"mood": 6, "timezone": "Mars/Olympus_Mons"})

    assert setting.status_code == 422
    assert entry.status_code == 422
    assert [e["field"] for e in entry.json()["errors"]] == ["timezone"]
    assert query(settings, "SELECT timezone FROM users WHERE id = ?", (people.patient_a.id,))[0]["timezone"] == "UTC"
    assert count(settings, "entries") == 0


def test_a_replay_the_next_day_keeps_the_stored_date(
    client: Client, people: People, settings: Settings, clock: FrozenClock
) -> None:
    client.login(people.patient_a.email)  # 2026-11-21, UTC
    entry_id = new_id()
    url = f"/api/v1/checkins/{entry_id}"
    created = client.put(url, json={"mood": 5, "note": "written yesterday"})
    assert created.json()["local_date"] == "2026-11-21"

    clock.advance(days=1)
    replayed = client.put(url, json={"mood": 5, "note": "written yesterday"})
    edited = client.put(url, json={"mood": 6, "note": "written yesterday, corrected"})

    assert replayed.status_code == 200
    assert replayed.json()["local_date"] == "2026-11-21"
    assert replayed.json()["version"] == 1
    assert edited.status_code == 200
    assert (edited.json()["local_date"], edited.json()["version"]) == ("2026-11-21", 2)
    assert local_date_of(settings, entry_id) == "2026-11-21"


# --- questionnaires due -----------------------------------------------------------------------------------


def test_a_new_patient_has_the_baseline_questionnaires_due(client: Client, people: People) -> None:
    client.login(people.patient_a.email)

    baseline = due(client)

    assert {(i["instrument"], i["reason"]) for i in baseline} == {("phq9", "baseline"), ("gad7", "baseline")}
    assert {i["opens"] for i in baseline} == {"2026-11-21"}
    assert {i["name"] for i in baseline} == {"PHQ-9", "GAD-7"}

    submitted = client.put(f"/api/v1/questionnaires/{new_id()}", json={"instrument": "phq9", "answers": [0] * 9})
    assert submitted.status_code == 201

    assert due_pairs(client) == {("gad7", "baseline")}


def test_the_ebi_is_due_the_day_after_a_session_and_expires(client: Client, people: People, clock: FrozenClock) -> None:
    client.login(people.therapist_a.email)
    recorded = client.post(f"/api/v1/patients/{people.patient_a.id}/kap-sessions", json=INDUCTION)
    assert recorded.status_code == 201
    client.login(people.patient_a.email)
    clock.moment = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert "ebi" not in {i["instrument"] for i in due(client)}  # not on the day of the session itself

    clock.moment = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    ebi = [i for i in due(client) if i["instrument"] == "ebi"]
    assert [(i["reason"], i["opens"]) for i in ebi] == [("after_session", "2026-11-24")]

    clock.moment = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert "ebi" not in {i["instrument"] for i in due(client)}


def test_submitting_the_ebi_takes_it_off_the_list(client: Client, people: People, clock: FrozenClock) -> None:
    client.login(people.therapist_a.email)
    assert client.post(f"/api/v1/patients/{people.patient_a.id}/kap-sessions", json=INDUCTION).status_code == 201
    client.login(people.patient_a.email)
    clock.moment = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert ("ebi", "after_session") in due_pairs(client)

    answers = [50, 60, 70, 40, 30, 20]
    assert (
        client.put(f"/api/v1/questionnaires/{new_id()}", json={"instrument": "ebi", "answers": answers}).status_code
        == 201
    )

    assert "ebi" not in {i["instrument"] for i in due(client)}


def test_the_therapist_turns_off_the_ebi_after_sessions(
    client: Client, people: People, settings: Settings, clock: FrozenClock
) -> None:
    url = f"/api/v1/patients/{people.patient_a.id}/questionnaire-schedule"
    client.login(people.therapist_a.email)
    assert client.post(f"/api/v1/patients/{people.patient_a.id}/kap-sessions", json=INDUCTION).status_code == 201
    assert client.get(url).json()["ebi_after_session"] is True

    saved = client.put(url, json={"ebi_after_session": False})

    assert saved.status_code == 200, saved.text
    assert saved.json()["ebi_after_session"] is False
    assert client.get(url).json()["ebi_after_session"] is False
    stored = query(settings, "SELECT * FROM questionnaire_schedules WHERE patient_id = ?", (people.patient_a.id,))
    assert [(r["ebi_after_session"], r["updated_by"]) for r in stored] == [(0, people.therapist_a.id)]
    audited = query(settings, "SELECT actor_id, patient_id FROM audit_log WHERE action = 'schedule.updated'")
    assert [(r["actor_id"], r["patient_id"]) for r in audited] == [(people.therapist_a.id, people.patient_a.id)]

    client.login(people.therapist_b.email)
    assert client.get(url).status_code == 404
    assert client.put(url, json={"ebi_after_session": True}).status_code == 404
    after = query(settings, "SELECT * FROM questionnaire_schedules WHERE patient_id = ?", (people.patient_a.id,))
    assert [tuple(r) for r in after] == [tuple(r) for r in stored]

    client.login(people.patient_a.email)
    clock.moment = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert "ebi" not in {i["instrument"] for i in due(client)}


def test_reading_a_patients_questionnaire_schedule_is_audited(
    client: Client, people: People, settings: Settings
) -> None:
    client.login(people.therapist_a.email)
    reads = "actor_id = ? AND patient_id = ?"
    before = count(settings, "audit_log", reads, (people.therapist_a.id, people.patient_a.id))

    response = client.get(f"/api/v1/patients/{people.patient_a.id}/questionnaire-schedule")

    assert response.status_code == 200
    assert count(settings, "audit_log", reads, (people.therapist_a.id, people.patient_a.id)) == before + 1
