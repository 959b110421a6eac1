"""Journal entries through the JSON API: idempotent PUT to a client UUID, versions, the stale-edit 409,
deletion, reach, validation at the edge, prompt text kept with answers, drafts and date-range lists.

Every kind of entry (check-in, reflection, aftercare report, questionnaire) goes through the same checks."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from server.settings import Settings
from tests.conftest import Client, FrozenClock, People, Person, count, query

SESSION = {"scheduled_for": "2026-11-20T16:00:00Z", "route": "im", "series": "induction", "dose_mg": 50}

Body = dict[str, Any]


def new_id() -> str:
    return str(uuid.uuid4())


def record_session(client: Client, therapist: Person, patient: Person) -> str:
    """The therapist records a ketamine session for the patient (leaves the therapist signed in)."""
    client.login(therapist.email)
    response = client.post(f"/api/v1/patients/{patient.id}/kap-sessions", json=SESSION)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def rows(settings: Settings, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in query(settings, sql, params)]


def snapshot(settings: Settings) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every row of entries and entry_versions, to prove a refused write changed nothing."""
    return (
        rows(settings, "SELECT * FROM entries ORDER BY id"),
        rows(settings, "SELECT * FROM entry_versions ORDER BY entry_id, version"),
    )


def entry_row(settings: Settings, entry_id: str) -> sqlite3.Row:
    found = query(settings, "SELECT * FROM entries WHERE id = ?", (entry_id,))
    assert len(found) == 1, f"expected one entries row for {entry_id}, found {len(found)}"
    return found[0]


def names_field(response: Any, field: str) -> bool:
    body = response.json()
    texts = [str(body.get("detail", ""))]
    texts += [f"{e.get('field', '')} {e.get('message', '')}" for e in body.get("errors", [])]
    return any(field in text for text in texts)


@dataclass(frozen=True)
class Kind:
    path: str
    db_kind: str
    needs_session: bool
    first: Callable[[str | None], Body]
    second: Callable[[str | None], Body]
    third: Callable[[str | None], Body]


def _checkin(mood: int, note: str) -> Callable[[str | None], Body]:
    return lambda _sid: {
        "mood": mood,
        "anxiety": 3,
        "energy": 5,
        "sleep_hours": 7.5,
        "tags": ["calm", "walk"],
        "note": note,
        "sharing": "shared",
    }


def _reflection(text: str) -> Callable[[str | None], Body]:
    return lambda _sid: {
        "kind": "integration",
        "prompt_set": "integration-v1",
        "answers": [{"prompt_id": "insight", "text": text}],
        "sharing": "discuss",
    }


def _aftercare(nausea: int, note: str) -> Callable[[str | None], Body]:
    return lambda sid: {"kap_session_id": sid, "symptoms": {"nausea": nausea, "headache": 1}, "note": note}


def _phq9(answers: list[int]) -> Callable[[str | None], Body]:
    return lambda _sid: {"instrument": "phq9", "answers": answers, "sharing": "shared"}


KINDS = [
    Kind("checkins", "checkin", False, _checkin(6, "first note"), _checkin(4, "second note"), _checkin(2, "third")),
    Kind(
        "reflections",
        "reflection",
        False,
        _reflection("first insight"),
        _reflection("second insight"),
        _reflection("third insight"),
    ),
    Kind("aftercare", "aftercare", True, _aftercare(1, "queasy"), _aftercare(2, "worse"), _aftercare(0, "gone")),
    Kind(
        "questionnaires",
        "questionnaire",
        False,
        _phq9([0, 1, 2, 0, 0, 1, 0, 0, 0]),
        _phq9([1, 1, 2, 0, 0, 1, 0, 0, 0]),
        _phq9([2, 2, 2, 0, 0, 1, 0, 0, 0]),
    ),
]
KIND_IDS = [k.path for k in KINDS]


def start(client: Client, people: People, kind: Kind) -> str | None:
    """Sign patient A in, after therapist A recorded a session when this kind of entry needs one."""
    session_id = record_session(client, people.therapist_a, people.patient_a) if kind.needs_session else None
    client.login(people.patient_a.email)
    return session_id


def versions_of(settings: Settings, entry_id: str) -> list[sqlite3.Row]:
    return query(settings, "SELECT * FROM entry_versions WHERE entry_id = ? ORDER BY version", (entry_id,))


