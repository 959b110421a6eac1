"""Privacy: a private entry is never shown to anyone else, in any view or export; drafts never reach the
care team; another team's therapist and another patient get 404; every clinician read is audited."""

from __future__ import annotations

import io
import uuid
import zipfile
from typing import Any

import msgspec

from server.settings import Settings
from tests.conftest import Client, People, query

SESSION = {"scheduled_for": "2026-11-20T16:00:00Z", "route": "sublingual", "series": "induction", "dose_mg": 100}


def new_id() -> str:
    return str(uuid.uuid4())


class Journal(msgspec.Struct):
    """What patient A wrote: ids and canary strings that must (shared) or must never (private) be seen."""

    session_id: str
    private: dict[str, str]  # canary or entry id -> what it is
    shared: dict[str, str]
    entry_ids: dict[str, str]  # label -> entry id


def canary(label: str) -> str:
    return f"canary-{label}-{uuid.uuid4().hex[:12]}"


def put(client: Client, path: str, entry_id: str, body: dict[str, Any]) -> None:
    response = client.put(f"/api/v1/{path}/{entry_id}", json=body)
    assert response.status_code == 201, response.text


def write_journal(client: Client, people: People) -> Journal:
    """Therapist A records a session; patient A writes one private and one shared entry of every kind, a
    'discuss' check-in, a shared draft reflection, and a safety plan. Leaves patient A signed in."""
    client.login(people.therapist_a.email)
    session = client.post(f"/api/v1/patients/{people.patient_a.id}/kap-sessions", json=SESSION)
    assert session.status_code == 201
    session_id = session.json()["id"]
    client.login(people.patient_a.email)
    journal = Journal(session_id=session_id, private={}, shared={}, entry_ids={})
    for sharing in ("private", "shared"):
        seen = journal.private if sharing == "private" else journal.shared
        ids = {kind: new_id() for kind in ("checkin", "reflection", "aftercare", "questionnaire")}
        texts = {kind: canary(f"{sharing}-{kind}") for kind in ("checkin", "reflection", "aftercare")}
        put(client, "checkins", ids["checkin"], {"mood": 6, "note": texts["checkin"], "sharing": sharing})
        reflection = {
            "kind": "integration",
            "kap_session_id": session_id,
            "prompt_set": "integration-v1",
            "answers": [{"prompt_id": "insight", "text": texts["reflection"]}],
            "sharing": sharing,
        }
        put(client, "reflections", ids["reflection"], reflection)
        aftercare = {"kap_session_id": session_id, "symptoms": {"nausea": 1}, "note": texts["aftercare"]}
        put(client, "aftercare", ids["aftercare"], {**aftercare, "sharing": sharing})
        questionnaire = {"instrument": "phq9", "answers": [1, 1, 0, 0, 0, 0, 0, 0, 0], "sharing": sharing}
        put(client, "questionnaires", ids["questionnaire"], questionnaire)
        for kind, text in texts.items():
            seen[text] = f"{sharing} {kind} text"
        for kind, entry_id in ids.items():
            journal.entry_ids[f"{sharing}-{kind}"] = entry_id
            if sharing == "private":  # a shared entry's id is fine to see; a private one's is not
                seen[entry_id] = f"private {kind} id"
        seen[ids["questionnaire"]] = f"{sharing} questionnaire id"
    discuss_id, discuss_text = new_id(), canary("discuss-checkin")
    put(client, "checkins", discuss_id, {"mood": 7, "note": discuss_text, "sharing": "discuss"})
    journal.shared[discuss_text] = "discuss check-in text"
    draft_id, draft_text = new_id(), canary("draft-reflection")
    draft = {
        "kind": "integration",
        "prompt_set": "integration-v1",
        "answers": [{"prompt_id": "what_happened", "text": draft_text}],
        "sharing": "discuss",
        "status": "draft",
    }
    put(client, "reflections", draft_id, draft)
    journal.private[draft_text] = "draft reflection text"
    journal.private[draft_id] = "draft reflection id"
    journal.entry_ids["draft-reflection"] = draft_id
    assert client.put("/api/v1/safety-plan", json={"reason_for_living": "the garden"}).status_code == 200
    return journal


def patient_routes(patient_id: str) -> list[str]:
    base = f"/api/v1/patients/{patient_id}"
    return [
        f"{base}/entries",
        f"{base}/export",
        f"{base}/export.csv",
        f"{base}/export.fhir.json",
        base,
        f"{base}/safety-plan",
        f"{base}/kap-sessions",
    ]


def readable(response: Any) -> str:
    """A response's content as text; a zip is opened and every file in it read."""
    if response.headers.get("content-type", "").startswith("application/zip"):
        with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
            names = archive.namelist()
            assert names, "empty zip"
            return "\n".join(f"== {name}\n" + archive.read(name).decode() for name in names)
    return str(response.text)


