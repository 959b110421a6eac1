"""Safety (PRODUCT.md section 5): PHQ-9 item 9, two low moods running and "I'm not safe" each show the
crisis card and raise one flag for the care team in the same request; the safety plan is versioned and
shared with the care team only."""

from __future__ import annotations

import json
import sqlite3
import uuid
from typing import Any

from server.settings import Settings
from tests.conftest import Client, FrozenClock, People, count, query

PHQ9_ITEM9 = [0, 0, 0, 0, 0, 0, 0, 0, 1]


def new_id() -> str:
    return str(uuid.uuid4())


def flags(settings: Settings, patient_id: str | None = None) -> list[sqlite3.Row]:
    if patient_id is None:
        return query(settings, "SELECT * FROM flags ORDER BY created_at, rowid")
    return query(settings, "SELECT * FROM flags WHERE patient_id = ? ORDER BY created_at, rowid", (patient_id,))


def assert_crisis_card(card: dict[str, Any] | None) -> None:
    assert card is not None
    assert card["message"]
    numbers = [line["number"] for line in card["lines"]]
    assert "988" in numbers
    assert "911" in numbers


def checkin(client: Client, mood: int, **extra: Any) -> Any:
    response = client.put(f"/api/v1/checkins/{new_id()}", json={"mood": mood, **extra})
    assert response.status_code == 201, response.text
    return response


# --- PHQ-9 item 9 ------------------------------------------------------------------------------------------


def test_phq9_item_9_raises_one_flag_with_the_crisis_card(
    client: Client, people: People, settings: Settings, clock: FrozenClock
) -> None:
    client.login(people.patient_a.email)
    entry_id = new_id()
    url = f"/api/v1/questionnaires/{entry_id}"
    body = {"instrument": "phq9", "answers": PHQ9_ITEM9, "sharing": "private"}

    response = client.put(url, json=body)

    assert response.status_code == 201, response.text
    result = response.json()
    assert result["safety_alert"] is True
    assert result["score"] == 1  # a total in the lowest band does not matter: item 9 alone starts the flow
    assert_crisis_card(result["crisis"])
    raised = flags(settings)
    assert len(raised) == 1
    flag = raised[0]
    assert (flag["kind"], flag["severity"], flag["entry_id"], flag["entry_kind"], flag["patient_id"]) == (
        "phq9_item9",
        "high",
        entry_id,
        "questionnaire",
        people.patient_a.id,
    )
    assert flag["acknowledged_at"] is None
    assert flag["created_at"] == result["updated_at"]  # written by the same request, not later
    flag_text = json.dumps(tuple(flag))
    assert "answers" not in flag_text
    assert json.dumps(PHQ9_ITEM9) not in flag_text
    assert "better off dead" not in flag_text  # the item's wording is not copied either
    assert count(settings, "audit_log", "action = 'flag.raised' AND object_id = ?", (flag["id"],)) == 1

    clock.advance(minutes=10)
    replayed = client.put(url, json=body)
    assert replayed.status_code == 200
    assert replayed.json()["safety_alert"] is True
    assert_crisis_card(replayed.json()["crisis"])
    assert len(flags(settings)) == 1

    # An edit that still answers item 9 does not raise a second flag either.
    edited = client.put(url, json={**body, "answers": [1, 0, 0, 0, 0, 0, 0, 0, 2]})
    assert edited.status_code == 200
    assert edited.json()["safety_alert"] is True
    assert len(flags(settings)) == 1

    # Deleting the entry does not erase the safety signal.
    assert client.delete(url).status_code == 204
    assert [f["id"] for f in flags(settings)] == [flag["id"]]


