"""CSRF: unsafe requests need the double-submit token, and must not come from another site."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.middleware.csrf import generate_csrf_token

from server.security.csrf import CSRF_COOKIE, CSRF_HEADER
from server.settings import Settings
from tests.conftest import BASE_URL, PASSWORD, Client, People, audit_actions, count, set_cookie_header

LOGIN = "/api/v1/auth/login"
NEW_PATIENT = {"email": "new.patient@example.test", "display_name": "New Patient"}


def nothing_happened(settings: Settings) -> bool:
    return (
        count(settings, "sessions") == 0
        and count(settings, "login_failures") == 0
        and count(settings, "invitations") == 0
        and audit_actions(settings) == []
    )


def login_with_token(client: Client, people: People, token: str) -> Any:
    """Patient A's API sign-in sending exactly ``token`` in the CSRF header (the client adds none of its own)."""
    return client.request(
        "POST",
        LOGIN,
        json={"email": people.patient_a.email, "password": PASSWORD},
        headers={CSRF_HEADER: token},
        csrf=False,
    )


@pytest.mark.parametrize("password", [PASSWORD, "a wrong password"])
def test_api_login_without_the_csrf_header_is_refused_and_changes_nothing(
    client: Client, people: People, settings: Settings, password: str
) -> None:
    client.get("/healthz")  # the CSRF cookie is there; only the header is missing

    response = client.request("POST", LOGIN, json={"email": people.patient_a.email, "password": password}, csrf=False)

    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"status_code": 403, "detail": "CSRF token verification failed", "errors": []}
    assert nothing_happened(settings)


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token",
        generate_csrf_token(secret="another secret, not the app's, long enough"),
        "0" * 128,
    ],
    ids=["garbage", "signed-with-another-secret", "zeros"],
)
def test_api_login_with_a_wrong_csrf_token_is_refused(
    client: Client, people: People, settings: Settings, token: str
) -> None:
    client.get("/healthz")

    response = client.post(
        LOGIN, json={"email": people.patient_a.email, "password": PASSWORD}, headers={CSRF_HEADER: token}
    )

    assert response.status_code == 403
    assert nothing_happened(settings)


def test_a_token_without_the_matching_cookie_is_refused(client: Client, people: People, settings: Settings) -> None:
    client.get("/healthz")
    token = client.cookies[CSRF_COOKIE]
    client.cookies.clear()

    response = login_with_token(client, people, token)

    assert response.status_code == 403
    assert nothing_happened(settings)


def test_signed_in_unsafe_request_without_token_is_refused(client: Client, people: People, settings: Settings) -> None:
    client.login(people.therapist_a.email)

    response = client.request("POST", "/api/v1/invitations", json=NEW_PATIENT, csrf=False)

    assert response.status_code == 403
    assert count(settings, "invitations") == 0
    assert "invitation.created" not in audit_actions(settings)


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "https://evil.example", "Sec-Fetch-Site": "same-origin"},
        {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
        {"Origin": "http://127.0.0.1:8000.evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": BASE_URL, "Sec-Fetch-Site": "cross-site"},
    ],
    ids=[
        "evil-origin",
        "evil-origin-claiming-same-origin",
        "null-origin-cross-site",
        "lookalike-origin",
        "cross-site",
        "same-site",
        "own-origin-but-cross-site",
    ],
)
def test_a_cross_site_request_with_a_valid_token_is_refused(
    client: Client, people: People, settings: Settings, headers: dict[str, str]
) -> None:
    client.login(people.therapist_a.email)

    response = client.post("/api/v1/invitations", json=NEW_PATIENT, headers=headers)

    assert response.status_code == 403
    assert response.json()["detail"] == "Cross-site request refused"
    assert count(settings, "invitations") == 0


