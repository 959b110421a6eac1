"""Clinic settings: name, the crisis lines patients see, the missed-check-in threshold and the
questionnaire schedule defaults. Every change audited by field name; a refused change changes nothing."""

from __future__ import annotations

import json
from typing import Any

from server.clock import iso
from server.db import connect_sync
from server.settings import Settings
from tests.conftest import Client, FrozenClock, People, query
from tests.test_admin_support import add_clinic, audit_count, rows

URL = "/api/v1/admin/clinic"
ON_CALL = {"label": "Afterglow on-call therapist", "number": "+1 (555) 010-0199", "kind": "call"}
CRISIS_TEXT = {"label": "Crisis Text Line", "number": "741741", "kind": "text"}
LIFELINE = {"label": "988 Suicide & Crisis Lifeline (call or text)", "number": "988", "kind": "call_or_text"}


def settings_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Test Clinic",
        "crisis_lines": [LIFELINE, {"label": "Emergency services", "number": "911", "kind": "call"}],
        "missed_checkin_days": 3,
        "schedule_defaults": {
            "induction_interval_days": 7,
            "maintenance_interval_days": 14,
            "at_booster": True,
            "ebi_after_session": True,
            "window_days": 3,
        },
        "mfa_required_for_clinicians": False,
    }
    body.update(changes)
    return body


def clinic_row(settings: Settings) -> list[tuple[Any, ...]]:
    return rows(settings, "SELECT * FROM clinics ORDER BY id")


def test_an_admin_changes_the_settings_and_patients_see_the_new_crisis_lines(
    client: Client, people: People, settings: Settings, clock: FrozenClock
) -> None:
    other = add_clinic(settings, clock)
    client.login(people.admin.email)
    assert client.get(URL).json() == {"id": 1, **settings_body()}

    new = settings_body(
        name="Harbor Integration Clinic", crisis_lines=[ON_CALL, LIFELINE, CRISIS_TEXT], missed_checkin_days=5
    )
    saved = client.put(URL, json=new)

    assert saved.status_code == 200, saved.text
    assert saved.json() == {"id": 1, **new}
    assert client.get(URL).json() == saved.json()
    stored = query(settings, "SELECT name, crisis_lines, missed_checkin_days FROM clinics WHERE id = 1")[0]
    assert (stored["name"], json.loads(stored["crisis_lines"]), stored["missed_checkin_days"]) == (
        "Harbor Integration Clinic",
        [ON_CALL, LIFELINE, CRISIS_TEXT],
        5,
    )
    audit = query(settings, "SELECT * FROM audit_log WHERE action = 'clinic.settings_changed'")
    assert [(r["actor_id"], r["object_id"], json.loads(r["detail"])) for r in audit] == [
        (people.admin.id, "1", {"changed": ["name", "crisis_lines", "missed_checkin_days"]})
    ]
    # Saving the same settings again is no change, and no audit row.
    assert client.put(URL, json=new).status_code == 200
    assert audit_count(settings, "clinic.settings_changed") == 1

    client.cookies.clear()
    help_page = client.get("/help").text
    assert 'href="tel:+15550100199"' in help_page
    assert "Afterglow on-call therapist" in help_page
    assert 'href="sms:988"' in help_page
    assert 'href="tel:911"' not in help_page

    # The other clinic's admin reads and changes only their own clinic.
    client.login(other.admin.email)
    assert client.get(URL).json()["name"] == "Other Clinic"
    assert client.put(URL, json=settings_body(name="Other, renamed")).status_code == 200
    assert [r[0] for r in rows(settings, "SELECT name FROM clinics ORDER BY id")] == [
        "Harbor Integration Clinic",
        "Other, renamed",
    ]


def test_a_refused_settings_change_changes_nothing(client: Client, people: People, settings: Settings) -> None:
    client.login(people.admin.email)
    before, audited = clinic_row(settings), audit_count(settings)
    line = {"label": "Line", "number": "555 0100", "kind": "call"}
    refused = {
        "no crisis line": settings_body(crisis_lines=[]),
        "nine crisis lines": settings_body(crisis_lines=[line] * 9),
        "a kind that is not one": settings_body(crisis_lines=[{**line, "kind": "fax"}]),
        "letters in a number": settings_body(crisis_lines=[{**line, "number": "call 988"}]),
        "one digit": settings_body(crisis_lines=[{**line, "number": "9-"}]),
        "sixteen digits": settings_body(crisis_lines=[{**line, "number": "1234567890123456"}]),
        "a blank label": settings_body(crisis_lines=[{**line, "label": "   "}]),
        "a blank name": settings_body(name="  "),
        "a name too long": settings_body(name="x" * 201),
        "zero days": settings_body(missed_checkin_days=0),
        "sixty-one days": settings_body(missed_checkin_days=61),
        "a window too long": settings_body(schedule_defaults={"window_days": 15}),
        "an unknown field": settings_body(theme="dark"),
        "an unknown line field": settings_body(crisis_lines=[{**line, "hours": "24/7"}]),
        "a missing field": {k: v for k, v in settings_body().items() if k != "crisis_lines"},
    }
    for why, body in refused.items():
        response = client.put(URL, json=body)
        assert response.status_code in (400, 422), (why, response.text)
        assert response.json()["errors"], why

    blank = client.put(URL, json=settings_body(name=" ", crisis_lines=[{**line, "label": " ", "number": "1-"}]))
    assert blank.status_code == 422
    assert [e["field"] for e in blank.json()["errors"]] == ["name", "crisis_lines[0].label", "crisis_lines[0].number"]
    assert clinic_row(settings) == before
    assert audit_count(settings) == audited


