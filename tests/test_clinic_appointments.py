"""Appointments and the ketamine course: a therapist creates integration appointments, intakes and ketamine
sessions for a patient, moves and cancels them (each audited); the patient sees their own upcoming ones;
the week view lists only the therapist's own patients; clinician notes per appointment.

Now is Saturday 2026-11-21 12:00 UTC; the clinic's time zone is America/New_York.
"""

from __future__ import annotations

import re
from typing import Any

from server.settings import Settings
from tests.conftest import Client, Desk, People, Person, count, query


def create(client: Client, patient: Person, starts_at: str, kind: str = "integration", **extra: Any) -> Any:
    return client.post(
        f"/api/v1/patients/{patient.id}/appointments", json={"starts_at": starts_at, "kind": kind, **extra}
    )


def created(client: Client, patient: Person, starts_at: str, kind: str = "integration", **extra: Any) -> str:
    response = create(client, patient, starts_at, kind, **extra)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def audit_of(settings: Settings, *actions: str) -> list[tuple[Any, ...]]:
    marks = ",".join("?" * len(actions))
    rows = query(
        settings,
        f"SELECT action, actor_id, actor_role, patient_id, object_type, object_id FROM audit_log"
        f" WHERE action IN ({marks}) ORDER BY id",
        actions,
    )
    return [tuple(r) for r in rows]


def error_fields(response: Any) -> list[str]:
    return [e.get("field") for e in response.json().get("errors", [])]


def test_create_an_integration_appointment_an_intake_and_a_ketamine_session(
    client: Client, people: People, settings: Settings
) -> None:
    a, therapist = people.patient_a, people.therapist_a
    client.login(therapist.email)

    integration = create(client, a, "2026-11-24T10:00:00-05:00", "integration")
    intake = create(client, a, "2026-11-23T09:30:00Z", "intake", duration_minutes=90)
    session = create(
        client,
        a,
        "2026-11-25T08:00:00-07:00",
        "kap_session",
        route="im",
        series="induction",
        dose_mg=50,
        setting="Room 2, eye mask and music",
    )

    assert integration.status_code == intake.status_code == session.status_code == 201
    assert {k: integration.json()[k] for k in ("patient_id", "kind", "starts_at", "duration_minutes", "cancelled")} == {
        "patient_id": a.id,
        "kind": "integration",
        "starts_at": "2026-11-24T15:00:00.000000Z",  # stored in UTC
        "duration_minutes": 50,
        "cancelled": False,
    }
    assert (intake.json()["kind"], intake.json()["duration_minutes"]) == ("intake", 90)
    s = session.json()
    assert (s["kind"], s["starts_at"], s["route"], s["series"], s["dose_mg"], s["number"]) == (
        "kap_session",
        "2026-11-25T15:00:00.000000Z",
        "im",
        "induction",
        50.0,
        1,
    )

    rows = query(settings, "SELECT id, patient_id, therapist_id, created_by, kind, starts_at FROM appointments")
    assert sorted(tuple(r) for r in rows) == sorted(
        [
            (integration.json()["id"], a.id, therapist.id, therapist.id, "integration", "2026-11-24T15:00:00.000000Z"),
            (intake.json()["id"], a.id, therapist.id, therapist.id, "intake", "2026-11-23T09:30:00.000000Z"),
        ]
    )
    sessions = query(
        settings, "SELECT id, patient_id, scheduled_for, route, series, dose_mg, setting FROM kap_sessions"
    )
    assert [tuple(r) for r in sessions] == [
        (s["id"], a.id, "2026-11-25T15:00:00.000000Z", "im", "induction", 50.0, "Room 2, eye mask and music")
    ]
    assert audit_of(settings, "appointment.created", "kap_session.created") == [
        ("appointment.created", therapist.id, "therapist", a.id, "appointment", integration.json()["id"]),
        ("appointment.created", therapist.id, "therapist", a.id, "appointment", intake.json()["id"]),
        ("kap_session.created", therapist.id, "therapist", a.id, "kap_session", s["id"]),
    ]

    listing = client.get(f"/api/v1/patients/{a.id}/appointments").json()["items"]
    assert [(e["id"], e["kind"]) for e in listing] == [
        (intake.json()["id"], "intake"),
        (integration.json()["id"], "integration"),
        (s["id"], "kap_session"),
    ]


