"""Security headers on every kind of response, JSON vs HTML errors, health and the OpenAPI document."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from server.settings import Settings
from tests.conftest import PASSWORD, Client, People, count

Probe = Callable[[Client, People], Any]


def html_page(client: Client, people: People) -> Any:
    return client.get("/login")


def json_response(client: Client, people: People) -> Any:
    client.login(people.patient_a.email)
    return client.get("/api/v1/me")


def api_error(client: Client, people: People) -> Any:
    return client.get("/api/v1/me")


def html_not_found(client: Client, people: People) -> Any:
    return client.get("/no-such-page")


def csrf_refusal(client: Client, people: People) -> Any:
    client.get("/healthz")
    return client.request(
        "POST", "/api/v1/auth/login", json={"email": people.patient_a.email, "password": PASSWORD}, csrf=False
    )


def html_csrf_refusal(client: Client, people: People) -> Any:
    client.get("/login")
    return client.request("POST", "/login", data={"email": people.patient_a.email, "password": PASSWORD}, csrf=False)


def api_not_found(client: Client, people: People) -> Any:
    return client.get("/api/v1/no-such-thing")


PROBES: dict[str, tuple[Probe, int]] = {
    "html-page": (html_page, 200),
    "json": (json_response, 200),
    "api-401": (api_error, 401),
    "html-404": (html_not_found, 404),
    "api-404": (api_not_found, 404),
    "csrf-403": (csrf_refusal, 403),
    "html-csrf-403": (html_csrf_refusal, 403),
}


def csp_directives(response: Any) -> dict[str, list[str]]:
    policy = response.headers["content-security-policy"]
    directives = {}
    for part in policy.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


@pytest.mark.parametrize("name", list(PROBES))
def test_every_kind_of_response_carries_the_security_headers(client: Client, people: People, name: str) -> None:
    probe, status = PROBES[name]

    response = probe(client, people)

    assert response.status_code == status
    csp = csp_directives(response)
    assert csp["script-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
    assert "'unsafe-eval'" not in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    assert "strict-transport-security" not in response.headers  # plain http: HSTS would be meaningless


def test_hsts_is_sent_with_an_https_base_url(https_client: Client) -> None:
    for response in (https_client.get("/login"), https_client.get("/api/v1/me"), https_client.get("/nowhere")):
        assert response.headers["strict-transport-security"].startswith("max-age=")
        assert int(response.headers["strict-transport-security"].split(";")[0].split("=")[1]) >= 31536000


def test_api_errors_are_json_with_detail_and_errors(client: Client, people: People) -> None:
    for response in (
        client.get("/api/v1/me"),
        client.get("/api/v1/no-such-thing"),
        client.post("/api/v1/auth/login", json={"email": people.patient_a.email, "password": "wrong!"}),
    ):
        assert response.headers["content-type"].startswith("application/json")
        body = response.json()
        assert set(body) == {"status_code", "detail", "errors"}
        assert isinstance(body["detail"], str) and body["detail"]
        assert body["errors"] == []


def test_api_validation_errors_name_the_field(client: Client) -> None:
    wrong_type = client.post("/api/v1/auth/login", json={"email": 42, "password": "whatever!!"})
    missing = client.post("/api/v1/auth/login", json={"email": "someone@example.test"})

    assert wrong_type.status_code == missing.status_code == 400
    assert set(wrong_type.json()) == set(missing.json()) == {"status_code", "detail", "errors"}
    assert [error["field"] for error in wrong_type.json()["errors"]] == ["email"]
    # A missing field is reported against the body as a whole, with the field named in the message.
    assert "`password`" in missing.json()["errors"][0]["message"]


def test_unknown_fields_in_api_bodies_are_refused(client: Client) -> None:
    response = client.post(
        "/api/v1/auth/login", json={"email": "someone@example.test", "password": "whatever!!", "admin": True}
    )

    assert response.status_code == 400
    assert set(response.json()) == {"status_code", "detail", "errors"}


def test_an_oversized_api_body_is_refused_with_json_413(client: Client, settings: Settings) -> None:
    response = client.post(
        "/api/v1/auth/login",
        content=b'{"email":"' + b"a" * (2 * 1024 * 1024) + b'","password":"x"}',
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 413
    assert set(response.json()) == {"status_code", "detail", "errors"}
    assert count(settings, "login_failures") == 0


def test_html_errors_are_friendly_pages_without_a_traceback(client: Client) -> None:
    response = client.get("/no-such-page")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>Not found</h1>" in response.text
    assert "Traceback" not in response.text
    assert 'href="/help"' in response.text  # the way to crisis help stays on every page


def test_healthz_reports_the_database(client: Client) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_the_openapi_document_lists_the_login_endpoint(client: Client) -> None:
    response = client.get("/api/v1/schema/openapi.json")

    assert response.status_code == 200
    document = response.json()
    assert document["info"]["title"] == "Afterglow API"
    assert "post" in document["paths"]["/api/v1/auth/login"]
    assert not [path for path in document["paths"] if not path.startswith("/api/v1/")]
