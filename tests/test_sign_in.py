"""Sign-in, sessions and sign-out: identical failures, throttling, rotation, expiry, rehashing, the HTML form."""

from __future__ import annotations

from typing import Any

import pytest
from argon2 import PasswordHasher

from server.clock import iso
from server.db import connect_sync
from server.security.csrf import CSRF_COOKIE
from server.security.passwords import HASHER, needs_rehash
from server.security.sessions import SESSION_COOKIE
from server.security.throttle import MAX_FAILURES
from server.security.tokens import token_hash
from server.settings import Settings
from tests.conftest import (
    PASSWORD,
    Client,
    FrozenClock,
    People,
    audit_actions,
    count,
    get_with_session,
    query,
    session_of,
    set_cookie_header,
)

LOGIN = "/api/v1/auth/login"


def attempt(client: Client, email: str, password: str) -> Any:
    return client.post(LOGIN, json={"email": email, "password": password})


def cookie_attributes(set_cookie: str) -> list[str]:
    return [part.strip().lower() for part in set_cookie.split(";")[1:]]


# --- signing in -------------------------------------------------------------------------------------------


def test_sign_in_returns_the_user_and_an_httponly_lax_session_cookie(
    client: Client, people: People, settings: Settings
) -> None:
    response = client.post(LOGIN, json={"email": people.therapist_a.email, "password": PASSWORD})

    assert response.status_code == 200
    assert response.json() == {
        "user": {
            "id": people.therapist_a.id,
            "role": "therapist",
            "email": people.therapist_a.email,
            "display_name": people.therapist_a.name,
            "timezone": "UTC",
        }
    }
    attributes = cookie_attributes(set_cookie_header(response, SESSION_COOKIE))
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "path=/" in attributes
    assert "secure" not in attributes  # plain-http settings: a Secure cookie would never come back
    assert count(settings, "sessions", "user_id = ?", (people.therapist_a.id,)) == 1
    assert client.get("/api/v1/me").json()["user"]["id"] == people.therapist_a.id


def test_sign_in_email_is_case_and_space_insensitive(client: Client, people: People) -> None:
    response = attempt(client, f"  {people.patient_a.email.upper()} ", PASSWORD)

    assert response.status_code == 200
    assert response.json()["user"]["id"] == people.patient_a.id


def test_with_https_settings_the_session_cookie_is_secure(https_client: Client, people: People) -> None:
    response = https_client.post(LOGIN, json={"email": people.patient_a.email, "password": PASSWORD})

    assert response.status_code == 200
    attributes = cookie_attributes(set_cookie_header(response, SESSION_COOKIE))
    assert "secure" in attributes
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    # The https app has its own database, seeded with the same people (under new ids).
    assert https_client.get("/api/v1/me").json()["user"]["email"] == people.patient_a.email


def test_with_https_settings_the_csrf_cookie_is_secure(https_client: Client) -> None:
    response = https_client.get("/login")

    attributes = cookie_attributes(set_cookie_header(response, CSRF_COOKIE))
    assert "secure" in attributes
    assert "samesite=lax" in attributes


def test_wrong_password_and_unknown_email_get_byte_identical_answers(
    client: Client, people: People, settings: Settings
) -> None:
    wrong_password = client.post(LOGIN, json={"email": people.patient_a.email, "password": "not the password!"})
    unknown_email = client.post(LOGIN, json={"email": "nobody@clinic.test", "password": "not the password!"})

    assert wrong_password.status_code == unknown_email.status_code == 401
    assert wrong_password.content == unknown_email.content
    assert wrong_password.json() == {"status_code": 401, "detail": "Email or password is incorrect.", "errors": []}
    assert SESSION_COOKIE not in client.cookies
    assert count(settings, "sessions") == 0


def test_a_disabled_account_gets_the_same_answer_even_with_the_right_password(
    client: Client, people: People, settings: Settings
) -> None:
    client.login(people.admin.email)
    assert client.post(f"/api/v1/admin/users/{people.patient_a.id}/disable").status_code == 204
    client.cookies.clear()
    wrong_password = attempt(client, people.patient_b.email, "not the password!")

    disabled = attempt(client, people.patient_a.email, PASSWORD)

    assert disabled.status_code == wrong_password.status_code == 401
    assert disabled.content == wrong_password.content
    assert count(settings, "sessions", "user_id = ?", (people.patient_a.id,)) == 0


