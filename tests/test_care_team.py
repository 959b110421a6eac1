"""Care teams decide who sees a patient: outside the team a patient does not exist (404, never 403)."""

from __future__ import annotations

import uuid

from server.settings import Settings
from tests.conftest import Client, People, count, query


def care_team_url(patient_id: str, therapist_id: str) -> str:
    return f"/api/v1/admin/patients/{patient_id}/care-team/{therapist_id}"


def team_of(settings: Settings, patient_id: str) -> list[str]:
    rows = query(
        settings, "SELECT therapist_id FROM care_team WHERE patient_id = ? ORDER BY therapist_id", (patient_id,)
    )
    return [row["therapist_id"] for row in rows]


def test_a_therapist_sees_their_own_patient(client: Client, people: People) -> None:
    client.login(people.therapist_a.email)

    response = client.get(f"/api/v1/patients/{people.patient_a.id}")

    assert response.status_code == 200
    assert response.json() == {
        "id": people.patient_a.id,
        "display_name": people.patient_a.name,
        "email": people.patient_a.email,
        "timezone": "UTC",
        "disabled": False,
    }


def test_another_teams_patient_is_404_not_403(client: Client, people: People) -> None:
    client.login(people.therapist_a.email)

    response = client.get(f"/api/v1/patients/{people.patient_b.id}")

    assert response.status_code == 404
    assert people.patient_b.name not in response.text
    assert people.patient_b.email not in response.text


def test_an_out_of_team_patient_looks_exactly_like_a_nonexistent_one(client: Client, people: People) -> None:
    client.login(people.therapist_a.email)

    other_team = client.get(f"/api/v1/patients/{people.patient_b.id}")
    nobody = client.get(f"/api/v1/patients/{uuid.uuid4()}")
    a_therapist = client.get(f"/api/v1/patients/{people.therapist_b.id}")

    assert other_team.status_code == nobody.status_code == a_therapist.status_code == 404
    assert other_team.content == nobody.content == a_therapist.content
    assert other_team.json() == {"status_code": 404, "detail": "No such patient.", "errors": []}


def test_the_patient_list_holds_only_the_therapists_own_patients(client: Client, people: People) -> None:
    client.login(people.therapist_a.email)

    response = client.get("/api/v1/patients")

    assert response.status_code == 200
    assert [p["id"] for p in response.json()["items"]] == [people.patient_a.id]


def test_a_patient_cannot_list_or_read_patients(client: Client, people: People) -> None:
    client.login(people.patient_a.email)

    assert client.get("/api/v1/patients").status_code == 403
    assert client.get(f"/api/v1/patients/{people.patient_a.id}").status_code == 403


def test_an_admin_cannot_read_a_patient_through_the_clinical_api(client: Client, people: People) -> None:
    client.login(people.admin.email)

    assert client.get(f"/api/v1/patients/{people.patient_a.id}").status_code == 403


def test_an_admin_adds_a_therapist_to_a_care_team_and_they_gain_access(
    client: Client, people: People, settings: Settings
) -> None:
    client.login(people.admin.email)

    response = client.put(care_team_url(people.patient_a.id, people.therapist_b.id))

    assert response.status_code == 204
    assert team_of(settings, people.patient_a.id) == sorted([people.therapist_a.id, people.therapist_b.id])
    added_by = query(
        settings,
        "SELECT added_by FROM care_team WHERE patient_id = ? AND therapist_id = ?",
        (people.patient_a.id, people.therapist_b.id),
    )
    assert added_by[0]["added_by"] == people.admin.id
    client.login(people.therapist_b.email)
    assert client.get(f"/api/v1/patients/{people.patient_a.id}").status_code == 200
    assert sorted(p["id"] for p in client.get("/api/v1/patients").json()["items"]) == sorted(
        [people.patient_a.id, people.patient_b.id]
    )


def test_adding_the_same_therapist_twice_changes_nothing(client: Client, people: People, settings: Settings) -> None:
    client.login(people.admin.email)

    response = client.put(care_team_url(people.patient_a.id, people.therapist_a.id))

    assert response.status_code == 204
    assert team_of(settings, people.patient_a.id) == [people.therapist_a.id]
    assert "care_team.added" not in [r["action"] for r in query(settings, "SELECT action FROM audit_log")]


def test_removing_a_therapist_from_the_care_team_takes_access_away(
    client: Client, people: People, settings: Settings
) -> None:
    client.login(people.admin.email)
    assert client.put(care_team_url(people.patient_a.id, people.therapist_b.id)).status_code == 204

    response = client.delete(care_team_url(people.patient_a.id, people.therapist_b.id))

    assert response.status_code == 204
    assert team_of(settings, people.patient_a.id) == [people.therapist_a.id]
    client.login(people.therapist_b.email)
    assert client.get(f"/api/v1/patients/{people.patient_a.id}").status_code == 404
    assert [p["id"] for p in client.get("/api/v1/patients").json()["items"]] == [people.patient_b.id]


def test_removing_someone_not_on_the_team_is_404(client: Client, people: People, settings: Settings) -> None:
    client.login(people.admin.email)

    response = client.delete(care_team_url(people.patient_a.id, people.therapist_b.id))

    assert response.status_code == 404
    assert team_of(settings, people.patient_a.id) == [people.therapist_a.id]


def test_only_a_therapist_can_join_a_care_team(client: Client, people: People, settings: Settings) -> None:
    client.login(people.admin.email)

    not_a_therapist = client.put(care_team_url(people.patient_a.id, people.patient_b.id))
    not_a_patient = client.put(care_team_url(people.therapist_a.id, people.therapist_b.id))

    assert not_a_therapist.status_code == 404
    assert not_a_patient.status_code == 404
    assert count(settings, "care_team") == 2


def test_a_therapist_cannot_use_admin_routes(client: Client, people: People, settings: Settings) -> None:
    client.login(people.therapist_b.email)

    assert client.get("/api/v1/admin/users").status_code == 403
    assert client.get("/api/v1/admin/audit").status_code == 403
    assert client.put(care_team_url(people.patient_a.id, people.therapist_b.id)).status_code == 403
    assert client.delete(care_team_url(people.patient_a.id, people.therapist_a.id)).status_code == 403
    assert client.post(f"/api/v1/admin/users/{people.patient_a.id}/disable").status_code == 403
    assert team_of(settings, people.patient_a.id) == [people.therapist_a.id]
    assert (
        query(settings, "SELECT disabled_at FROM users WHERE id = ?", (people.patient_a.id,))[0]["disabled_at"] is None
    )
