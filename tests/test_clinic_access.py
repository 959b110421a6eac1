"""Who may reach the therapist workspace: a therapist outside the care team gets 404 (never 403) on every
patient-scoped route and changes nothing; patients (and the admin) get 403 on therapist-only routes; clinician
notes never reach the patient; and every clinician read writes exactly one audit row naming the actor (and
the patient, where there is one).
"""

from __future__ import annotations

import io
import uuid
import zipfile
from typing import Any

import pytest

from server.settings import Settings
from tests.conftest import Client, Desk, People, query

NOTE = "CLINICIAN-NOTE-CANARY about the session"
# Every table this routes could write to.
TABLES = ("appointments", "kap_sessions", "clinician_notes", "entry_reviews", "flags", "entries", "audit_log")


def snapshot(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    return {t: sorted((tuple(r) for r in query(settings, f"SELECT * FROM {t}")), key=repr) for t in TABLES}


def new_audit_rows(settings: Settings, after: int) -> list[tuple[Any, ...]]:
    rows = query(
        settings, "SELECT action, actor_id, actor_role, patient_id FROM audit_log WHERE id > ? ORDER BY id", (after,)
    )
    return [tuple(r) for r in rows]


def last_audit_id(settings: Settings) -> int:
    return int(query(settings, "SELECT coalesce(max(id), 0) AS n FROM audit_log")[0]["n"])


@pytest.fixture
def world(client: Client, people: People) -> dict[str, Any]:
    """Therapist A schedules an integration appointment (with a clinician note) and a session for patient A;
    patient A shares a check-in and a PHQ-9 that raises a flag. Leaves nobody in particular signed in."""
    a = people.patient_a
    desk = Desk(client)
    desk(people.therapist_a)
    appt = client.post(
        f"/api/v1/patients/{a.id}/appointments", json={"starts_at": "2026-11-20T15:00:00Z", "kind": "integration"}
    ).json()["id"]
    session = client.post(
        f"/api/v1/patients/{a.id}/appointments",
        json={"starts_at": "2026-11-24T15:00:00Z", "kind": "kap_session", "route": "im", "series": "induction"},
    ).json()["id"]
    assert client.post(f"/api/v1/appointments/{appt}/notes", json={"body": NOTE}).status_code == 201
    desk(a)
    entry = str(uuid.uuid4())
    assert (
        client.put(
            f"/api/v1/checkins/{entry}", json={"mood": 5, "note": "the harbour", "sharing": "shared"}
        ).status_code
        == 201
    )
    phq = client.put(
        f"/api/v1/questionnaires/{uuid.uuid4()}", json={"instrument": "phq9", "answers": [1] * 9, "sharing": "shared"}
    )
    assert phq.status_code == 201
    desk(people.therapist_a)
    flag = client.get("/api/v1/flags").json()["items"][0]["id"]
    return {"desk": desk, "appt": appt, "session": session, "entry": entry, "flag": flag}


def patient_routes(patient_id: str, appt: str, session: str, flag: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Every patient-scoped route of the workspace: (method, url, request keyword arguments)."""
    p = f"/api/v1/patients/{patient_id}"
    return [
        ("GET", p, {}),
        ("GET", f"{p}/brief", {}),
        ("GET", f"{p}/brief?since=2026-11-01", {}),
        ("GET", f"{p}/entries", {}),
        ("POST", f"{p}/reviewed", {"json": {"up_to": "2026-11-21T12:00:00Z"}}),
        ("GET", f"{p}/appointments", {}),
        ("POST", f"{p}/appointments", {"json": {"starts_at": "2026-11-26T15:00:00Z", "kind": "integration"}}),
        (
            "POST",
            f"{p}/kap-sessions",
            {"json": {"scheduled_for": "2026-11-27T15:00:00Z", "route": "iv", "series": "booster"}},
        ),
        ("PATCH", f"/api/v1/appointments/{appt}", {"json": {"cancelled": True}}),
        ("PATCH", f"/api/v1/appointments/{session}", {"json": {"starts_at": "2026-11-28T15:00:00Z"}}),
        ("GET", f"/api/v1/appointments/{appt}/notes", {}),
        ("POST", f"/api/v1/appointments/{appt}/notes", {"json": {"body": "not my patient"}}),
        ("POST", f"/api/v1/flags/{flag}/acknowledge", {"json": {"note": "not my patient"}}),
        ("GET", f"/clinic/patients/{patient_id}", {}),
        ("POST", f"/clinic/patients/{patient_id}/reviewed", {"data": {"as_of": "2026-11-21T12:00:00.000000Z"}}),
        (
            "POST",
            f"/clinic/patients/{patient_id}/appointments",
            {"data": {"kind": "intake", "starts_at": "2026-11-26T09:00"}},
        ),
        ("GET", f"/clinic/appointments/{appt}", {}),
        ("POST", f"/clinic/appointments/{appt}/notes", {"data": {"body": "not my patient"}}),
        ("POST", f"/clinic/appointments/{appt}/change", {"data": {"cancel": "1"}}),
        ("POST", f"/clinic/flags/{flag}/acknowledge", {"data": {"note": "not my patient"}}),
    ]


def test_a_therapist_outside_the_care_team_gets_404_everywhere_and_changes_nothing(
    client: Client, people: People, settings: Settings, world: dict[str, Any]
) -> None:
    world["desk"](people.therapist_b)
    before = snapshot(settings)
    routes = patient_routes(people.patient_a.id, world["appt"], world["session"], world["flag"])
    unknown = patient_routes(str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4()))

    for (method, url, kwargs), (_, nowhere, _) in zip(routes, unknown, strict=True):
        response = client.request(method, url, follow_redirects=False, **kwargs)
        assert response.status_code == 404, f"{method} {url}: {response.status_code} {response.text[:200]}"
        assert "Pat A" not in response.text and NOTE not in response.text
        # The same answer as for a patient that does not exist: it never confirms that patient A is here.
        if url.startswith("/api/v1/patients/"):
            assert response.json() == client.request(method, nowhere, **kwargs).json(), url

    assert snapshot(settings) == before
    # Nor do the lists that are not scoped to one patient show patient A's data to therapist B.
    assert client.get("/api/v1/flags").json()["items"] == []
    assert client.post("/api/v1/search", json={"q": "harbour"}).json()["items"] == []
    assert client.get("/api/v1/appointments", params={"start": "2026-11-20"}).json()["items"] == []

    # Control: the same reads are there for therapist A (the 404s above are about reach, not a wrong URL).
    world["desk"](people.therapist_a)
    for method, url, _ in routes:
        if method == "GET":
            assert client.get(url).status_code == 200, url


def test_another_teams_appointment_or_flag_answers_exactly_like_one_that_does_not_exist(
    client: Client, people: People, world: dict[str, Any]
) -> None:
    world["desk"](people.therapist_b)
    routes = patient_routes(people.patient_a.id, world["appt"], world["session"], world["flag"])
    unknown = patient_routes(people.patient_a.id, str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4()))
    differing = []
    for (method, url, kwargs), (_, nowhere, _) in zip(routes, unknown, strict=True):
        if url.startswith(("/api/v1/appointments/", "/api/v1/flags/")):
            theirs, missing = client.request(method, url, **kwargs), client.request(method, nowhere, **kwargs)
            assert theirs.status_code == missing.status_code == 404
            if theirs.json() != missing.json():
                differing.append(
                    f"{method} {url.split('/')[3]}: {theirs.json()['detail']} / {missing.json()['detail']}"
                )
    assert differing == []


def test_patients_and_the_admin_get_403_on_therapist_only_routes(
    client: Client, people: People, settings: Settings, world: dict[str, Any]
) -> None:
    a = people.patient_a
    own = patient_routes(a.id, world["appt"], world["session"], world["flag"])
    lists: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/api/v1/patients", {}),
        ("GET", "/api/v1/flags", {}),
        ("POST", "/api/v1/search", {"json": {"q": "harbour"}}),
        ("GET", "/clinic", {}),
        ("GET", "/clinic?filter=flagged", {}),
        ("GET", "/clinic/flags", {}),
        ("GET", "/clinic/week", {}),
        ("POST", "/clinic/search", {"data": {"q": "harbour"}}),
    ]
    world["desk"](a)
    before = snapshot(settings)
    for method, url, kwargs in own + lists:
        response = client.request(method, url, follow_redirects=False, **kwargs)
        assert response.status_code == 403, f"patient {method} {url}: {response.status_code}"
        assert NOTE not in response.text
    assert snapshot(settings) == before

    world["desk"](people.admin)
    before = snapshot(settings)
    for method, url, kwargs in own + lists + [("GET", "/api/v1/appointments", {})]:
        response = client.request(method, url, follow_redirects=False, **kwargs)
        assert response.status_code in (403, 404), f"admin {method} {url}: {response.status_code}"
        assert NOTE not in response.text and "harbour" not in response.text
    assert snapshot(settings) == before


def test_clinician_notes_never_reach_the_patient(client: Client, people: People, world: dict[str, Any]) -> None:
    a = people.patient_a
    assert NOTE in client.get(f"/api/v1/appointments/{world['appt']}/notes").text  # the canary is real

    world["desk"](a)
    seen = []
    for url in (
        "/api/v1/me/export",
        "/api/v1/me/export.fhir.json",
        "/api/v1/appointments",
        "/api/v1/kap-sessions",
        "/api/v1/checkins",
        "/api/v1/me",
        "/home",
        "/history",
        "/sessions",
        f"/sessions/{world['session']}",
    ):
        response = client.get(url)
        assert response.status_code == 200, f"{url}: {response.status_code}"
        seen.append(response.text)
    archive = client.get("/api/v1/me/export.csv")
    assert archive.status_code == 200
    with zipfile.ZipFile(io.BytesIO(archive.content)) as z:
        assert z.namelist()
        seen += [z.read(name).decode() for name in z.namelist()]

    everything = "\n".join(seen)
    assert "the harbour" in everything  # the patient's own words are there
    assert "CLINICIAN-NOTE-CANARY" not in everything
    assert [e["id"] for e in client.get("/api/v1/appointments").json()["items"]] == [world["session"]]
    assert client.get(f"/api/v1/appointments/{world['appt']}/notes").status_code == 403


# (url, audit action, whether the row names patient A)
CLINICIAN_READS = [
    ("/api/v1/patients", "caseload.viewed", False),
    ("/clinic", "caseload.viewed", False),
    ("/clinic?filter=flagged", "caseload.viewed", False),
    ("/api/v1/patients/{patient}", "patient.viewed", True),
    ("/api/v1/patients/{patient}/brief", "brief.viewed", True),
    ("/api/v1/patients/{patient}/brief?since=2026-11-01", "brief.viewed", True),
    ("/clinic/patients/{patient}", "brief.viewed", True),
    ("/api/v1/patients/{patient}/entries", "entries.viewed", True),
    ("/api/v1/patients/{patient}/appointments", "appointments.viewed", True),
    ("/api/v1/appointments/{appt}/notes", "clinician_notes.viewed", True),
    ("/clinic/appointments/{appt}", "clinician_notes.viewed", True),
    ("/api/v1/flags", "flags.viewed", False),
    ("/clinic/flags", "flags.viewed", False),
    ("/clinic/week", "week.viewed", False),
]


def test_every_clinician_read_writes_exactly_one_audit_row(
    client: Client, people: People, settings: Settings, world: dict[str, Any]
) -> None:
    therapist, a = people.therapist_a, people.patient_a
    for template, action, names_patient in CLINICIAN_READS:
        url = template.format(patient=a.id, appt=world["appt"])
        after = last_audit_id(settings)
        response = client.get(url)
        assert response.status_code == 200, f"{url}: {response.status_code}"
        expected = (action, therapist.id, "therapist", a.id if names_patient else None)
        assert new_audit_rows(settings, after) == [expected], url


def test_a_search_writes_exactly_one_audit_row_page_or_api(
    client: Client, people: People, settings: Settings, world: dict[str, Any]
) -> None:
    for method_url, body in (
        (("POST", "/api/v1/search"), {"json": {"q": "harbour"}}),
        (("POST", "/clinic/search"), {"data": {"q": "harbour"}}),
    ):
        after = last_audit_id(settings)
        response = client.request(*method_url, **body)
        assert response.status_code == 200, f"{method_url}: {response.status_code}"
        assert new_audit_rows(settings, after) == [("search.performed", people.therapist_a.id, "therapist", None)]


def test_the_therapists_week_through_the_api_is_audited(
    client: Client, people: People, settings: Settings, world: dict[str, Any]
) -> None:
    after = last_audit_id(settings)
    response = client.get("/api/v1/appointments", params={"start": "2026-11-20"})
    assert response.status_code == 200
    assert [e["id"] for e in response.json()["items"]] == [world["appt"], world["session"]]
    assert new_audit_rows(settings, after) == [("week.viewed", people.therapist_a.id, "therapist", None)]