# --- PUT: create, replay, update -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_put_creates_replays_and_keeps_the_previous_version(
    kind: Kind, client: Client, people: People, settings: Settings, clock: FrozenClock
) -> None:
    session_id = start(client, people, kind)
    entry_id = new_id()
    url = f"/api/v1/{kind.path}/{entry_id}"

    created = client.put(url, json=kind.first(session_id))
    assert created.status_code == 201, created.text
    assert created.json()["id"] == entry_id
    assert created.json()["version"] == 1
    first_body = entry_row(settings, entry_id)["body"]
    assert entry_row(settings, entry_id)["kind"] == kind.db_kind

    clock.advance(minutes=3)
    replayed = client.put(url, json=kind.first(session_id))
    assert replayed.status_code == 200, replayed.text
    assert replayed.json() == created.json()  # same version, same timestamps: nothing was written
    assert count(settings, "entries", "id = ?", (entry_id,)) == 1
    assert count(settings, "entries") == 1
    assert versions_of(settings, entry_id) == []
    assert entry_row(settings, entry_id)["updated_at"] == created.json()["updated_at"]

    clock.advance(minutes=3)
    updated = client.put(url, json=kind.second(session_id))
    assert updated.status_code == 200, updated.text
    assert updated.json()["version"] == 2
    assert updated.json()["created_at"] == created.json()["created_at"]
    assert updated.json()["updated_at"] > created.json()["updated_at"]
    stored = entry_row(settings, entry_id)
    assert stored["version"] == 2
    assert stored["body"] != first_body
    kept = versions_of(settings, entry_id)
    assert len(kept) == 1
    assert kept[0]["version"] == 1
    assert json.loads(kept[0]["body"]) == json.loads(first_body)
    assert kept[0]["patient_id"] == people.patient_a.id
    assert count(settings, "entries") == 1

    fetched = client.get(url)
    assert fetched.status_code == 200
    assert fetched.json() == updated.json()


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_an_edit_based_on_an_old_version_is_refused_with_the_stored_copy(
    kind: Kind, client: Client, people: People, settings: Settings
) -> None:
    session_id = start(client, people, kind)
    url = f"/api/v1/{kind.path}/{new_id()}"
    assert client.put(url, json=kind.first(session_id)).status_code == 201
    assert client.put(url, json={**kind.second(session_id), "base_version": 1}).status_code == 200
    stored_copy = client.get(url).json()
    assert stored_copy["version"] == 2
    before = snapshot(settings)

    stale = client.put(url, json={**kind.third(session_id), "base_version": 1})

    assert stale.status_code == 409, stale.text
    assert stale.json()["current"] == stored_copy
    assert stale.json()["detail"]
    assert snapshot(settings) == before
    assert client.get(url).json() == stored_copy

    # The same edit based on the current version goes through.
    fresh = client.put(url, json={**kind.third(session_id), "base_version": 2})
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["version"] == 3


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_delete_removes_the_entry_and_its_versions(
    kind: Kind, client: Client, people: People, settings: Settings
) -> None:
    session_id = start(client, people, kind)
    entry_id = new_id()
    url = f"/api/v1/{kind.path}/{entry_id}"
    keep_id = new_id()
    assert client.put(f"/api/v1/{kind.path}/{keep_id}", json=kind.first(session_id)).status_code == 201
    assert client.put(url, json=kind.first(session_id)).status_code == 201
    assert client.put(url, json=kind.second(session_id)).status_code == 200
    assert len(versions_of(settings, entry_id)) == 1

    deleted = client.delete(url)

    assert deleted.status_code == 204
    assert client.get(url).status_code == 404
    assert count(settings, "entries", "id = ?", (entry_id,)) == 0
    assert versions_of(settings, entry_id) == []
    assert count(settings, "entries", "id = ?", (keep_id,)) == 1  # only the one entry went
    assert client.delete(url).status_code == 404