def test_phq9_without_item_9_raises_no_flag(client: Client, people: People, settings: Settings) -> None:
    client.login(people.patient_a.email)
    zeros_id = new_id()

    zeros = client.put(f"/api/v1/questionnaires/{zeros_id}", json={"instrument": "phq9", "answers": [0] * 9})
    severe = client.put(
        f"/api/v1/questionnaires/{new_id()}", json={"instrument": "phq9", "answers": [3, 3, 3, 3, 3, 3, 3, 3, 0]}
    )
    anxious = client.put(f"/api/v1/questionnaires/{new_id()}", json={"instrument": "gad7", "answers": [3] * 7})

    for response in (zeros, severe, anxious):
        assert response.status_code == 201, response.text
        assert response.json()["safety_alert"] is False
        assert response.json()["crisis"] is None
    assert severe.json()["severity"] == "severe"
    assert flags(settings) == []

    # Answering item 9 on an edit raises the flag then.
    later = client.put(f"/api/v1/questionnaires/{zeros_id}", json={"instrument": "phq9", "answers": PHQ9_ITEM9})
    assert later.status_code == 200
    assert later.json()["safety_alert"] is True
    assert [(f["kind"], f["entry_id"]) for f in flags(settings)] == [("phq9_item9", zeros_id)]


# --- two low moods running ------------------------------------------------------------------------------


def test_two_low_moods_running_raise_one_low_mood_flag(
    client: Client, people: People, settings: Settings, clock: FrozenClock
) -> None:
    client.login(people.patient_a.email)
    plan = client.put("/api/v1/safety-plan", json={"reason_for_living": "my sister's kids"})
    assert plan.status_code == 200

    first = checkin(client, 1)
    assert first.json()["safety_alert"] is False
    assert first.json()["crisis"] is None
    assert flags(settings) == []

    clock.advance(hours=3)
    second_id = new_id()
    second_body = {"mood": 0, "note": "canary-low-mood-note-7d1f"}
    second = client.put(f"/api/v1/checkins/{second_id}", json=second_body)

    assert second.status_code == 201, second.text
    assert second.json()["safety_alert"] is True
    assert_crisis_card(second.json()["crisis"])
    assert second.json()["crisis"]["safety_plan"]["reason_for_living"] == "my sister's kids"
    raised = flags(settings)
    assert [(f["kind"], f["severity"], f["entry_id"], f["entry_kind"]) for f in raised] == [
        ("low_mood", "high", second_id, "checkin")
    ]
    assert "canary-low-mood-note-7d1f" not in json.dumps(tuple(raised[0]))
    audit_details = " ".join(r["detail"] for r in query(settings, "SELECT detail FROM audit_log"))
    assert "canary-low-mood-note-7d1f" not in audit_details

    clock.advance(minutes=1)
    replay = client.put(f"/api/v1/checkins/{second_id}", json=second_body)
    assert replay.status_code == 200
    assert len(flags(settings)) == 1


def test_a_good_day_between_low_moods_raises_no_flag(
    client: Client, people: People, settings: Settings, clock: FrozenClock
) -> None:
    client.login(people.patient_a.email)
    for mood in (1, 5, 1):
        response = checkin(client, mood)
        assert response.json()["safety_alert"] is False
        assert response.json()["crisis"] is None
        clock.advance(hours=2)
    assert flags(settings) == []


def test_a_late_low_mood_dated_before_another_low_mood_raises_the_flag(
    client: Client, people: People, settings: Settings, clock: FrozenClock
) -> None:
    client.login(people.patient_a.email)  # the clock stands on 2026-11-21
    today = checkin(client, 0, local_date="2026-11-21")
    assert today.json()["safety_alert"] is False
    clock.advance(hours=1)

    # Written yesterday on the phone, sent from the outbox now.
    late = checkin(client, 1, local_date="2026-11-20")

    moods = query(
        settings,
        "SELECT mood FROM entries WHERE patient_id = ? AND kind = 'checkin' ORDER BY local_date",
        (people.patient_a.id,),
    )
    assert [r["mood"] for r in moods] == [1, 0]  # two low moods running, by the patient's own dates
    assert late.json()["safety_alert"] is True
    assert [f["kind"] for f in flags(settings)] == ["low_mood"]