def test_a_cross_site_login_is_refused_before_any_password_check(
    client: Client, people: People, settings: Settings
) -> None:
    response = client.post(
        LOGIN,
        json={"email": people.patient_a.email, "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
    )

    assert response.status_code == 403
    assert nothing_happened(settings)


@pytest.mark.parametrize(
    "headers",
    [{"Origin": BASE_URL}, {"Sec-Fetch-Site": "same-origin"}, {"Origin": BASE_URL, "Sec-Fetch-Site": "same-origin"}],
    ids=["origin", "sec-fetch-site", "both"],
)
def test_a_same_origin_request_with_a_valid_token_passes(
    client: Client, people: People, settings: Settings, headers: dict[str, str]
) -> None:
    client.login(people.therapist_a.email)

    response = client.post("/api/v1/invitations", json=NEW_PATIENT, headers=headers)

    assert response.status_code == 201, response.text
    assert count(settings, "invitations") == 1


def test_a_null_origin_from_a_same_origin_form_passes_with_the_token(
    client: Client, people: People, settings: Settings
) -> None:
    # Under Referrer-Policy: no-referrer, Chromium sends Origin: null on its own same-origin form posts.
    client.login(people.therapist_a.email)

    response = client.post(
        "/api/v1/invitations", json=NEW_PATIENT, headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"}
    )

    assert response.status_code == 201, response.text
    assert count(settings, "invitations") == 1


def test_a_null_origin_still_needs_the_csrf_token(client: Client, people: People, settings: Settings) -> None:
    client.login(people.therapist_a.email)

    response = client.request("POST", "/api/v1/invitations", json=NEW_PATIENT, headers={"Origin": "null"}, csrf=False)

    assert response.status_code == 403
    assert count(settings, "invitations") == 0


def test_an_html_form_post_without_token_gets_a_friendly_403_page(
    client: Client, people: People, settings: Settings
) -> None:
    client.get("/login")

    response = client.request(
        "POST", "/login", data={"email": people.patient_a.email, "password": PASSWORD}, csrf=False
    )

    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>Not allowed</h1>" in response.text
    assert "Traceback" not in response.text
    assert "CSRF token verification failed" not in response.text
    assert nothing_happened(settings)


# --- the token itself (server/security/gate.py replaced Litestar's CSRFMiddleware) ----------------------


def test_a_token_in_litestars_format_signed_with_the_app_secret_still_works(
    client: Client, people: People, settings: Settings
) -> None:
    # Cookies issued before the gate replaced Litestar's middleware, and tokens tests/bench/run.py mints.
    token = generate_csrf_token(secret=settings.secret_key)
    client.cookies.set(CSRF_COOKIE, token)

    response = login_with_token(client, people, token)

    assert response.status_code == 200, response.text


def test_a_safe_request_without_the_cookie_gets_one_that_scripts_can_read(client: Client) -> None:
    response = client.get("/login")

    set_cookie = set_cookie_header(response, CSRF_COOKIE)
    attributes = [part.strip().lower() for part in set_cookie.split(";")[1:]]
    assert "samesite=lax" in attributes
    assert "path=/" in attributes
    assert "httponly" not in attributes  # the page's scripts echo it in X-CSRFToken
    assert client.cookies[CSRF_COOKIE] in response.text  # csrf_input in the page's form carries the same token


def test_a_safe_request_with_the_cookie_keeps_it(client: Client) -> None:
    client.get("/login")
    token = client.cookies[CSRF_COOKIE]

    response = client.get("/login")

    assert not [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{CSRF_COOKIE}=")]
    assert token in response.text


def test_a_cookie_the_app_never_signed_is_replaced_on_the_next_page(client: Client, people: People) -> None:
    forged = generate_csrf_token(secret="another secret, not the app's, long enough")
    client.cookies.set(CSRF_COOKIE, forged)

    response = client.get("/login")

    fresh = set_cookie_header(response, CSRF_COOKIE).split(";")[0].split("=", 1)[1]
    assert fresh != forged
    assert forged not in response.text
    refused = login_with_token(client, people, forged)
    assert refused.status_code == 403


def test_a_multipart_form_carries_the_token_in_its_field(client: Client, people: People) -> None:
    client.get("/login")

    response = client.request(
        "POST",
        "/login",
        files={"email": (None, people.patient_a.email), "password": (None, PASSWORD)},
        data={"_csrf_token": client.cookies[CSRF_COOKIE]},
        csrf=False,
    )

    assert response.status_code != 403, response.text
