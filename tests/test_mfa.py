"""Two-factor sign-in (TOTP + recovery codes), the clinic requirement, and the sessions list."""

from __future__ import annotations

import re
from typing import Any

import pyotp
import pytest

from server.security.sessions import SESSION_COOKIE
from server.settings import Settings
from tests.conftest import PASSWORD, Client, FrozenClock, People, query


def require_mfa(settings: Settings) -> None:
    from server.db import connect_sync

    conn = connect_sync(settings.database_path)
    conn.execute("UPDATE clinics SET mfa_required_for_clinicians = 1")
    conn.close()


def sign_in(client: Client, email: str, password: str = PASSWORD) -> Any:
    client.cookies.clear()
    return client.post("/api/v1/auth/login", json={"email": email, "password": password})


def enrol(client: Client, clock: FrozenClock) -> tuple[str, list[str]]:
    """Set up a factor for whoever is signed in; returns (secret, recovery codes)."""
    setup = client.post("/api/v1/me/mfa/setup")
    assert setup.status_code == 200, setup.text
    secret = setup.json()["secret"]
    assert setup.json()["qr_svg"].startswith("<svg")
    assert "otpauth://totp/" in setup.json()["otpauth_uri"]
    enabled = client.post("/api/v1/me/mfa/enable", json={"code": pyotp.TOTP(secret).at(clock.now())})
    assert enabled.status_code == 200, enabled.text
    return secret, enabled.json()["recovery_codes"]


def test_a_required_clinician_must_enrol_before_reaching_anything(
    client: Client, people: People, settings: Settings, clock: FrozenClock
) -> None:
    require_mfa(settings)
    login = sign_in(client, people.therapist_a.email)
    assert login.status_code == 200
    assert login.json()["mfa_enrolment_required"] is True
    blocked = client.get("/api/v1/patients")
    assert blocked.status_code == 401
    assert blocked.json()["mfa_enrolment_required"] is True
    assert client.get("/clinic", follow_redirects=False).headers["location"] == "/account/two-factor"
    before = client.cookies[SESSION_COOKIE]
    _, codes = enrol(client, clock)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert client.cookies[SESSION_COOKIE] != before  # a new session id once the privilege changes
    assert client.get("/api/v1/patients").status_code == 200
    stored = query(settings, "SELECT code_hash FROM recovery_codes")
    assert len(stored) == 10 and all(codes[0] not in row["code_hash"] for row in stored)


def test_with_a_factor_the_password_alone_signs_in_nobody(
    client: Client, people: People, settings: Settings, clock: FrozenClock
) -> None:
    client.login(people.therapist_a.email)
    secret, _ = enrol(client, clock)
    clock.advance(seconds=60)
    login = sign_in(client, people.therapist_a.email)
    assert login.json() == {"mfa_required": True}
    assert client.get("/api/v1/me").status_code == 401
    assert client.get(f"/api/v1/patients/{people.patient_a.id}").status_code == 401
    # Nor can a half-way session turn the factor off or mint new recovery codes with the password.
    assert client.post("/api/v1/me/mfa/disable", json={"password": PASSWORD}).status_code == 401
    assert client.post("/api/v1/me/mfa/recovery-codes", json={"password": PASSWORD}).status_code == 401
    assert client.post("/api/v1/me/mfa/setup").status_code == 401
    wrong = client.post("/api/v1/auth/mfa", json={"code": "000000"})
    assert wrong.status_code == 401
    code = pyotp.TOTP(secret).at(clock.now())
    ok = client.post("/api/v1/auth/mfa", json={"code": code})
    assert ok.status_code == 200
    assert ok.json()["user"]["id"] == people.therapist_a.id
    assert client.get("/api/v1/me").status_code == 200
    # The same code cannot be replayed to finish another sign-in.
    sign_in(client, people.therapist_a.email)
    assert client.post("/api/v1/auth/mfa", json={"code": code}).status_code == 401
    actions = [r["action"] for r in query(settings, "SELECT action FROM audit_log ORDER BY id")]
    assert "auth.login.password_ok.mfa" in actions and "auth.mfa.failed" in actions and "mfa.enabled" in actions


def test_a_recovery_code_works_once(client: Client, people: People, clock: FrozenClock) -> None:
    client.login(people.therapist_a.email)
    _, codes = enrol(client, clock)
    sign_in(client, people.therapist_a.email)
    assert client.post("/api/v1/auth/mfa", json={"code": codes[3].upper()}).status_code == 200
    sign_in(client, people.therapist_a.email)
    assert client.post("/api/v1/auth/mfa", json={"code": codes[3]}).status_code == 401
    assert client.post("/api/v1/auth/mfa", json={"code": codes[4]}).status_code == 200
    assert client.get("/api/v1/me/mfa").json()["recovery_codes_left"] == 8


def test_wrong_codes_are_throttled_like_passwords(client: Client, people: People, clock: FrozenClock) -> None:
    client.login(people.therapist_a.email)
    secret, _ = enrol(client, clock)
    sign_in(client, people.therapist_a.email)
    for _ in range(5):
        assert client.post("/api/v1/auth/mfa", json={"code": "123456"}).status_code == 401
    clock.advance(seconds=31)
    throttled = client.post("/api/v1/auth/mfa", json={"code": pyotp.TOTP(secret).at(clock.now())})
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) > 0


def test_a_half_way_session_expires_after_ten_minutes(client: Client, people: People, clock: FrozenClock) -> None:
    client.login(people.therapist_a.email)
    secret, _ = enrol(client, clock)
    sign_in(client, people.therapist_a.email)
    clock.advance(minutes=11)
    assert client.post("/api/v1/auth/mfa", json={"code": pyotp.TOTP(secret).at(clock.now())}).status_code == 401