def test_a_bad_appointment_is_refused_naming_the_field_and_writes_nothing(
    client: Client, people: People, settings: Settings
) -> None:
    client.login(people.therapist_a.email)
    a = people.patient_a

    no_route = create(client, a, "2026-11-25T15:00:00Z", "kap_session", series="induction")
    assert no_route.status_code == 422, no_route.text
    assert error_fields(no_route) == ["route"]
    assert "route" in no_route.json()["detail"]
    no_series = create(client, a, "2026-11-25T15:00:00Z", "kap_session", route="iv")
    assert no_series.status_code == 422
    assert error_fields(no_series) == ["series"]
    naive = create(client, a, "2026-11-25T15:00:00", "integration")
    assert naive.status_code == 422
    assert error_fields(naive) == ["starts_at"]
    assert create(client, a, "2026-11-25T15:00:00Z", "coffee").status_code in (400, 422)
    assert create(client, a, "2026-11-25T15:00:00Z", "kap_session", route="smoked", series="induction").status_code in (
        400,
        422,
    )

    assert count(settings, "appointments") == 0
    assert count(settings, "kap_sessions") == 0
    assert audit_of(settings, "appointment.created", "kap_session.created") == []


def test_move_and_cancel_appointments_and_sessions_each_audited(
    client: Client, people: People, settings: Settings
) -> None:
    a, therapist = people.patient_a, people.therapist_a
    client.login(therapist.email)
    appointment = created(client, a, "2026-11-24T15:00:00Z")
    session = created(client, a, "2026-11-25T15:00:00Z", "kap_session", route="iv", series="induction")

    moved = client.patch(f"/api/v1/appointments/{appointment}", json={"starts_at": "2026-11-26T09:00:00-05:00"})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["starts_at"], moved.json()["cancelled"]) == ("2026-11-26T14:00:00.000000Z", False)
    row = query(settings, "SELECT starts_at, cancelled_at FROM appointments WHERE id = ?", (appointment,))[0]
    assert (row["starts_at"], row["cancelled_at"]) == ("2026-11-26T14:00:00.000000Z", None)

    cancelled = client.patch(f"/api/v1/appointments/{appointment}", json={"cancelled": True})
    assert cancelled.status_code == 200
    assert cancelled.json()["cancelled"] is True
    row = query(settings, "SELECT starts_at, cancelled_at FROM appointments WHERE id = ?", (appointment,))[0]
    assert (row["starts_at"], row["cancelled_at"]) == ("2026-11-26T14:00:00.000000Z", "2026-11-21T12:00:00.000000Z")

    session_moved = client.patch(f"/api/v1/appointments/{session}", json={"starts_at": "2026-11-27T15:00:00Z"})
    assert session_moved.status_code == 200
    assert (session_moved.json()["kind"], session_moved.json()["starts_at"]) == (
        "kap_session",
        "2026-11-27T15:00:00.000000Z",
    )
    assert client.patch(f"/api/v1/appointments/{session}", json={"cancelled": True}).json()["cancelled"] is True
    row = query(settings, "SELECT scheduled_for, cancelled_at FROM kap_sessions WHERE id = ?", (session,))[0]
    assert (row["scheduled_for"], row["cancelled_at"]) == ("2026-11-27T15:00:00.000000Z", "2026-11-21T12:00:00.000000Z")

    changes = ("appointment.changed", "appointment.cancelled", "kap_session.changed", "kap_session.cancelled")
    assert audit_of(settings, *changes) == [
        ("appointment.changed", therapist.id, "therapist", a.id, "appointment", appointment),
        ("appointment.cancelled", therapist.id, "therapist", a.id, "appointment", appointment),
        ("kap_session.changed", therapist.id, "therapist", a.id, "kap_session", session),
        ("kap_session.cancelled", therapist.id, "therapist", a.id, "kap_session", session),
    ]
    assert client.patch("/api/v1/appointments/no-such-appointment", json={"cancelled": True}).status_code == 404
    naive = client.patch(f"/api/v1/appointments/{appointment}", json={"starts_at": "2026-11-28T09:00:00"})
    assert naive.status_code == 422 and error_fields(naive) == ["starts_at"]