def test_another_patients_low_mood_does_not_count(
    client: Client, people: People, settings: Settings, clock: FrozenClock
) -> None:
    client.login(people.patient_b.email)
    checkin(client, 0)
    clock.advance(hours=1)
    client.login(people.patient_a.email)

    response = checkin(client, 0)

    assert response.json()["safety_alert"] is False
    assert flags(settings) == []


def test_a_private_checkin_still_raises_the_flag_without_showing_the_entry(
    client: Client, people: People, settings: Settings, clock: FrozenClock
) -> None:
    client.login(people.patient_a.email)
    first_id, second_id = new_id(), new_id()
    canary = "canary-private-low-0b2e"
    body = {"mood": 1, "note": canary, "sharing": "private"}
    assert client.put(f"/api/v1/checkins/{first_id}", json=body).status_code == 201
    clock.advance(hours=1)

    second = client.put(f"/api/v1/checkins/{second_id}", json={**body, "mood": 0})

    assert second.status_code == 201
    assert second.json()["safety_alert"] is True
    assert_crisis_card(second.json()["crisis"])
    assert [(f["kind"], f["patient_id"], f["entry_id"]) for f in flags(settings)] == [
        ("low_mood", people.patient_a.id, second_id)
    ]

    client.login(people.therapist_a.email)
    entries = client.get(f"/api/v1/patients/{people.patient_a.id}/entries")
    assert entries.status_code == 200
    assert first_id not in entries.text
    assert second_id not in entries.text
    assert canary not in entries.text
    export = client.get(f"/api/v1/patients/{people.patient_a.id}/export")
    assert export.status_code == 200
    assert export.json()["tables"]["entries"] == []
    assert canary not in export.text


# --- "I'm not safe" -----------------------------------------------------------------------------------------


def test_not_safe_shows_the_crisis_card_with_the_safety_plan_and_raises_a_flag(
    client: Client, people: People, settings: Settings, clock: FrozenClock
) -> None:
    client.login(people.patient_a.email)

    before_plan = client.post("/api/v1/safety/not-safe")
    assert before_plan.status_code == 200, before_plan.text
    assert_crisis_card(before_plan.json())
    assert before_plan.json()["safety_plan"] is None
    assert [(f["kind"], f["severity"], f["entry_id"]) for f in flags(settings)] == [("not_safe", "high", None)]

    plan = {"warning_signs": "I stop answering texts", "people_to_ask": "Sam 555-0100"}
    assert client.put("/api/v1/safety-plan", json=plan).status_code == 200
    clock.advance(hours=1)

    card = client.post("/api/v1/safety/not-safe")

    assert card.status_code == 200
    assert_crisis_card(card.json())
    assert card.json()["safety_plan"]["warning_signs"] == "I stop answering texts"
    assert card.json()["safety_plan"]["people_to_ask"] == "Sam 555-0100"
    assert [f["kind"] for f in flags(settings, people.patient_a.id)] == ["not_safe", "not_safe"]
    assert count(settings, "audit_log", "action = 'flag.raised' AND patient_id = ?", (people.patient_a.id,)) == 2


# --- the safety plan ------------------------------------------------------------------------------------------


def plan_versions(settings: Settings, patient_id: str) -> list[sqlite3.Row]:
    return query(settings, "SELECT * FROM safety_plan_versions WHERE patient_id = ? ORDER BY version", (patient_id,))