def test_patients_may_opt_in_and_out_but_a_required_clinician_cannot_opt_out(
    client: Client, people: People, settings: Settings, clock: FrozenClock
) -> None:
    client.login(people.patient_a.email)
    assert client.get("/api/v1/me/mfa").json() == {"enabled": False, "required": False, "recovery_codes_left": 0}
    enrol(client, clock)
    assert sign_in(client, people.patient_a.email).json() == {"mfa_required": True}
    client.login(people.patient_b.email)  # someone else entirely: unaffected
    assert client.get("/api/v1/me").status_code == 200

    require_mfa(settings)
    sign_in(client, people.admin.email)
    enrol(client, clock)
    refused = client.post("/api/v1/me/mfa/disable", json={"password": PASSWORD})
    assert refused.status_code == 409
    assert query(settings, "SELECT count(*) AS n FROM mfa_factors WHERE user_id = ?", (people.admin.id,))[0]["n"] == 1


def test_turning_off_needs_the_password(client: Client, people: People, settings: Settings, clock: FrozenClock) -> None:
    client.login(people.patient_a.email)
    enrol(client, clock)
    clock.advance(seconds=60)  # the enrolment's own code may not be used twice
    sign_in(client, people.patient_a.email)
    client.post(
        "/api/v1/auth/mfa",
        json={"code": pyotp.TOTP(query(settings, "SELECT secret FROM mfa_factors")[0]["secret"]).at(clock.now())},
    )
    wrong = client.post("/api/v1/me/mfa/disable", json={"password": "not the password at all"})
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "password"
    assert client.post("/api/v1/me/mfa/disable", json={"password": PASSWORD}).status_code == 204
    assert query(settings, "SELECT count(*) AS n FROM mfa_factors")[0]["n"] == 0
    assert query(settings, "SELECT count(*) AS n FROM recovery_codes")[0]["n"] == 0


def test_the_sessions_list_and_signing_out_everywhere_else(client: Client, people: People, settings: Settings) -> None:
    client.login(people.patient_a.email)
    other_device = client.cookies[SESSION_COOKIE]
    client.login(people.patient_a.email)
    sessions = client.get("/api/v1/me/sessions").json()["items"]
    assert len(sessions) == 2
    assert [s["current"] for s in sessions].count(True) == 1
    assert all(other_device not in str(s) for s in sessions)
    assert client.post("/api/v1/me/sessions/end-others").json() == {"ended": 1}
    assert client.get("/api/v1/me").status_code == 200
    client.cookies.set(SESSION_COOKIE, other_device)
    assert client.get("/api/v1/me").status_code == 401
    assert "auth.logout_everywhere" in [r["action"] for r in query(settings, "SELECT action FROM audit_log")]


def test_ending_one_session_by_its_listed_id(client: Client, people: People) -> None:
    client.login(people.patient_a.email)
    other_device = client.cookies[SESSION_COOKIE]
    client.login(people.patient_a.email)
    other = next(s for s in client.get("/api/v1/me/sessions").json()["items"] if not s["current"])
    assert client.delete(f"/api/v1/me/sessions/{other['id']}").status_code == 204
    client.cookies.set(SESSION_COOKIE, other_device)
    assert client.get("/api/v1/me").status_code == 401


def test_the_html_flow_shows_the_qr_code_and_asks_for_the_code(
    client: Client, people: People, settings: Settings, clock: FrozenClock
) -> None:
    require_mfa(settings)
    client.cookies.clear()
    client.get("/login")
    form = {"email": people.therapist_a.email, "password": PASSWORD, "_csrf_token": client.cookies["afterglow_csrf"]}
    first = client.post("/login", data=form, follow_redirects=False)
    assert first.headers["location"] == "/account/two-factor"
    page = client.get("/account/two-factor")
    assert page.status_code == 200 and "<svg" in page.text
    secret = re.search(r'class="secret">([A-Z2-7]+)<', page.text)
    assert secret is not None
    enabled = client.post("/account/two-factor/enable", data={"code": pyotp.TOTP(secret.group(1)).at(clock.now())})
    assert enabled.status_code == 200 and "recovery codes" in enabled.text
    clock.advance(seconds=60)
    client.cookies.clear()
    client.get("/login")
    form["_csrf_token"] = client.cookies["afterglow_csrf"]
    second = client.post("/login", data=form, follow_redirects=False)
    assert second.headers["location"].startswith("/login/code")
    wrong = client.post("/login/code", data={"code": "111111"})
    assert wrong.status_code == 401 and "not right" in wrong.text
    done = client.post(
        "/login/code", data={"code": pyotp.TOTP(secret.group(1)).at(clock.now())}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == "/clinic"


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef"])
def test_malformed_codes_are_simply_wrong(client: Client, people: People, clock: FrozenClock, code: str) -> None:
    client.login(people.patient_a.email)
    enrol(client, clock)
    sign_in(client, people.patient_a.email)
    response = client.post("/api/v1/auth/mfa", json={"code": code})
    assert response.status_code in (400, 401)


def test_the_admin_turns_the_requirement_on_in_clinic_settings(client: Client, people: People) -> None:
    client.login(people.admin.email)
    current = client.get("/api/v1/admin/clinic").json()
    assert current["mfa_required_for_clinicians"] is False
    body = {k: current[k] for k in ("name", "crisis_lines", "missed_checkin_days", "schedule_defaults")}
    assert client.put("/api/v1/admin/clinic", json={**body, "mfa_required_for_clinicians": True}).status_code == 200
    assert sign_in(client, people.therapist_a.email).json()["mfa_enrolment_required"] is True
    assert sign_in(client, people.patient_a.email).json()["user"]["id"] == people.patient_a.id  # patients choose