def test_delete_under_another_kinds_path_is_404_and_deletes_nothing(
    client: Client, people: People, settings: Settings
) -> None:
    client.login(people.patient_a.email)
    entry_id = new_id()
    assert client.put(f"/api/v1/checkins/{entry_id}", json={"mood": 5}).status_code == 201
    before = snapshot(settings)

    assert client.delete(f"/api/v1/reflections/{entry_id}").status_code == 404
    assert client.get(f"/api/v1/questionnaires/{entry_id}").status_code == 404
    reused = client.put(f"/api/v1/questionnaires/{entry_id}", json={"instrument": "gad7", "answers": [0] * 7})
    assert reused.status_code in (404, 409, 422), reused.text
    assert snapshot(settings) == before


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_another_patients_entry_id_is_404_and_left_alone(
    kind: Kind, client: Client, people: People, settings: Settings
) -> None:
    theirs_session = record_session(client, people.therapist_b, people.patient_b) if kind.needs_session else None
    mine_session = start(client, people, kind)
    entry_id = new_id()
    url = f"/api/v1/{kind.path}/{entry_id}"
    assert client.put(url, json=kind.first(mine_session)).status_code == 201
    before = snapshot(settings)

    client.login(people.patient_b.email)
    overwrite = client.put(url, json=kind.second(theirs_session))
    assert overwrite.status_code == 404, overwrite.text
    assert client.put(url, json={**kind.second(theirs_session), "base_version": 1}).status_code == 404
    assert client.get(url).status_code == 404
    assert client.delete(url).status_code == 404
    assert entry_row(settings, entry_id)["patient_id"] == people.patient_a.id
    assert snapshot(settings) == before
    assert count(settings, "entries", "patient_id = ?", (people.patient_b.id,)) == 0


# --- validation at the edge --------------------------------------------------------------------------------

SESSION_PLACEHOLDER = "<session>"
# (kind path, a valid body, the invalid body, the field the error must name)
INVALID: list[tuple[str, Body, Body, str]] = [
    ("checkins", {"mood": 5}, {"mood": 11}, "mood"),
    ("checkins", {"mood": 5}, {"mood": 5, "note": "x" * 2001}, "note"),
    ("checkins", {"mood": 5}, {"mood": 5, "sleep_hours": 25}, "sleep_hours"),
    ("checkins", {"mood": 5}, {"mood": 5, "tags": [f"tag{i}" for i in range(21)]}, "tags"),
    ("checkins", {"mood": 5}, {"mood": 5, "favourite_colour": "blue"}, "favourite_colour"),
    ("checkins", {"mood": 5}, {"mood": 5, "local_date": "2026-02-30"}, "local_date"),
    (
        "questionnaires",
        {"instrument": "phq9", "answers": [0] * 9},
        {"instrument": "phq9", "answers": [0] * 8},
        "answers",
    ),
    (
        "questionnaires",
        {"instrument": "phq9", "answers": [0] * 9},
        {"instrument": "phq9", "answers": [0, 0, 0, 4, 0, 0, 0, 0, 0]},
        "answers",
    ),
    (
        "reflections",
        {"kind": "integration", "prompt_set": "integration-v1", "answers": [{"prompt_id": "insight", "text": "ok"}]},
        {"kind": "integration", "prompt_set": "integration-v1", "answers": [{"prompt_id": "horoscope", "text": "x"}]},
        "answers",
    ),
    (
        "aftercare",
        {"kap_session_id": SESSION_PLACEHOLDER, "symptoms": {"nausea": 3}},
        {"kap_session_id": SESSION_PLACEHOLDER, "symptoms": {"nausea": 4}},
        "nausea",
    ),
]


def _with_session(body: Body, session_id: str | None) -> Body:
    return {k: (session_id if v == SESSION_PLACEHOLDER else v) for k, v in body.items()}


@pytest.mark.parametrize(
    ("path", "valid", "invalid", "field"),
    INVALID,
    ids=[f"{p}-{f}-{i}" for i, (p, _, _, f) in enumerate(INVALID)],
)
def test_an_invalid_entry_is_refused_naming_the_field_and_nothing_changes(
    path: str, valid: Body, invalid: Body, field: str, client: Client, people: People, settings: Settings
) -> None:
    session_id = record_session(client, people.therapist_a, people.patient_a) if path == "aftercare" else None
    client.login(people.patient_a.email)
    existing_id = new_id()
    existing = client.put(f"/api/v1/{path}/{existing_id}", json=_with_session(valid, session_id))
    assert existing.status_code == 201, existing.text
    before = snapshot(settings)
    bad = _with_session(invalid, session_id)

    for target in (new_id(), existing_id):  # neither a new entry nor an update of an existing one
        refused = client.put(f"/api/v1/{path}/{target}", json=bad)
        assert refused.status_code in (400, 422), refused.text
        assert names_field(refused, field), refused.text

    assert snapshot(settings) == before
    assert count(settings, "entries") == 1