def therapist_views(client: Client, patient_id: str) -> dict[str, str]:
    views = {}
    for url in [*patient_routes(patient_id), "/api/v1/patients", "/clinic"]:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code, response.text[:300])
        views[url] = readable(response)
    return views


# --- what the care team sees ------------------------------------------------------------------------------


def test_the_care_team_never_sees_a_private_entry_or_a_draft_anywhere(client: Client, people: People) -> None:
    journal = write_journal(client, people)
    client.login(people.therapist_a.email)

    views = therapist_views(client, people.patient_a.id)

    leaks = [(what, url) for url, text in views.items() for secret, what in journal.private.items() if secret in text]
    assert leaks == []
    entries_url = f"/api/v1/patients/{people.patient_a.id}/entries"
    missing = [what for shown, what in journal.shared.items() if shown not in views[entries_url]]
    assert missing == []
    # The exports carry the shared entries too (so the views above really were read).
    for fmt in ("export", "export.csv"):
        export = views[f"/api/v1/patients/{people.patient_a.id}/{fmt}"]
        assert [what for shown, what in journal.shared.items() if shown not in export] == []
    assert (
        journal.entry_ids["shared-questionnaire"] in views[f"/api/v1/patients/{people.patient_a.id}/export.fhir.json"]
    )
    assert "Pat A" in views["/clinic"]


def test_making_a_shared_entry_private_hides_it_at_once(client: Client, people: People) -> None:
    client.login(people.patient_a.email)
    entry_id = new_id()
    note = canary("soon-private")
    body = {
        "kind": "integration",
        "prompt_set": "integration-v1",
        "answers": [{"prompt_id": "remember", "text": note}],
        "sharing": "shared",
    }
    put(client, "reflections", entry_id, body)
    entries_url = f"/api/v1/patients/{people.patient_a.id}/entries"
    client.login(people.therapist_a.email)
    assert note in client.get(entries_url).text

    client.login(people.patient_a.email)
    hidden = client.put(f"/api/v1/reflections/{entry_id}", json={**body, "sharing": "private"})
    assert hidden.status_code == 200
    assert hidden.json()["sharing"] == "private"

    client.login(people.therapist_a.email)
    entries = client.get(entries_url)
    assert entries.status_code == 200
    assert entry_id not in entries.text
    assert note not in entries.text
    for url in patient_routes(people.patient_a.id)[1:4]:
        assert note not in readable(client.get(url))


# --- out of reach: 404 ----------------------------------------------------------------------------------


def test_another_teams_therapist_gets_404_on_every_patient_route(
    client: Client, people: People, settings: Settings
) -> None:
    journal = write_journal(client, people)
    tables = ("entries", "kap_sessions", "safety_plans", "safety_plan_versions", "questionnaire_schedules")
    before = {t: [tuple(r) for r in query(settings, f"SELECT * FROM {t} ORDER BY 1, 2")] for t in tables}
    client.login(people.therapist_b.email)
    base = f"/api/v1/patients/{people.patient_a.id}"

    answers = [
        (url, client.get(url)) for url in [*patient_routes(people.patient_a.id), f"{base}/questionnaire-schedule"]
    ]
    answers += [
        (f"PUT {base}/safety-plan", client.put(f"{base}/safety-plan", json={"reason_for_living": "x"})),
        (f"POST {base}/kap-sessions", client.post(f"{base}/kap-sessions", json=SESSION)),
        (f"PUT {base}/questionnaire-schedule", client.put(f"{base}/questionnaire-schedule", json={"window_days": 7})),
    ]

    assert [(url, r.status_code) for url, r in answers if r.status_code != 404] == []
    bodies = " ".join(r.text for _, r in answers)
    assert [what for secret, what in {**journal.private, **journal.shared}.items() if secret in bodies] == []
    assert "Pat A" not in bodies
    own = client.get("/api/v1/patients")
    assert own.status_code == 200
    assert [p["id"] for p in own.json()["items"]] == [people.patient_b.id]
    assert "Pat A" not in client.get("/clinic").text
    after = {t: [tuple(r) for r in query(settings, f"SELECT * FROM {t} ORDER BY 1, 2")] for t in tables}
    assert after == before
    reads = "SELECT count(*) AS n FROM audit_log WHERE actor_id = ? AND patient_id = ?"
    assert query(settings, reads, (people.therapist_b.id, people.patient_a.id))[0]["n"] == 0