def test_the_patient_sees_their_own_upcoming_appointments_and_never_another_patients(
    client: Client, people: People
) -> None:
    desk = Desk(client)
    desk(people.therapist_a)
    a = people.patient_a
    created(client, a, "2026-11-20T15:00:00Z")  # past
    upcoming = created(client, a, "2026-11-24T15:00:00Z")
    cancelled = created(client, a, "2026-11-23T15:00:00Z", "intake")
    assert client.patch(f"/api/v1/appointments/{cancelled}", json={"cancelled": True}).status_code == 200
    session = created(client, a, "2026-11-22T15:00:00Z", "kap_session", route="sublingual", series="booster")
    desk(people.therapist_b)
    other = created(client, people.patient_b, "2026-11-22T16:00:00Z")

    desk(a)
    mine = client.get("/api/v1/appointments")
    assert mine.status_code == 200
    assert [(e["id"], e["kind"], e["patient_id"]) for e in mine.json()["items"]] == [
        (session, "kap_session", a.id),
        (upcoming, "integration", a.id),
    ]
    assert other not in mine.text and people.patient_b.name not in mine.text
    assert client.get("/api/v1/kap-sessions").json()["items"][0]["id"] == session

    desk(people.patient_b)
    assert [e["id"] for e in client.get("/api/v1/appointments").json()["items"]] == [other]


def test_the_week_view_lists_only_the_therapists_own_patients(client: Client, people: People) -> None:
    desk = Desk(client)
    desk(people.therapist_a)
    a = people.patient_a
    monday = created(client, a, "2026-11-23T14:00:00Z")
    sunday_night = created(client, a, "2026-11-30T04:30:00Z")  # 23:30 on Sunday the 29th in New York
    created(client, a, "2026-11-30T15:00:00Z")  # the next Monday: another week
    session = created(client, a, "2026-11-25T15:00:00Z", "kap_session", route="im", series="induction")
    desk(people.therapist_b)
    other = created(client, people.patient_b, "2026-11-24T15:00:00Z")

    desk(people.therapist_a)
    week = client.get("/api/v1/appointments", params={"start": "2026-11-23"})
    assert week.status_code == 200, week.text
    assert [(e["id"], e["patient_name"]) for e in week.json()["items"]] == [
        (monday, "Pat A"),
        (session, "Pat A"),
        (sunday_night, "Pat A"),
    ]
    page = client.get("/clinic/week", params={"start": "2026-11-23"})
    assert page.status_code == 200
    assert "Pat A" in page.text and "Pam B" not in page.text
    assert page.text.count(f'href="/clinic/patients/{a.id}"') == 3

    desk(people.therapist_b)
    assert [e["id"] for e in client.get("/api/v1/appointments?start=2026-11-23").json()["items"]] == [other]
    assert "Pat A" not in client.get("/clinic/week?start=2026-11-23").text


