"""An admin's one-time password link and second-factor reset."""

from __future__ import annotations

import uuid

import pyotp

from server.security.sessions import SESSION_COOKIE
from server.settings import Settings
from tests.conftest import PASSWORD, Client, FrozenClock, People, query

NEW_PASSWORD = "a brand new long passphrase"


def reset_link(client: Client, people: People, user_id: str) -> str:
    client.login(people.admin.email)
    created = client.post(f"/api/v1/admin/users/{user_id}/password-reset")
    assert created.status_code == 201
    return str(created.json()["url"]).split("/reset/")[1]


def test_a_reset_link_sets_a_new_password_once_and_ends_sessions(
    client: Client, people: People, settings: Settings
) -> None:
    client.login(people.patient_a.email)
    old_session = client.cookies[SESSION_COOKIE]
    token = reset_link(client, people, people.patient_a.id)
    assert token not in str(query(settings, "SELECT token_hash FROM password_resets")[0]["token_hash"])
    client.cookies.clear()
    assert client.get(f"/reset/{token}").status_code == 200
    weak = client.post(f"/reset/{token}", data={"password": "short"})
    assert weak.status_code == 422 and "at least 10" in weak.text
    done = client.post(f"/reset/{token}", data={"password": NEW_PASSWORD}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/login?reset=1"
    assert client.post(f"/reset/{token}", data={"password": NEW_PASSWORD + "!"}).status_code == 404
    client.cookies.set(SESSION_COOKIE, old_session)
    assert client.get("/api/v1/me").status_code == 401
    assert (
        client.post("/api/v1/auth/login", json={"email": people.patient_a.email, "password": PASSWORD}).status_code
        == 401
    )
    client.login(people.patient_a.email, NEW_PASSWORD)
    actions = [r["action"] for r in query(settings, "SELECT action FROM audit_log")]
    assert "account.password_reset_link" in actions and "account.password_reset" in actions


def test_a_reset_link_expires_after_an_hour_and_a_newer_one_replaces_it(
    client: Client, people: People, clock: FrozenClock
) -> None:
    first = reset_link(client, people, people.therapist_a.id)
    second = reset_link(client, people, people.therapist_a.id)
    client.cookies.clear()
    assert client.get(f"/reset/{first}").status_code == 404
    clock.advance(minutes=61)
    assert client.get(f"/reset/{second}").status_code == 404


def test_only_admins_of_the_clinic_make_links(client: Client, people: People, settings: Settings) -> None:
    client.login(people.therapist_a.email)
    assert client.post(f"/api/v1/admin/users/{people.patient_a.id}/password-reset").status_code == 403
    client.login(people.admin.email)
    assert client.post(f"/api/v1/admin/users/{uuid.uuid4()}/password-reset").status_code == 404
    assert query(settings, "SELECT count(*) AS n FROM password_resets")[0]["n"] == 0


def test_an_admin_can_reset_a_lost_second_factor(
    client: Client, people: People, settings: Settings, clock: FrozenClock
) -> None:
    client.login(people.therapist_a.email)
    secret = client.post("/api/v1/me/mfa/setup").json()["secret"]
    assert client.post("/api/v1/me/mfa/enable", json={"code": pyotp.TOTP(secret).at(clock.now())}).status_code == 200
    phone_session = client.cookies[SESSION_COOKIE]
    client.login(people.admin.email)
    assert client.post(f"/api/v1/admin/users/{people.therapist_a.id}/mfa-reset").status_code == 204
    assert query(settings, "SELECT count(*) AS n FROM mfa_factors")[0]["n"] == 0
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, phone_session)
    assert client.get("/api/v1/me").status_code == 401
    client.cookies.clear()
    login = client.post("/api/v1/auth/login", json={"email": people.therapist_a.email, "password": PASSWORD})
    assert login.json()["user"]["id"] == people.therapist_a.id
    assert "mfa.reset_by_admin" in [r["action"] for r in query(settings, "SELECT action FROM audit_log")]


def test_the_admin_pages_make_a_link_and_erase_with_a_typed_confirmation(
    client: Client, people: People, settings: Settings
) -> None:
    client.login(people.admin.email)
    page = client.get(f"/admin/patients/{people.patient_a.id}")
    assert "/password-link" in page.text and "/erase" in page.text
    made = client.post(f"/admin/users/{people.patient_a.id}/password-link")
    assert made.status_code == 200 and "/reset/" in made.text
    assert made.headers["cache-control"] == "no-store"
    wrong = client.post(f"/admin/patients/{people.patient_a.id}/erase", data={"confirm_email": "nope@x.y"})
    assert wrong.status_code == 422
    assert query(settings, "SELECT count(*) AS n FROM users WHERE id = ?", (people.patient_a.id,))[0]["n"] == 1
    erased = client.post(
        f"/admin/patients/{people.patient_a.id}/erase",
        data={"confirm_email": people.patient_a.email},
        follow_redirects=False,
    )
    assert erased.status_code == 303
    assert query(settings, "SELECT count(*) AS n FROM users WHERE id = ?", (people.patient_a.id,))[0]["n"] == 0