def test_the_safety_plan_keeps_every_version_and_refuses_a_stale_edit(
    client: Client, people: People, settings: Settings
) -> None:
    client.login(people.patient_a.email)
    empty = client.get("/api/v1/safety-plan")
    assert empty.status_code == 200
    assert empty.json()["version"] == 0

    first = client.put("/api/v1/safety-plan", json={"warning_signs": "first draft"})
    second = client.put("/api/v1/safety-plan", json={"warning_signs": "second draft", "base_version": 1})

    assert first.status_code == 200
    assert first.json()["version"] == 1
    assert second.status_code == 200, second.text
    assert second.json()["version"] == 2
    assert second.json()["plan"]["warning_signs"] == "second draft"
    kept = plan_versions(settings, people.patient_a.id)
    assert [(v["version"], json.loads(v["body"])["warning_signs"]) for v in kept] == [
        (1, "first draft"),
        (2, "second draft"),
    ]
    current = query(settings, "SELECT * FROM safety_plans WHERE patient_id = ?", (people.patient_a.id,))
    assert [(r["version"], json.loads(r["body"])["warning_signs"]) for r in current] == [(2, "second draft")]
    before = (tuple(map(tuple, kept)), tuple(map(tuple, current)))

    stale = client.put("/api/v1/safety-plan", json={"warning_signs": "from an old tab", "base_version": 1})

    assert stale.status_code == 409, stale.text
    after_kept = plan_versions(settings, people.patient_a.id)
    after_current = query(settings, "SELECT * FROM safety_plans WHERE patient_id = ?", (people.patient_a.id,))
    assert (tuple(map(tuple, after_kept)), tuple(map(tuple, after_current))) == before
    assert client.get("/api/v1/safety-plan").json()["plan"]["warning_signs"] == "second draft"


def test_the_care_team_reads_and_edits_the_safety_plan_and_is_audited(
    client: Client, people: People, settings: Settings
) -> None:
    client.login(people.patient_a.email)
    assert client.put("/api/v1/safety-plan", json={"coping_strategies": "cold water"}).status_code == 200
    url = f"/api/v1/patients/{people.patient_a.id}/safety-plan"

    client.login(people.therapist_a.email)
    read = client.get(url)
    assert read.status_code == 200
    assert read.json()["plan"]["coping_strategies"] == "cold water"
    assert read.json()["updated_by_role"] == "patient"
    viewed = query(
        settings,
        "SELECT * FROM audit_log WHERE action = 'safety_plan.viewed' AND actor_id = ?",
        (people.therapist_a.id,),
    )
    assert [r["patient_id"] for r in viewed] == [people.patient_a.id]

    edit = client.put(url, json={"coping_strategies": "cold water, a walk", "base_version": 1})
    assert edit.status_code == 200, edit.text
    assert edit.json()["version"] == 2
    assert edit.json()["updated_by_role"] == "therapist"
    updated = query(
        settings,
        "SELECT * FROM audit_log WHERE action = 'safety_plan.updated' AND actor_id = ?",
        (people.therapist_a.id,),
    )
    assert [r["patient_id"] for r in updated] == [people.patient_a.id]
    assert plan_versions(settings, people.patient_a.id)[-1]["saved_by"] == people.therapist_a.id

    stale = client.put(url, json={"coping_strategies": "overwrite", "base_version": 1})
    assert stale.status_code == 409
    assert len(plan_versions(settings, people.patient_a.id)) == 2

    before = [tuple(r) for r in plan_versions(settings, people.patient_a.id)]
    client.login(people.therapist_b.email)
    audit_before = count(settings, "audit_log", "actor_id = ?", (people.therapist_b.id,))
    assert client.get(url).status_code == 404
    assert client.put(url, json={"coping_strategies": "not my patient"}).status_code == 404
    assert client.put(url, json={"coping_strategies": "not my patient", "base_version": 2}).status_code == 404
    assert [tuple(r) for r in plan_versions(settings, people.patient_a.id)] == before
    audited = query(
        settings,
        "SELECT action FROM audit_log WHERE actor_id = ? AND patient_id = ?",
        (people.therapist_b.id, people.patient_a.id),
    )
    assert audited == []
    assert count(settings, "audit_log", "actor_id = ?", (people.therapist_b.id,)) == audit_before
