import pytest

from tests.conftest import Client, People


@pytest.mark.production_password_hashing  # one sign-in in process with the hasher the app really uses
def test_patient_signs_in_and_sees_self(client: Client, people: People) -> None:
    client.login(people.patient_a.email)
    response = client.get("/api/v1/me")
    assert response.status_code == 200
    assert response.json()["user"]["id"] == people.patient_a.id
