"""The admin's audit-trail viewer: filters, newest-first pages, only the admin's own clinic, and a CSV
download that spreadsheets cannot turn into formulas. Looking is itself recorded."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from server.settings import Settings
from tests.conftest import Client, FrozenClock, People, query
from tests.test_admin_support import add_clinic, add_patient, audit_count, last_audit

API = "/api/v1/admin/audit"


def listed(client: Client, **params: Any) -> list[dict[str, Any]]:
    response = client.get(API, params={"limit": 500, **params})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def actions(items: list[dict[str, Any]]) -> list[str]:
    return [item["action"] for item in items]


def test_the_trail_filters_by_user_patient_action_and_day_within_the_clinic(
    client: Client, people: People, settings: Settings, clock: FrozenClock
) -> None:
    other = add_clinic(settings, clock)
    # 21 November: sign-ins, and a failed one for patient A.
    client.login(people.therapist_a.email)
    assert (
        client.post("/api/v1/auth/login", json={"email": people.patient_a.email, "password": "wrong"}).status_code
        == 401
    )
    client.login(people.admin.email)
    # 22 November: patient A gets a second therapist.
    clock.advance(days=1)
    client.login(people.admin.email)  # (an admin's session does not last a day)
    assert (
        client.put(f"/api/v1/admin/patients/{people.patient_a.id}/care-team/{people.therapist_b.id}").status_code == 204
    )
    # 23 November: the other clinic's admin signs in.
    clock.advance(days=1)
    client.login(other.admin.email)
    client.login(people.admin.email)

    everything = listed(client)
    assert actions(everything) == [
        "auth.login",  # the admin, 23rd (the other clinic's admin signed in just before: not here)
        "care_team.added",
        "auth.login",  # the admin, 22nd
        "auth.login",  # the admin, 21st
        "auth.login.failed",
        "auth.login",  # therapist A
    ]
    assert [i["id"] for i in everything] == sorted((i["id"] for i in everything), reverse=True)
    assert other.admin.id not in json.dumps(everything)

    by_therapist = listed(client, actor=people.therapist_a.id)
    assert [(i["action"], i["actor_name"]) for i in by_therapist] == [("auth.login", "Theo A")]
    about_patient = listed(client, patient=people.patient_a.id)
    assert [(i["action"], i["patient_name"], i["object_id"]) for i in about_patient] == [
        ("care_team.added", "Pat A", people.therapist_b.id)
    ]
    assert actions(listed(client, action="auth.login")) == ["auth.login"] * 3 + ["auth.login.failed", "auth.login"]
    assert actions(listed(client, action="auth.login", match="exact")) == ["auth.login"] * 4
    assert actions(listed(client, action="care_team.")) == ["care_team.added"]
    # The viewing rows written meanwhile are on the 23rd, outside these days.
    assert actions(listed(client, since="2026-11-22", until="2026-11-22")) == ["care_team.added", "auth.login"]
    assert actions(listed(client, until="2026-11-21")) == ["auth.login", "auth.login.failed", "auth.login"]
    assert actions(listed(client, since="2026-11-22", action="admin.", match="prefix"))[-1] == "admin.audit.viewed"
    assert client.get(API, params={"actor": other.admin.id}).status_code == 404
    assert client.get(API, params={"patient": other.patient.id}).status_code == 404

    # Pages of two, newest first, walk the same rows without a gap or an overlap.
    seen, before = [], None
    while True:
        params: dict[str, Any] = {"limit": 2, "until": "2026-11-22"}
        if before:
            params["before"] = before
        page = client.get(API, params=params).json()
        seen += [item["id"] for item in page["items"]]
        before = page["next_before"]
        if before is None:
            break
    assert seen == [i["id"] for i in everything[1:]]
    assert len(seen) == 5

    html = client.get("/admin/audit", params={"actor": people.therapist_a.id})
    assert html.status_code == 200
    assert "Hash chain verified" in html.text
    assert "Theo A" in html.text and "auth.login" in html.text
    assert "care_team.added" not in html.text


def test_the_csv_download_is_an_attachment_spreadsheets_cannot_run(
    client: Client, people: People, settings: Settings, clock: FrozenClock
) -> None:
    names = ['=HYPERLINK("https://evil.example","Open")', "+SUM(1,2)", "-2+3", "@cmd", "Plain Name"]
    patients = [add_patient(settings, clock, name) for name in names]
    client.login(people.admin.email)
    for patient in patients:
        assert client.put(f"/api/v1/admin/patients/{patient.id}/care-team/{people.therapist_a.id}").status_code == 204

    response = client.get("/admin/audit.csv", params={"action": "care_team.added", "match": "exact"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.headers["cache-control"] == "no-store"
    table = list(csv.DictReader(io.StringIO(response.text)))
    assert [row["patient_name"] for row in table] == [
        "Plain Name",
        "'@cmd",
        "'-2+3",
        "'+SUM(1,2)",
        '\'=HYPERLINK("https://evil.example","Open")',
    ]
    assert {row["action"] for row in table} == {"care_team.added"}
    assert [row["patient_id"] for row in table] == [p.id for p in reversed(patients)]
    downloaded = last_audit(settings)
    assert (downloaded["action"], downloaded["actor_id"], json.loads(downloaded["detail"])) == (
        "admin.audit.downloaded",
        people.admin.id,
        {"filters": ["action"]},
    )

    # The API's download is the same file, and recorded the same way.
    api = client.get("/api/v1/admin/audit.csv", params={"action": "care_team.added", "match": "exact"})
    assert api.headers["content-disposition"].startswith("attachment;")
    assert api.text == response.text
    assert audit_count(settings, "admin.audit.downloaded") == 2


def test_bad_filters_are_refused_and_the_page_keeps_what_was_typed(
    client: Client, people: People, settings: Settings
) -> None:
    client.login(people.admin.email)
    before = audit_count(settings)

    for params, field in (
        ({"since": "2026-13-01"}, "since"),
        ({"until": "21/11/2026"}, "until"),
        ({"since": "2026-11-30", "until": "2026-11-01"}, "until"),
        ({"action": "auth login; DROP"}, "action"),
        ({"action": "auth.", "match": "fuzzy"}, "match"),
    ):
        response = client.get(API, params=params)
        assert response.status_code == 422, (params, response.text)
        assert [e["field"] for e in response.json()["errors"]] == [field]
        assert client.get("/api/v1/admin/audit.csv", params=params).status_code == 422

    page = client.get("/admin/audit", params={"since": "2026-11-30", "until": "2026-11-01", "action": "auth."})

    assert page.status_code == 422
    assert "The end date is before the start date." in page.text
    for typed in ('value="2026-11-30"', 'value="2026-11-01"', 'value="auth."'):
        assert typed in page.text
    assert audit_count(settings) == before
    assert query(settings, "SELECT count(*) FROM audit_log WHERE action LIKE 'admin.audit.%'")[0][0] == 0