# --- throttling -------------------------------------------------------------------------------------------


def test_five_failures_throttle_the_sixth_attempt_even_with_the_right_password(
    client: Client, people: People, settings: Settings
) -> None:
    for _ in range(MAX_FAILURES):
        assert attempt(client, people.patient_a.email, "wrong password!").status_code == 401

    throttled = client.post(LOGIN, json={"email": people.patient_a.email, "password": PASSWORD})

    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == "900"  # the clock is frozen: the 15-minute window ends in 900 s
    body = throttled.json()
    assert set(body) == {"status_code", "detail", "errors"}
    assert "15 minute" in body["detail"]
    assert SESSION_COOKIE not in client.cookies
    assert count(settings, "sessions") == 0
    assert count(settings, "login_failures", "email = ?", (people.patient_a.email,)) == MAX_FAILURES


def test_retry_after_counts_down_with_the_clock(client: Client, people: People, clock: FrozenClock) -> None:
    for _ in range(MAX_FAILURES):
        attempt(client, people.patient_a.email, "wrong password!")
    clock.advance(minutes=10, seconds=30)

    throttled = client.post(LOGIN, json={"email": people.patient_a.email, "password": PASSWORD})

    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == "270"


def test_throttling_ends_once_the_window_has_passed(
    client: Client, people: People, clock: FrozenClock, settings: Settings
) -> None:
    for _ in range(MAX_FAILURES):
        attempt(client, people.patient_a.email, "wrong password!")
    assert attempt(client, people.patient_a.email, PASSWORD).status_code == 429
    clock.advance(minutes=15, seconds=1)

    response = client.post(LOGIN, json={"email": people.patient_a.email, "password": PASSWORD})

    assert response.status_code == 200
    assert count(settings, "login_failures", "email = ?", (people.patient_a.email,)) == 0


def test_throttling_counts_failures_per_account_across_client_addresses(
    client: Client, people: People, settings: Settings, clock: FrozenClock
) -> None:
    conn = connect_sync(settings.database_path)
    try:  # someone elsewhere guessed patient A's password five times just now
        for _ in range(MAX_FAILURES):
            conn.execute(
                "INSERT INTO login_failures (email, client_address, at) VALUES (?, ?, ?)",
                (people.patient_a.email, "203.0.113.9", iso(clock.now())),
            )
    finally:
        conn.close()

    throttled = client.post(LOGIN, json={"email": people.patient_a.email, "password": PASSWORD})
    other_account = client.post(LOGIN, json={"email": people.patient_b.email, "password": PASSWORD})

    assert throttled.status_code == 429
    assert other_account.status_code == 200
    assert count(settings, "sessions") == 1


def test_throttling_counts_failures_per_client_address_across_accounts(
    client: Client, people: People, settings: Settings
) -> None:
    for n in range(MAX_FAILURES):
        assert attempt(client, f"spray{n}@clinic.test", "Summer2026!!").status_code == 401

    response = client.post(LOGIN, json={"email": people.patient_b.email, "password": PASSWORD})

    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0
    assert count(settings, "sessions") == 0
    assert count(settings, "login_failures", "client_address = ?", ("testclient",)) == MAX_FAILURES


def test_failures_throttles_and_sign_ins_are_recorded(
    client: Client, people: People, settings: Settings, clock: FrozenClock
) -> None:
    attempt(client, people.patient_a.email, "wrong password!")
    attempt(client, "nobody@clinic.test", "wrong password!")
    assert [(r["email"], r["client_address"]) for r in query(settings, "SELECT * FROM login_failures ORDER BY id")] == [
        (people.patient_a.email, "testclient"),
        ("nobody@clinic.test", "testclient"),
    ]
    client.login(people.patient_a.email)
    assert [r["email"] for r in query(settings, "SELECT email FROM login_failures")] == ["nobody@clinic.test"]
    clock.advance(minutes=16)  # the earlier failures leave the window, so only patient B's count below
    for _ in range(MAX_FAILURES):
        attempt(client, people.patient_b.email, "wrong password!")
    assert attempt(client, people.patient_b.email, PASSWORD).status_code == 429

    assert [r["email"] for r in query(settings, "SELECT email FROM login_failures")] == [
        people.patient_b.email
    ] * MAX_FAILURES
    assert audit_actions(settings) == [
        "auth.login.failed",
        "auth.login.failed",
        "auth.login",
        *["auth.login.failed"] * MAX_FAILURES,
        "auth.login.throttled",
    ]
    failures = query(settings, "SELECT actor_id, detail FROM audit_log WHERE action = 'auth.login.failed' ORDER BY id")
    assert failures[0]["actor_id"] == people.patient_a.id
    assert failures[0]["detail"] == '{"reason":"wrong_password"}'
    assert failures[1]["actor_id"] is None
    assert failures[1]["detail"] == '{"reason":"unknown_account"}'