def clinic_form(**changes: str | None) -> dict[str, str]:
    """The form as a browser posts it; a change to None leaves the field out (an unticked box)."""
    form = {
        "name": "Test Clinic",
        "line0_label": "988 Suicide & Crisis Lifeline (call or text)",
        "line0_number": "988",
        "line0_kind": "call_or_text",
        "line1_label": "",
        "line1_number": "",
        "line1_kind": "call",
        "missed_checkin_days": "3",
        "induction_interval_days": "7",
        "maintenance_interval_days": "14",
        "window_days": "3",
        "at_booster": "on",
        "ebi_after_session": "on",
    }
    form.update(changes)
    return {name: value for name, value in form.items() if value is not None}


def test_the_settings_form_keeps_what_was_typed_when_it_refuses(
    client: Client, people: People, settings: Settings
) -> None:
    client.login(people.admin.email)
    page = client.get("/admin/clinic").text
    assert 'value="Test Clinic"' in page and 'value="911"' in page
    before = clinic_row(settings)

    refused = client.post(
        "/admin/clinic",
        data=clinic_form(name="Harbor Clinic", line1_label="On-call", line1_number="ask reception", window_days="30"),
    )

    assert refused.status_code == 422
    assert "Nothing was saved" in refused.text
    assert "Crisis line 2: enter a phone number" in refused.text
    assert "Questionnaires stay open: enter a whole number of days from 1 to 14." in refused.text
    for typed in ('value="Harbor Clinic"', 'value="On-call"', 'value="ask reception"', 'value="30"'):
        assert typed in refused.text, typed
    assert 'aria-invalid="true"' in refused.text
    assert clinic_row(settings) == before

    saved = client.post(
        "/admin/clinic",
        data=clinic_form(name="Harbor Clinic", line1_label="On-call", line1_number="555 0100", at_booster=None),
        follow_redirects=False,
    )

    assert saved.status_code == 303
    assert saved.headers["location"] == "/admin/clinic?saved=1"
    assert "Settings saved." in client.get(saved.headers["location"]).text
    stored = client.get(URL).json()
    assert stored["name"] == "Harbor Clinic"
    assert stored["crisis_lines"] == [LIFELINE, {"label": "On-call", "number": "555 0100", "kind": "call"}]
    assert stored["schedule_defaults"]["at_booster"] is False
    assert stored["schedule_defaults"]["ebi_after_session"] is True


def add_session(settings: Settings, patient_id: str, when: str, now: str) -> None:
    conn = connect_sync(settings.database_path)
    try:
        conn.execute(
            "INSERT INTO kap_sessions (id, patient_id, scheduled_for, route, series, created_at, updated_at)"
            " VALUES (?, ?, ?, 'im', 'induction', ?, ?)",
            (f"session-{patient_id}", patient_id, when, now, now),
        )
    finally:
        conn.close()


def due_instruments(client: Client) -> set[str]:
    response = client.get("/api/v1/questionnaires/due")
    assert response.status_code == 200, response.text
    return {item["instrument"] for item in response.json()["items"]}


def test_the_clinics_schedule_defaults_apply_to_patients_without_their_own(
    client: Client, people: People, settings: Settings, clock: FrozenClock
) -> None:
    now = iso(clock.now())
    for patient in (people.patient_a, people.patient_b):
        add_session(settings, patient.id, "2026-11-20T16:00:00.000000Z", now)  # yesterday: the EBI is due today
    conn = connect_sync(settings.database_path)
    try:  # patient B's therapist set B's own schedule, which keeps the EBI
        conn.execute(
            "INSERT INTO questionnaire_schedules (patient_id, updated_at) VALUES (?, ?)", (people.patient_b.id, now)
        )
    finally:
        conn.close()
    client.login(people.patient_a.email)
    assert "ebi" in due_instruments(client)

    client.login(people.admin.email)
    defaults = {"ebi_after_session": False, "window_days": 5}
    assert client.put(URL, json=settings_body(schedule_defaults=defaults)).status_code == 200

    stored = json.loads(query(settings, "SELECT schedule_defaults FROM clinics WHERE id = 1")[0][0])
    assert stored["ebi_after_session"] is False
    client.login(people.patient_a.email)
    assert "ebi" not in due_instruments(client)
    client.login(people.patient_b.email)
    assert "ebi" in due_instruments(client)
