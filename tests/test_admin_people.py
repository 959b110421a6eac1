"""The admin's people pages: therapists and their patients, care-team gaps, who may use them, and the
audit row each read of people's data leaves."""

from __future__ import annotations

from server.settings import Settings
from tests.conftest import Client, FrozenClock, People, query
from tests.test_admin_support import add_clinic, audit_count, last_audit, rows

ADMIN_GETS = (
    "/admin",
    "/admin/clinic",
    "/admin/prompt-sets",
    "/admin/prompt-sets/new?kind=integration",
    "/admin/audit",
    "/admin/audit.csv",
    "/api/v1/admin/users",
    "/api/v1/admin/therapists",
    "/api/v1/admin/clinic",
    "/api/v1/admin/prompt-sets",
    "/api/v1/admin/audit",
    "/api/v1/admin/audit.csv",
)


def admin_writes(people: People) -> list[tuple[str, str, dict[str, object]]]:
    good_clinic = {
        "name": "Taken Over",
        "crisis_lines": [{"label": "x", "number": "123", "kind": "call"}],
        "missed_checkin_days": 5,
        "schedule_defaults": {},
    }
    good_set = {"kind": "integration", "title": "T", "prompts": [{"id": "one", "text": "One?"}]}
    return [
        ("PUT", "/api/v1/admin/clinic", {"json": good_clinic}),
        ("POST", "/api/v1/admin/prompt-sets", {"json": good_set}),
        ("POST", f"/api/v1/admin/users/{people.therapist_b.id}/disable", {}),
        ("POST", "/admin/clinic", {"data": {"name": "Taken Over", "missed_checkin_days": "5"}}),
        ("POST", "/admin/prompt-sets", {"data": {"kind": "integration", "title": "T", "p0_id": "a", "p0_text": "A"}}),
        ("POST", f"/admin/users/{people.therapist_b.id}/disable", {"data": {}}),
    ]


def test_only_admins_reach_the_admin_pages_and_api(client: Client, people: People, settings: Settings) -> None:
    for url in ("/api/v1/admin/clinic", "/api/v1/admin/audit", "/api/v1/admin/therapists"):
        assert client.get(url).status_code == 401, url
    before = rows(settings, "SELECT * FROM clinics"), rows(settings, "SELECT * FROM prompt_sets")

    for someone in (people.therapist_a, people.patient_a):
        client.login(someone.email)
        for url in (
            *ADMIN_GETS,
            f"/admin/therapists/{people.therapist_a.id}",
            f"/admin/patients/{people.patient_a.id}",
        ):
            assert client.get(url, follow_redirects=False).status_code == 403, (someone.role, url)
        for method, url, body in admin_writes(people):
            assert client.request(method, url, follow_redirects=False, **body).status_code == 403, (someone.role, url)

    assert (rows(settings, "SELECT * FROM clinics"), rows(settings, "SELECT * FROM prompt_sets")) == before
    assert query(settings, "SELECT disabled_at FROM users WHERE id = ?", (people.therapist_b.id,))[0][0] is None
    assert audit_count(settings, "clinic.settings_changed") == audit_count(settings, "prompt_set.published") == 0


def test_therapists_with_their_status_and_patients(
    client: Client, people: People, settings: Settings, clock: FrozenClock
) -> None:
    other = add_clinic(settings, clock)
    client.login(people.therapist_a.email)
    client.login(people.admin.email)

    disabled = client.post(
        f"/admin/users/{people.therapist_a.id}/disable",
        data={"back": f"/admin/therapists/{people.therapist_a.id}"},
        follow_redirects=False,
    )
    listed = client.get("/api/v1/admin/therapists").json()["items"]
    api = client.get(f"/api/v1/admin/therapists/{people.therapist_a.id}/patients")
    page = client.get(f"/admin/therapists/{people.therapist_a.id}")

    # Disabling from the therapist's page returns there, and signs the therapist out everywhere.
    assert disabled.status_code == 303
    assert disabled.headers["location"] == f"/admin/therapists/{people.therapist_a.id}"
    assert query(settings, "SELECT count(*) FROM sessions WHERE user_id = ?", (people.therapist_a.id,))[0][0] == 0
    assert [(t["display_name"], t["disabled"], t["patient_count"]) for t in listed] == [
        ("Tess B", False, 1),
        ("Theo A", True, 1),
    ]
    assert [p["id"] for p in api.json()["items"]] == [people.patient_a.id]
    assert page.status_code == 200
    assert "Disabled" in page.text
    assert f'href="/admin/patients/{people.patient_a.id}"' in page.text
    assert people.patient_b.name not in page.text
    assert other.patient.name not in page.text
    assert f'href="/admin/therapists/{people.therapist_b.id}"' in client.get("/admin").text