def test_a_client_sent_score_is_never_trusted(client: Client, people: People, settings: Settings) -> None:
    client.login(people.patient_a.email)
    entry_id = new_id()
    answers = [3, 3, 3, 0, 0, 0, 0, 0, 0]  # a total of 9: mild

    response = client.put(
        f"/api/v1/questionnaires/{entry_id}", json={"instrument": "phq9", "answers": answers, "score": 0}
    )

    if response.status_code == 400:
        assert names_field(response, "score"), response.text
        assert count(settings, "entries") == 0
    else:
        assert response.status_code == 201, response.text
        assert response.json()["score"] == 9
        assert entry_row(settings, entry_id)["score"] == 9


def test_the_server_scores_a_questionnaire_from_its_answers(client: Client, people: People, settings: Settings) -> None:
    client.login(people.patient_a.email)
    phq9, gad7 = new_id(), new_id()

    scored = client.put(
        f"/api/v1/questionnaires/{phq9}", json={"instrument": "phq9", "answers": [3, 3, 3, 1, 0, 0, 0, 0, 0]}
    )
    anxious = client.put(
        f"/api/v1/questionnaires/{gad7}", json={"instrument": "gad7", "answers": [2, 2, 2, 2, 2, 2, 3]}
    )

    assert scored.status_code == 201, scored.text
    assert (scored.json()["score"], scored.json()["severity"]) == (10, "moderate")
    assert (anxious.json()["score"], anxious.json()["severity"]) == (15, "severe")
    assert entry_row(settings, phq9)["score"] == 10
    assert entry_row(settings, gad7)["subkind"] == "gad7"


# --- reflections: prompt text kept, drafts ---------------------------------------------------------------


def test_a_reflection_keeps_the_prompt_text_it_was_shown(client: Client, people: People, settings: Settings) -> None:
    client.login(people.patient_a.email)
    sets = client.get("/api/v1/prompt-sets")
    assert sets.status_code == 200
    integration = next(s for s in sets.json()["items"] if s["id"] == "integration-v1")
    shown = {p["id"]: p["text"] for p in integration["prompts"]}
    entry_id = new_id()
    body = {
        "kind": "integration",
        "prompt_set": "integration-v1",
        "answers": [
            {"prompt_id": "insight", "text": "I am allowed to rest."},
            {"prompt_id": "body", "text": "Warmth in my chest."},
        ],
        "sharing": "shared",
    }

    saved = client.put(f"/api/v1/reflections/{entry_id}", json=body)

    assert saved.status_code == 201, saved.text
    answers = saved.json()["answers"]
    assert [(a["prompt_id"], a["prompt"], a["text"]) for a in answers] == [
        ("insight", shown["insight"], "I am allowed to rest."),
        ("body", shown["body"], "Warmth in my chest."),
    ]
    assert shown["insight"] in entry_row(settings, entry_id)["body"]

    # The clinic later rewords the prompt: what the patient answered still shows the wording they saw.
    query(
        settings,
        "UPDATE prompts SET text = 'Reworded' WHERE prompt_set_id = 'integration-v1' AND prompt_id = 'insight'",
    )
    again = client.get(f"/api/v1/reflections/{entry_id}").json()["answers"]
    assert again[0]["prompt"] == shown["insight"]


def test_a_draft_autosaves_without_history_and_a_finished_entry_cannot_go_back(
    client: Client, people: People, settings: Settings, clock: FrozenClock
) -> None:
    client.login(people.patient_a.email)
    entry_id = new_id()
    url = f"/api/v1/reflections/{entry_id}"

    def body(text: str, status: str) -> Body:
        answers = [{"prompt_id": "what_happened", "text": text}]
        return {"kind": "integration", "prompt_set": "integration-v1", "answers": answers, "status": status}

    assert client.put(url, json=body("I", "draft")).status_code == 201
    for text in ("I saw", "I saw the sea", "I saw the sea, and"):
        clock.advance(seconds=5)
        autosave = client.put(url, json=body(text, "draft"))
        assert autosave.status_code == 200, autosave.text
        assert autosave.json()["status"] == "draft"
    assert versions_of(settings, entry_id) == []
    assert entry_row(settings, entry_id)["status"] == "draft"
    assert "I saw the sea, and" in entry_row(settings, entry_id)["body"]

    finished = client.put(url, json=body("I saw the sea, and it was calm.", "final"))
    assert finished.status_code == 200, finished.text
    assert finished.json()["status"] == "final"
    assert versions_of(settings, entry_id) == []
    before = snapshot(settings)

    back = client.put(url, json=body("second thoughts", "draft"))

    assert back.status_code == 422, back.text
    assert names_field(back, "status")
    assert snapshot(settings) == before
    assert entry_row(settings, entry_id)["status"] == "final"


