"""Invitations: therapists invite patients, admins invite therapists; links work once and for 7 days."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from server.clock import iso
from server.db import connect_sync
from server.security.csrf import CSRF_COOKIE
from server.security.tokens import token_hash
from server.settings import Settings
from tests.conftest import BASE_URL, Client, FrozenClock, People, count, query

NEW_PATIENT = {"email": "river@example.test", "display_name": "River Chen"}
NEW_PASSWORD = "lantern orchard seventeen"


def invite(client: Client, who: dict[str, str] = NEW_PATIENT) -> dict[str, Any]:
    response = client.post("/api/v1/invitations", json=who)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def token_of(invitation: dict[str, Any]) -> str:
    return str(invitation["url"].rsplit("/invite/", 1)[1])


def accept(client: Client, token: str, password: str = NEW_PASSWORD, **extra: str) -> Any:
    client.cookies.clear()  # the person invited opens the link on their own device
    return client.post("/api/v1/invitations/accept", json={"token": token, "password": password, **extra})


def test_a_therapist_creates_an_invitation_link(
    client: Client, people: People, settings: Settings, clock: FrozenClock
) -> None:
    client.login(people.therapist_a.email)

    response = client.post("/api/v1/invitations", json=NEW_PATIENT)

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "url", "expires_at"}
    assert body["url"].startswith(f"{BASE_URL}/invite/")
    assert len(token_of(body)) >= 43  # 256 random bits, URL-safe
    assert body["expires_at"] == iso(clock.now() + timedelta(days=7))
    row = query(settings, "SELECT * FROM invitations WHERE id = ?", (body["id"],))[0]
    assert (row["role"], row["email"], row["display_name"], row["invited_by"]) == (
        "patient",
        NEW_PATIENT["email"],
        NEW_PATIENT["display_name"],
        people.therapist_a.id,
    )
    assert row["accepted_at"] is None


def test_the_invitation_token_is_stored_only_as_its_sha256(client: Client, people: People, settings: Settings) -> None:
    client.login(people.therapist_a.email)
    invitation = invite(client)
    token = token_of(invitation)

    row = query(settings, "SELECT * FROM invitations WHERE id = ?", (invitation["id"],))[0]

    assert row["token_hash"] == token_hash(token)
    assert all(token not in str(value) for value in tuple(row))
    assert all(token not in str(tuple(r)) for r in query(settings, "SELECT * FROM audit_log"))


def test_accepting_creates_the_patient_signs_in_and_joins_the_care_team(
    client: Client, people: People, settings: Settings
) -> None:
    client.login(people.therapist_a.email)
    token = token_of(invite(client))

    response = accept(client, token, timezone="America/Chicago")

    assert response.status_code == 201
    user = response.json()["user"]
    assert (user["role"], user["email"], user["display_name"], user["timezone"]) == (
        "patient",
        NEW_PATIENT["email"],
        NEW_PATIENT["display_name"],
        "America/Chicago",
    )
    me = client.get("/api/v1/me")
    assert me.status_code == 200
    assert me.json()["user"]["id"] == user["id"]
    team = query(settings, "SELECT therapist_id, added_by FROM care_team WHERE patient_id = ?", (user["id"],))
    assert [(r["therapist_id"], r["added_by"]) for r in team] == [(people.therapist_a.id, people.therapist_a.id)]
    row = query(settings, "SELECT accepted_at, accepted_user_id FROM invitations")[0]
    assert row["accepted_at"] is not None
    assert row["accepted_user_id"] == user["id"]


def test_an_invitation_works_only_once(client: Client, people: People, settings: Settings) -> None:
    client.login(people.therapist_a.email)
    token = token_of(invite(client))
    assert accept(client, token).status_code == 201
    users_before = count(settings, "users")

    again = accept(client, token, password="another long passphrase")

    assert again.status_code == 404
    assert count(settings, "users") == users_before
    assert count(settings, "users", "email = ?", (NEW_PATIENT["email"],)) == 1
    assert client.get(f"/invite/{token}").status_code == 404


def test_an_invitation_expires_after_seven_days(
    client: Client, people: People, settings: Settings, clock: FrozenClock
) -> None:
    client.login(people.therapist_a.email)
    token = token_of(invite(client))
    clock.advance(days=7, seconds=-1)
    assert client.get(f"/invite/{token}").status_code == 200  # still open a second before
    clock.advance(seconds=2)

    response = accept(client, token)

    assert response.status_code == 404
    assert client.get(f"/invite/{token}").status_code == 404
    assert count(settings, "users", "email = ?", (NEW_PATIENT["email"],)) == 0
    assert query(settings, "SELECT accepted_at FROM invitations")[0]["accepted_at"] is None


@pytest.mark.parametrize("weak", ["password123", "short", "1234567890"])
def test_a_weak_password_is_refused_and_the_invitation_stays_usable(
    client: Client, people: People, settings: Settings, weak: str
) -> None:
    client.login(people.therapist_a.email)
    token = token_of(invite(client))
    users_before = count(settings, "users")

    refused = accept(client, token, password=weak)

    assert refused.status_code == 422
    errors = refused.json()["errors"]
    assert errors[0]["field"] == "password"
    assert errors[0]["message"]
    assert count(settings, "users") == users_before
    assert count(settings, "sessions") == 1
    assert query(settings, "SELECT accepted_at FROM invitations")[0]["accepted_at"] is None
    assert accept(client, token).status_code == 201


def test_an_admin_invites_a_therapist(client: Client, people: People, settings: Settings) -> None:
    client.login(people.admin.email)
    token = token_of(invite(client, {"email": "new.therapist@clinic.test", "display_name": "Dr. New"}))

    response = accept(client, token)

    assert response.status_code == 201
    user = response.json()["user"]
    assert user["role"] == "therapist"
    assert query(settings, "SELECT role FROM invitations")[0]["role"] == "therapist"
    assert query(settings, "SELECT role FROM users WHERE id = ?", (user["id"],))[0]["role"] == "therapist"
    assert count(settings, "care_team", "patient_id = ? OR therapist_id = ?", (user["id"], user["id"])) == 0


def test_a_patient_cannot_invite(client: Client, people: People, settings: Settings) -> None:
    client.login(people.patient_a.email)

    response = client.post("/api/v1/invitations", json=NEW_PATIENT)

    assert response.status_code == 403
    assert count(settings, "invitations") == 0


def test_an_anonymous_caller_cannot_invite(client: Client, people: People, settings: Settings) -> None:
    response = client.post("/api/v1/invitations", json=NEW_PATIENT)

    assert response.status_code == 401
    assert count(settings, "invitations") == 0


def test_inviting_an_existing_email_is_a_conflict(client: Client, people: People, settings: Settings) -> None:
    client.login(people.therapist_a.email)

    response = client.post(
        "/api/v1/invitations", json={"email": people.patient_b.email.upper(), "display_name": "Someone"}
    )

    assert response.status_code == 409
    assert count(settings, "invitations") == 0


def test_a_new_invitation_replaces_the_open_one_for_the_same_email(client: Client, people: People) -> None:
    client.login(people.therapist_a.email)
    first = token_of(invite(client))
    second = token_of(invite(client))

    assert accept(client, first).status_code == 404
    assert accept(client, second).status_code == 201


def test_the_invitation_page_renders_and_its_form_creates_the_account(
    client: Client, people: People, settings: Settings
) -> None:
    client.login(people.therapist_a.email)
    token = token_of(invite(client))
    client.cookies.clear()

    page = client.get(f"/invite/{token}")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert NEW_PATIENT["email"] in page.text
    assert 'name="_csrf_token"' in page.text
    response = client.request(
        "POST",
        f"/invite/{token}",
        data={
            "display_name": "River C.",
            "password": NEW_PASSWORD,
            "timezone": "Europe/Berlin",
            "_csrf_token": client.cookies[CSRF_COOKIE],
        },
        csrf=False,
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/home"
    row = query(settings, "SELECT id, role, display_name, timezone FROM users WHERE email = ?", (NEW_PATIENT["email"],))
    assert [(r["role"], r["display_name"], r["timezone"]) for r in row] == [("patient", "River C.", "Europe/Berlin")]
    assert client.get("/api/v1/me").json()["user"]["id"] == row[0]["id"]


def test_the_invitation_form_with_a_weak_password_shows_the_problem(
    client: Client, people: People, settings: Settings
) -> None:
    client.login(people.therapist_a.email)
    token = token_of(invite(client))
    client.cookies.clear()

    response = client.post(f"/invite/{token}", data={"display_name": "River", "password": "short", "timezone": ""})

    assert response.status_code == 422
    assert "at least 10 characters" in response.text
    assert count(settings, "users", "email = ?", (NEW_PATIENT["email"],)) == 0


def test_accepting_after_the_email_was_taken_is_a_conflict_and_claims_nothing(
    client: Client, people: People, settings: Settings, clock: FrozenClock
) -> None:
    client.login(people.therapist_a.email)
    token = token_of(invite(client))
    conn = connect_sync(settings.database_path)
    try:  # an account for the same address appears meanwhile (say, made on the command line)
        conn.execute(
            "INSERT INTO users (id, clinic_id, role, email, display_name, password_hash, created_at, updated_at)"
            " SELECT 'someone-else', clinic_id, 'therapist', ?, 'Else', password_hash, created_at, updated_at"
            " FROM users WHERE id = ?",
            (NEW_PATIENT["email"], people.therapist_a.id),
        )
    finally:
        conn.close()
    users_before = count(settings, "users")

    response = accept(client, token)

    assert response.status_code == 409
    assert count(settings, "users") == users_before
    assert query(settings, "SELECT accepted_at, accepted_user_id FROM invitations")[0]["accepted_at"] is None
    assert count(settings, "sessions") == 1  # the therapist's only


def test_a_pending_invitation_stays_on_the_caseload_page_however_many_were_used_since(
    client: Client, people: People, settings: Settings, clock: FrozenClock
) -> None:
    client.login(people.therapist_a.email)
    waiting = client.post("/api/v1/invitations", json=NEW_PATIENT).json()["id"]
    conn = connect_sync(settings.database_path)
    with conn:  # 200 later invitations, all accepted already (the page lists what can still be withdrawn)
        conn.executemany(
            "INSERT INTO invitations (id, token_hash, clinic_id, role, email, display_name, invited_by, created_at,"
            " expires_at, accepted_at) SELECT ?, ?, clinic_id, 'patient', ?, 'Used', id, ?, ?, ? FROM users"
            " WHERE id = ?",
            [
                (
                    f"used-{n}",
                    f"hash-{n}",
                    f"used{n}@example.org",
                    iso(clock.now() + timedelta(seconds=n + 1)),
                    iso(clock.now() + timedelta(days=7)),
                    iso(clock.now()),
                    people.therapist_a.id,
                )
                for n in range(200)
            ],
        )
    conn.close()

    page = client.get("/clinic")
    assert page.status_code == 200
    assert f"/clinic/invitations/{waiting}/revoke" in page.text