def test_another_clinics_people_do_not_exist_for_this_admin(
    client: Client, people: People, settings: Settings, clock: FrozenClock
) -> None:
    other = add_clinic(settings, clock)
    client.login(people.admin.email)
    teams = rows(settings, "SELECT * FROM care_team ORDER BY patient_id, therapist_id")
    ours, theirs = people.patient_a.id, other.patient.id

    assert other.patient.email not in client.get("/admin").text
    assert theirs not in client.get("/api/v1/admin/users").text
    assert other.therapist.id not in client.get("/api/v1/admin/therapists").text
    assert client.get(f"/admin/therapists/{other.therapist.id}").status_code == 404
    assert client.get(f"/api/v1/admin/therapists/{other.therapist.id}/patients").status_code == 404
    assert client.get(f"/admin/patients/{theirs}").status_code == 404
    assert client.get(f"/api/v1/admin/patients/{theirs}/care-team").status_code == 404
    assert client.put(f"/api/v1/admin/patients/{ours}/care-team/{other.therapist.id}").status_code == 404
    assert client.put(f"/api/v1/admin/patients/{theirs}/care-team/{people.therapist_a.id}").status_code == 404
    assert client.post(f"/api/v1/admin/users/{other.therapist.id}/disable").status_code == 404
    assert rows(settings, "SELECT * FROM care_team ORDER BY patient_id, therapist_id") == teams
    assert query(settings, "SELECT disabled_at FROM users WHERE id = ?", (other.therapist.id,))[0][0] is None


def unassigned_notice(home: str, heading: str) -> str:
    assert heading in home, home
    return home[home.index(heading) : home.index("</section>", home.index(heading))]


def test_the_admin_home_flags_patients_nobody_can_see(client: Client, people: People, settings: Settings) -> None:
    client.login(people.admin.email)
    assert "no therapist" not in client.get("/admin").text

    removed = client.delete(f"/api/v1/admin/patients/{people.patient_a.id}/care-team/{people.therapist_a.id}")
    notice = unassigned_notice(client.get("/admin").text, "1 patient has no therapist")

    assert removed.status_code == 204
    assert f'<a href="/admin/patients/{people.patient_a.id}">{people.patient_a.name}</a>' in notice
    assert people.patient_b.name not in notice

    # A care team of disabled therapists is no care team: patient B's only therapist is disabled.
    assert client.post(f"/api/v1/admin/users/{people.therapist_b.id}/disable").status_code == 204
    notice = unassigned_notice(client.get("/admin").text, "2 patients have no therapist")
    assert people.patient_a.name in notice
    assert people.patient_b.name in notice
    users = {u["id"]: u for u in client.get("/api/v1/admin/users").json()["items"]}
    assert users[people.patient_b.id]["active_therapists"] == 0
    assert users[people.patient_b.id]["care_team"] == "Tess B (disabled)"

    # A refused invitation shows why, and keeps what was typed.
    invitations = rows(settings, "SELECT * FROM invitations")
    response = client.post(
        "/admin/invitations", data={"display_name": "Dr Rowan Vale", "email": people.patient_b.email}
    )
    assert response.status_code == 409
    assert "already exists" in response.text
    assert 'value="Dr Rowan Vale"' in response.text
    assert f'value="{people.patient_b.email}"' in response.text
    assert rows(settings, "SELECT * FROM invitations") == invitations


def test_the_patient_page_assigns_and_removes_with_an_audit_row_each(
    client: Client, people: People, settings: Settings
) -> None:
    client.login(people.admin.email)

    added = client.post(
        f"/admin/patients/{people.patient_a.id}/care-team",
        data={"therapist_id": people.therapist_b.id},
        follow_redirects=False,
    )
    removed = client.post(
        f"/admin/patients/{people.patient_a.id}/care-team/{people.therapist_b.id}/remove", follow_redirects=False
    )

    assert (added.status_code, removed.status_code) == (303, 303)
    trail = query(
        settings,
        "SELECT action, actor_id, patient_id, object_id FROM audit_log WHERE action LIKE 'care_team.%' ORDER BY id",
    )
    assert [tuple(r) for r in trail] == [
        ("care_team.added", people.admin.id, people.patient_a.id, people.therapist_b.id),
        ("care_team.removed", people.admin.id, people.patient_a.id, people.therapist_b.id),
    ]


# --- every admin read of people's data leaves one audit row, naming the patient where there is one ---------


def test_every_admin_read_of_people_writes_one_audit_row(client: Client, people: People, settings: Settings) -> None:
    client.login(people.admin.email)
    patient, therapist = people.patient_a.id, people.therapist_a.id
    expected = [
        ("/admin", "admin.users.viewed", None, None),
        ("/api/v1/admin/users", "admin.users.viewed", None, None),
        ("/api/v1/admin/therapists", "admin.therapists.viewed", None, None),
        (f"/admin/therapists/{therapist}", "admin.caseload.viewed", None, therapist),
        (f"/api/v1/admin/therapists/{therapist}/patients", "admin.caseload.viewed", None, therapist),
        (f"/admin/patients/{patient}", "admin.care_team.viewed", patient, None),
        (f"/api/v1/admin/patients/{patient}/care-team", "admin.care_team.viewed", patient, None),
        ("/admin/audit", "admin.audit.viewed", None, None),
        (f"/admin/audit?patient={patient}", "admin.audit.viewed", patient, None),
        (f"/api/v1/admin/audit?patient={patient}", "admin.audit.viewed", patient, None),
        ("/admin/audit.csv", "admin.audit.downloaded", None, None),
        (f"/api/v1/admin/audit.csv?patient={patient}", "admin.audit.downloaded", patient, None),
    ]
    for url, action, patient_id, object_id in expected:
        before = audit_count(settings)
        assert client.get(url).status_code == 200, url
        assert audit_count(settings) == before + 1, url
        row = last_audit(settings)
        assert (row["action"], row["actor_id"], row["patient_id"]) == (action, people.admin.id, patient_id), url
        if object_id:
            assert row["object_id"] == object_id, url