# --- the session id -------------------------------------------------------------------------------------


def test_every_sign_in_issues_a_new_session_id_and_ends_the_old_one(
    client: Client, people: People, settings: Settings
) -> None:
    client.login(people.patient_a.email)
    first = session_of(client)

    again = client.post(LOGIN, json={"email": people.patient_a.email, "password": PASSWORD})

    assert again.status_code == 200
    second = session_of(client)
    assert second != first
    assert get_with_session(client, "/api/v1/me", first).status_code == 401
    assert get_with_session(client, "/api/v1/me", second).status_code == 200
    assert count(settings, "sessions", "user_id = ?", (people.patient_a.id,)) == 1


def test_sign_out_clears_site_data_and_the_old_cookie_stops_working(
    client: Client, people: People, settings: Settings
) -> None:
    client.login(people.patient_a.email)
    old = session_of(client)

    response = client.post("/api/v1/auth/logout")

    assert response.status_code == 204
    clear = response.headers["clear-site-data"]
    assert '"cookies"' in clear
    assert '"storage"' in clear
    assert get_with_session(client, "/api/v1/me", old).status_code == 401
    assert count(settings, "sessions") == 0


def test_the_sign_out_form_ends_the_session_and_clears_site_data(
    client: Client, people: People, settings: Settings
) -> None:
    client.login(people.patient_a.email)
    old = session_of(client)

    response = client.post("/logout", follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/login?signed_out=1"
    assert '"cookies"' in response.headers["clear-site-data"]
    assert get_with_session(client, "/api/v1/me", old).status_code == 401
    assert audit_actions(settings) == ["auth.login", "auth.logout"]


def test_changing_the_password_ends_the_other_sessions_only(client: Client, people: People, settings: Settings) -> None:
    client.login(people.patient_a.email)
    other_device = session_of(client)
    client.login(people.patient_a.email)
    this_device = session_of(client)
    assert other_device != this_device

    response = client.post(
        "/api/v1/me/password", json={"current_password": PASSWORD, "new_password": "a brand new passphrase"}
    )

    assert response.status_code == 204
    assert get_with_session(client, "/api/v1/me", other_device).status_code == 401
    assert get_with_session(client, "/api/v1/me", this_device).status_code == 200
    stored = query(settings, "SELECT password_hash FROM users WHERE id = ?", (people.patient_a.id,))[0]
    assert HASHER.verify(stored["password_hash"], "a brand new passphrase")


def test_changing_the_password_needs_the_current_one(client: Client, people: People, settings: Settings) -> None:
    client.login(people.patient_a.email)
    before = query(settings, "SELECT password_hash FROM users WHERE id = ?", (people.patient_a.id,))[0]

    response = client.post(
        "/api/v1/me/password", json={"current_password": "not my password", "new_password": "a brand new passphrase"}
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "current_password"
    after = query(settings, "SELECT password_hash FROM users WHERE id = ?", (people.patient_a.id,))[0]
    assert after["password_hash"] == before["password_hash"]


def test_only_a_hash_of_the_session_id_is_stored(client: Client, people: People, settings: Settings) -> None:
    client.login(people.therapist_a.email)
    session_id = session_of(client)

    rows = query(settings, "SELECT * FROM sessions")

    assert len(rows) == 1
    assert rows[0]["id_hash"] == token_hash(session_id)
    assert all(session_id not in str(value) for value in tuple(rows[0]))


# --- expiry -----------------------------------------------------------------------------------------------


def test_a_therapist_session_ends_after_31_idle_minutes(
    client: Client, people: People, clock: FrozenClock, settings: Settings
) -> None:
    client.login(people.therapist_a.email)
    clock.advance(minutes=31)

    assert client.get("/api/v1/me").status_code == 401
    assert count(settings, "sessions") == 0


def test_a_therapist_session_stays_valid_with_activity_every_29_minutes(
    client: Client, people: People, clock: FrozenClock
) -> None:
    client.login(people.therapist_a.email)

    for _ in range(4):  # nearly two hours in all, never 30 minutes idle
        clock.advance(minutes=29)
        assert client.get("/api/v1/me").status_code == 200


def test_a_therapist_session_ends_after_12_hours_however_active(
    client: Client, people: People, clock: FrozenClock
) -> None:
    client.login(people.therapist_a.email)
    for _ in range(35):  # 11 h 40 min of activity every 20 minutes
        clock.advance(minutes=20)
        assert client.get("/api/v1/me").status_code == 200

    clock.advance(minutes=20)

    assert client.get("/api/v1/me").status_code == 401


def test_a_patient_session_survives_29_idle_days_but_not_30(client: Client, people: People, clock: FrozenClock) -> None:
    client.login(people.patient_a.email)
    clock.advance(days=29)
    assert client.get("/api/v1/me").status_code == 200

    clock.advance(days=30)

    assert client.get("/api/v1/me").status_code == 401


def test_a_patient_session_ends_after_90_days_however_active(
    client: Client, people: People, clock: FrozenClock
) -> None:
    client.login(people.patient_a.email)
    for _ in range(3):  # day 87
        clock.advance(days=29)
        assert client.get("/api/v1/me").status_code == 200

    clock.advance(days=3)

    assert client.get("/api/v1/me").status_code == 401


def test_disabling_an_account_ends_its_sessions_at_once(client: Client, people: People, settings: Settings) -> None:
    client.login(people.patient_a.email)
    patient_session = session_of(client)
    client.login(people.admin.email)

    response = client.post(f"/api/v1/admin/users/{people.patient_a.id}/disable")

    assert response.status_code == 204
    assert count(settings, "sessions", "user_id = ?", (people.patient_a.id,)) == 0
    assert get_with_session(client, "/api/v1/me", patient_session).status_code == 401
    assert query(settings, "SELECT disabled_at FROM users WHERE id = ?", (people.patient_a.id,))[0]["disabled_at"]


# --- password hashes --------------------------------------------------------------------------------------


@pytest.mark.production_password_hashing  # upgraded to the parameters the app really uses
def test_a_weaker_stored_hash_is_upgraded_at_sign_in(client: Client, people: People, settings: Settings) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    assert needs_rehash(weak)
    _set_password_hash(settings, people.patient_a.id, weak)

    client.login(people.patient_a.email)

    stored = query(settings, "SELECT password_hash FROM users WHERE id = ?", (people.patient_a.id,))[0]["password_hash"]
    assert stored != weak
    assert not needs_rehash(stored)
    assert HASHER.verify(stored, PASSWORD)
    detail = query(settings, "SELECT detail FROM audit_log WHERE action = 'auth.login'")[0]["detail"]
    assert detail == '{"password_rehashed":true}'


def _set_password_hash(settings: Settings, user_id: str, password_hash: str) -> None:
    conn = connect_sync(settings.database_path)
    try:
        conn.execute("UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id))
    finally:
        conn.close()


# --- the HTML form ----------------------------------------------------------------------------------------


def test_the_login_form_signs_in_and_redirects_to_the_role_home(
    client: Client, people: People, settings: Settings
) -> None:
    form = client.get("/login")
    assert form.status_code == 200
    assert 'name="_csrf_token"' in form.text

    response = client.request(
        "POST",
        "/login",
        data={"email": people.therapist_a.email, "password": PASSWORD, "_csrf_token": client.cookies[CSRF_COOKIE]},
        csrf=False,
        follow_redirects=False,
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/clinic"
    assert "httponly" in set_cookie_header(response, SESSION_COOKIE).lower()
    assert count(settings, "sessions", "user_id = ?", (people.therapist_a.id,)) == 1
    assert client.get("/clinic").status_code == 200


def test_the_login_form_with_a_wrong_password_shows_the_error_with_401(
    client: Client, people: People, settings: Settings
) -> None:
    client.get("/login")

    response = client.request(
        "POST",
        "/login",
        data={
            "email": people.patient_a.email,
            "password": "not the password!",
            "_csrf_token": client.cookies[CSRF_COOKIE],
        },
        csrf=False,
        follow_redirects=False,
    )

    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/html")
    assert "Email or password is incorrect." in response.text
    assert f'value="{people.patient_a.email}"' in response.text
    assert SESSION_COOKIE not in client.cookies
    assert count(settings, "sessions") == 0