def test_another_patient_gets_404_for_an_entry_that_is_not_theirs(
    client: Client, people: People, settings: Settings
) -> None:
    journal = write_journal(client, people)
    before = [tuple(r) for r in query(settings, "SELECT * FROM entries ORDER BY id")]
    client.login(people.patient_b.email)

    for label, path in (
        ("shared-checkin", "checkins"),
        ("private-checkin", "checkins"),
        ("shared-reflection", "reflections"),
        ("shared-aftercare", "aftercare"),
        ("shared-questionnaire", "questionnaires"),
    ):
        url = f"/api/v1/{path}/{journal.entry_ids[label]}"
        got = client.get(url)
        assert got.status_code == 404, (label, got.text)
        assert client.delete(url).status_code == 404
    listed = client.get("/api/v1/checkins")
    assert listed.status_code == 200
    assert listed.json()["items"] == []
    assert [tuple(r) for r in query(settings, "SELECT * FROM entries ORDER BY id")] == before


# --- every clinician read is audited ----------------------------------------------------------------------


def therapist_audit(settings: Settings, therapist_id: str) -> list[tuple[str, str | None]]:
    found = query(settings, "SELECT action, patient_id FROM audit_log WHERE actor_id = ? ORDER BY id", (therapist_id,))
    return [(r["action"], r["patient_id"]) for r in found]


def test_reading_the_entries_writes_one_audit_row(client: Client, people: People, settings: Settings) -> None:
    client.login(people.therapist_a.email)
    before = therapist_audit(settings, people.therapist_a.id)

    assert client.get(f"/api/v1/patients/{people.patient_a.id}/entries").status_code == 200

    after = therapist_audit(settings, people.therapist_a.id)
    assert len(after) == len(before) + 1
    assert after[-1] == ("entries.viewed", people.patient_a.id)


def test_every_clinician_read_writes_an_audit_row(client: Client, people: People, settings: Settings) -> None:
    client.login(people.therapist_a.email)
    patient = people.patient_a.id
    base = f"/api/v1/patients/{patient}"
    expected = {
        f"{base}/entries": ("entries.viewed", patient),
        f"{base}/export": ("export.downloaded", patient),
        f"{base}/export.csv": ("export.downloaded", patient),
        f"{base}/export.fhir.json": ("export.downloaded", patient),
        base: ("patient.viewed", patient),
        f"{base}/safety-plan": ("safety_plan.viewed", patient),
        f"{base}/kap-sessions": ("kap_sessions.viewed", patient),
        "/api/v1/patients": ("caseload.viewed", None),
        "/clinic": ("caseload.viewed", None),
    }
    for url, row in expected.items():
        before = therapist_audit(settings, people.therapist_a.id)
        response = client.get(url)
        assert response.status_code == 200, url
        added = therapist_audit(settings, people.therapist_a.id)[len(before) :]
        assert row in added, (url, added)
    formats = query(settings, "SELECT object_type FROM audit_log WHERE action = 'export.downloaded' ORDER BY id")
    assert [r["object_type"] for r in formats] == ["json", "csv", "fhir"]


# --- the sharing switch on the entry page -----------------------------------------------------------------

SHARED_CHECKIN = {"mood": 5, "note": "canary-sharing-switch-51aa", "sharing": "shared"}


def make_private_on_the_entry_page(client: Client, entry_id: str) -> None:
    switched = client.post(f"/entries/{entry_id}/sharing", data={"sharing": "private"}, follow_redirects=False)
    assert switched.status_code in (302, 303), switched.text
    assert client.get(f"/api/v1/checkins/{entry_id}").json()["sharing"] == "private"


def test_an_edit_from_before_a_sharing_switch_is_a_conflict(client: Client, people: People, settings: Settings) -> None:
    client.login(people.patient_a.email)
    entry_id = new_id()
    assert client.put(f"/api/v1/checkins/{entry_id}", json=SHARED_CHECKIN).status_code == 201
    make_private_on_the_entry_page(client, entry_id)

    # The other phone still holds version 1 (shared) and sends an edit of it.
    stale = client.put(f"/api/v1/checkins/{entry_id}", json={**SHARED_CHECKIN, "mood": 6, "base_version": 1})

    assert stale.status_code == 409, stale.json()
    assert query(settings, "SELECT sharing FROM entries WHERE id = ?", (entry_id,))[0]["sharing"] == "private"


def test_sharing_again_after_a_switch_on_the_entry_page_takes_effect(client: Client, people: People) -> None:
    client.login(people.patient_a.email)
    entry_id = new_id()
    assert client.put(f"/api/v1/checkins/{entry_id}", json=SHARED_CHECKIN).status_code == 201
    make_private_on_the_entry_page(client, entry_id)

    again = client.put(f"/api/v1/checkins/{entry_id}", json=SHARED_CHECKIN)

    assert again.status_code == 200
    assert again.json()["sharing"] == "shared"
