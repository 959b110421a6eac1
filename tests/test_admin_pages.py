"""The HTML pages of each role, lightly: each renders for its role and shows only what that role may see."""

from __future__ import annotations

from server.settings import Settings
from tests.conftest import PASSWORD, Client, People, query


def test_the_admin_page_lists_the_clinics_people(client: Client, people: People) -> None:
    client.login(people.admin.email)

    response = client.get("/admin")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    for person in (people.therapist_a, people.therapist_b, people.patient_a, people.patient_b):
        assert person.name in response.text
        assert person.email in response.text
    assert f'href="/admin/patients/{people.patient_a.id}"' in response.text


def test_the_clinic_page_shows_only_the_therapists_own_patients(
    client: Client, people: People, settings: Settings
) -> None:
    client.login(people.therapist_a.email)

    response = client.get("/clinic")

    assert response.status_code == 200
    assert people.patient_a.name in response.text
    assert people.patient_b.name not in response.text
    assert people.patient_b.email not in response.text
    viewed = query(settings, "SELECT actor_id FROM audit_log WHERE action = 'caseload.viewed'")
    assert [row["actor_id"] for row in viewed] == [people.therapist_a.id]


def test_the_patient_home_page_renders(client: Client, people: People) -> None:
    client.login(people.patient_a.email)

    response = client.get("/home")

    assert response.status_code == 200
    assert f"Hello, {people.patient_a.name}" in response.text
    assert 'href="/help"' in response.text


def test_the_help_page_works_signed_out_and_lists_988(client: Client, people: People) -> None:
    response = client.get("/help", follow_redirects=False)

    assert response.status_code == 200
    assert 'href="tel:988"' in response.text
    assert 'href="sms:988"' in response.text
    assert 'href="tel:911"' in response.text


def test_an_anonymous_visit_to_a_page_redirects_to_sign_in(client: Client, people: People) -> None:
    response = client.get("/clinic", follow_redirects=False)

    assert response.status_code in {302, 303}
    assert response.headers["location"] == "/login?next=/clinic"


def test_a_page_for_another_role_is_refused(client: Client, people: People) -> None:
    client.login(people.patient_a.email)

    for path in ("/clinic", "/admin", "/admin/audit"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 403, path
        assert "<h1>Not allowed</h1>" in response.text
        assert people.patient_b.name not in response.text


def test_signing_in_from_the_redirect_returns_to_the_page_asked_for(client: Client, people: People) -> None:
    client.get("/login?next=/clinic")

    response = client.post(
        "/login",
        data={"email": people.therapist_a.email, "password": PASSWORD, "next": "/clinic"},
        follow_redirects=False,
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/clinic"


def test_the_next_parameter_cannot_send_anyone_off_site(client: Client, people: People) -> None:
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example", " //evil.example"):
        client.cookies.clear()
        response = client.post(
            "/login",
            data={"email": people.therapist_a.email, "password": PASSWORD, "next": target},
            follow_redirects=False,
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/clinic", target


def test_control_characters_in_next_cannot_make_a_protocol_relative_redirect(client: Client, people: People) -> None:
    # Browsers drop tabs and newlines from URLs, so a raw "/\t/evil.example" would become "//evil.example".
    for target in ("/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example"):
        client.cookies.clear()
        response = client.post(
            "/login",
            data={"email": people.therapist_a.email, "password": PASSWORD, "next": target},
            follow_redirects=False,
        )
        location = response.headers["location"]
        assert response.status_code == 303
        assert location.startswith("/"), location
        assert not "".join(ch for ch in location if ch not in "\t\r\n").startswith("//"), location