# --- lists -------------------------------------------------------------------------------------------------


def test_lists_filter_on_the_local_date(client: Client, people: People) -> None:
    client.login(people.patient_a.email)
    by_date = {day: new_id() for day in ("2026-11-19", "2026-11-20", "2026-11-21", "2026-11-22")}
    for day, entry_id in by_date.items():
        response = client.put(f"/api/v1/checkins/{entry_id}", json={"mood": 5, "local_date": day})
        assert response.status_code == 201, response.text
    reflection_id = new_id()
    reflection = {
        "kind": "free",
        "answers": [{"prompt_id": "free", "text": "not a check-in"}],
        "local_date": "2026-11-20",
    }
    assert client.put(f"/api/v1/reflections/{reflection_id}", json=reflection).status_code == 201

    def ids(url: str) -> set[str]:
        response = client.get(url)
        assert response.status_code == 200, response.text
        return {item["id"] for item in response.json()["items"]}

    assert ids("/api/v1/checkins?since=2026-11-20&until=2026-11-21") == {by_date["2026-11-20"], by_date["2026-11-21"]}
    assert ids("/api/v1/checkins?since=2026-11-21") == {by_date["2026-11-21"], by_date["2026-11-22"]}
    assert ids("/api/v1/checkins?until=2026-11-19") == {by_date["2026-11-19"]}
    assert ids("/api/v1/checkins") == set(by_date.values())
    assert ids("/api/v1/reflections?since=2026-11-20&until=2026-11-20") == {reflection_id}

    bad = client.get("/api/v1/checkins?since=last-week")
    assert bad.status_code in (400, 422)
    assert names_field(bad, "since")


@pytest.mark.parametrize(
    "since",
    ["2026-11-21T13:00:00+02:00", "2026-11-21T12:00:00Z"],
    ids=["offset-one-hour-before", "exact-boundary-inclusive"],
)
def test_a_date_time_since_filter_compares_instants(since: str, client: Client, people: People) -> None:
    client.login(people.patient_a.email)  # the clock stands at 2026-11-21T12:00:00Z
    entry_id = new_id()
    assert client.put(f"/api/v1/checkins/{entry_id}", json={"mood": 5}).status_code == 201

    response = client.get("/api/v1/checkins", params={"since": since})

    assert response.status_code == 200, response.text
    assert [item["id"] for item in response.json()["items"]] == [entry_id]


def test_an_entry_cannot_link_another_patients_session(client: Client, people: People, settings: Settings) -> None:
    theirs = record_session(client, people.therapist_b, people.patient_b)
    client.login(people.patient_a.email)

    aftercare = client.put(f"/api/v1/aftercare/{new_id()}", json={"kap_session_id": theirs, "note": "x"})
    reflection = client.put(
        f"/api/v1/reflections/{new_id()}",
        json={"kind": "free", "kap_session_id": theirs, "answers": [{"prompt_id": "free", "text": "x"}]},
    )

    for refused in (aftercare, reflection):
        assert refused.status_code == 422, refused.text
        assert names_field(refused, "kap_session_id")
    assert count(settings, "entries") == 0


def test_an_entry_page_has_its_own_heading(client: Client, people: People) -> None:
    client.login(people.patient_a.email)
    entry_id = str(uuid.uuid4())
    assert client.put(f"/api/v1/checkins/{entry_id}", json={"mood": 5, "local_date": "2026-11-20"}).status_code == 201
    page = client.get(f"/entries/{entry_id}")
    assert page.status_code == 200
    assert "<h1>Your entry of 2026-11-20</h1>" in page.text