def test_clinician_notes_are_kept_per_appointment_and_audited(
    client: Client, people: People, settings: Settings
) -> None:
    a, therapist = people.patient_a, people.therapist_a
    client.login(therapist.email)
    appointment = created(client, a, "2026-11-20T15:00:00Z")
    session = created(client, a, "2026-11-19T15:00:00Z", "kap_session", route="iv", series="induction")

    note = client.post(f"/api/v1/appointments/{appointment}/notes", json={"body": "Discussed the <river> image."})
    assert note.status_code == 201, note.text
    assert (note.json()["appointment_id"], note.json()["body"], note.json()["author"]) == (
        appointment,
        "Discussed the <river> image.",
        "Theo A",
    )
    rows = query(settings, "SELECT id, patient_id, appointment_id, author_id, body FROM clinician_notes")
    assert [tuple(r) for r in rows] == [
        (note.json()["id"], a.id, appointment, therapist.id, "Discussed the <river> image.")
    ]
    assert count(settings, "entries") == 0  # kept apart from anything the patient wrote

    listing = client.get(f"/api/v1/appointments/{appointment}/notes")
    assert listing.status_code == 200
    assert [n["id"] for n in listing.json()["items"]] == [note.json()["id"]]
    page = client.get(f"/clinic/appointments/{appointment}")
    assert page.status_code == 200
    assert "Discussed the &lt;river&gt; image." in page.text

    form = client.post(
        f"/clinic/appointments/{appointment}/notes", data={"body": "Second note"}, follow_redirects=False
    )
    assert form.status_code in (302, 303)
    assert [n["body"] for n in client.get(f"/api/v1/appointments/{appointment}/notes").json()["items"]] == [
        "Discussed the <river> image.",
        "Second note",
    ]
    blank = client.post(f"/api/v1/appointments/{appointment}/notes", json={"body": "   "})
    assert blank.status_code == 422 and error_fields(blank) == ["body"]
    assert client.post(f"/api/v1/appointments/{session}/notes", json={"body": "x"}).status_code == 404
    assert count(settings, "clinician_notes") == 2

    created_rows = audit_of(settings, "clinician_note.created")
    assert [(r[1], r[3], r[4]) for r in created_rows] == [(therapist.id, a.id, "clinician_note")] * 2
    viewed = audit_of(settings, "clinician_notes.viewed")
    assert viewed == [("clinician_notes.viewed", therapist.id, "therapist", a.id, "appointment", appointment)] * 3


def test_scheduling_from_the_brief_page_reads_the_time_in_the_patients_zone(
    client: Client, people: People, settings: Settings
) -> None:
    a = people.patient_a
    client.login(a.email)
    assert client.put("/api/v1/me/settings", json={"timezone": "America/Denver"}).status_code == 200
    client.login(people.therapist_a.email)
    page = client.get(f"/clinic/patients/{a.id}")
    assert "When (patient's time, America/Denver)" in page.text

    posted = client.post(
        f"/clinic/patients/{a.id}/appointments",
        data={
            "kind": "kap_session",
            "starts_at": "2026-11-24T09:00",
            "route": "iv",
            "series": "induction",
            "dose_mg": "35",
            "setting": "",
        },
        follow_redirects=False,
    )
    assert posted.status_code in (302, 303), posted.text
    rows = query(settings, "SELECT scheduled_for, route, dose_mg FROM kap_sessions WHERE patient_id = ?", (a.id,))
    assert [tuple(r) for r in rows] == [("2026-11-24T16:00:00.000000Z", "iv", 35.0)]  # 09:00 in Denver

    event = client.get(f"/api/v1/patients/{a.id}/appointments").json()["items"][0]["id"]
    moved = client.post(
        f"/clinic/appointments/{event}/change",
        data={"starts_at": "2026-11-25T10:00", "back": f"/clinic/patients/{a.id}"},
        follow_redirects=False,
    )
    assert moved.status_code in (302, 303)
    assert re.search(r"/clinic/patients/[^?]+\?saved=appointment$", moved.headers["location"])
    assert (
        query(settings, "SELECT scheduled_for FROM kap_sessions")[0]["scheduled_for"] == "2026-11-25T17:00:00.000000Z"
    )


def test_a_session_has_the_same_number_in_every_list_a_cancelled_one_before_it_included(
    client: Client, people: People
) -> None:
    a = people.patient_a
    client.login(people.therapist_a.email)
    dropped = created(client, a, "2026-11-24T15:00:00Z", "kap_session", route="im", series="induction")
    assert client.patch(f"/api/v1/appointments/{dropped}", json={"cancelled": True}).status_code == 200
    first = created(client, a, "2026-11-25T15:00:00Z", "kap_session", route="im", series="induction")
    second = created(client, a, "2026-11-27T15:00:00Z", "kap_session", route="im", series="induction")

    def numbers(items: list[dict[str, Any]]) -> dict[str, int]:
        return {item["id"]: item["number"] for item in items if item["id"] in (dropped, first, second)}

    sessions = numbers(client.get(f"/api/v1/patients/{a.id}/kap-sessions").json()["items"])
    events = numbers(client.get(f"/api/v1/patients/{a.id}/appointments").json()["items"])
    week = numbers(client.get("/api/v1/appointments", params={"start": "2026-11-23"}).json()["items"])
    assert sessions[first] == 1 and sessions[second] == 2
    assert sessions == events == week
