"""Prompt sets: an admin publishes a new version; new entries use it, entries already written keep the
prompts they were shown, and published versions are never edited."""

from __future__ import annotations

import json
import uuid
from typing import Any

from server.settings import Settings
from tests.conftest import Client, People, query
from tests.test_admin_support import audit_count, rows

URL = "/api/v1/admin/prompt-sets"
OLD_INSIGHT = "What insight, if any, are you taking from it?"
NEW_INSIGHT = "What do you understand now that you did not before?"


def prompt_tables(settings: Settings) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    return (
        rows(settings, "SELECT * FROM prompt_sets ORDER BY id"),
        rows(settings, "SELECT * FROM prompts ORDER BY prompt_set_id, position"),
    )


def reflect(client: Client, answer: str) -> dict[str, Any]:
    entry_id = str(uuid.uuid4())
    body = {"kind": "integration", "answers": [{"prompt_id": "insight", "text": answer}], "sharing": "shared"}
    response = client.put(f"/api/v1/reflections/{entry_id}", json=body)
    assert response.status_code == 201, response.text
    saved: dict[str, Any] = response.json()
    return saved


def test_a_new_version_is_used_by_the_next_reflection_and_old_entries_keep_their_prompts(
    client: Client, people: People, settings: Settings
) -> None:
    client.login(people.patient_a.email)
    before = reflect(client, "That I can rest.")
    assert (before["prompt_set"], before["answers"][0]["prompt"]) == ("integration-v1", OLD_INSIGHT)
    v1_prompts = rows(settings, "SELECT * FROM prompts WHERE prompt_set_id = 'integration-v1' ORDER BY position")

    client.login(people.admin.email)
    published = client.post(
        URL,
        json={
            "kind": "integration",
            "title": "Integration reflection",
            "intro": "  One question at a time.  ",
            "prompts": [
                {"id": "insight", "text": NEW_INSIGHT, "hint": "A sentence is enough."},
                {"id": "body", "text": "What does your body remember?"},
            ],
        },
    )

    assert published.status_code == 201, published.text
    assert published.json()["id"] == "integration-v2"
    assert (published.json()["version"], published.json()["current"], published.json()["intro"]) == (
        2,
        True,
        "One question at a time.",
    )
    listed = {(s["id"], s["current"]) for s in client.get(URL).json()["items"] if s["kind"] == "integration"}
    assert listed == {("integration-v1", False), ("integration-v2", True)}
    audit = query(settings, "SELECT * FROM audit_log WHERE action = 'prompt_set.published'")
    assert [(r["actor_id"], r["object_id"], json.loads(r["detail"])) for r in audit] == [
        (people.admin.id, "integration-v2", {"kind": "integration", "version": 2, "prompts": 2})
    ]

    client.login(people.patient_a.email)
    after = reflect(client, "That rest is allowed.")
    old = client.get(f"/api/v1/reflections/{before['id']}").json()
    patient_sets = {s["kind"]: s for s in client.get("/api/v1/prompt-sets").json()["items"]}

    assert (after["prompt_set"], after["answers"][0]["prompt"]) == ("integration-v2", NEW_INSIGHT)
    assert (old["prompt_set"], old["answers"][0]["prompt"]) == ("integration-v1", OLD_INSIGHT)
    assert patient_sets["integration"]["id"] == "integration-v2"
    assert [p["id"] for p in patient_sets["integration"]["prompts"]] == ["insight", "body"]
    assert patient_sets["intention"]["id"] == "intention-v1"
    # The published version was added beside the old one, never written over it.
    assert (
        rows(settings, "SELECT * FROM prompts WHERE prompt_set_id = 'integration-v1' ORDER BY position") == v1_prompts
    )


def test_a_refused_prompt_set_changes_nothing(client: Client, people: People, settings: Settings) -> None:
    client.login(people.admin.email)
    before, audited = prompt_tables(settings), audit_count(settings)

    def body(prompts: list[dict[str, str]] | None = None, **changes: Any) -> dict[str, Any]:
        one = [{"id": "why", "text": "Why?"}]
        return {"kind": "intention", "title": "Intention", "prompts": one if prompts is None else prompts} | changes

    refused = {
        "no prompts": body(prompts=[], title="Empty"),
        "thirty-one prompts": body([{"id": f"p{i}", "text": "Q?"} for i in range(31)]),
        "a capital in an id": body([{"id": "Insight", "text": "Q?"}]),
        "an id starting with a digit": body([{"id": "1st", "text": "Q?"}]),
        "an id of 41 characters": body([{"id": "a" * 41, "text": "Q?"}]),
        "a hyphen in an id": body([{"id": "why-now", "text": "Q?"}]),
        "empty text": body([{"id": "why", "text": ""}]),
        "text of spaces": body([{"id": "why", "text": "   "}]),
        "text of 301 characters": body([{"id": "why", "text": "x" * 301}]),
        "a hint of 301 characters": body([{"id": "why", "text": "Why?", "hint": "x" * 301}]),
        "two prompts with one id": body([{"id": "why", "text": "Why?"}, {"id": "why", "text": "Why not?"}]),
        "a kind that is not one": body(kind="free"),
        "a blank title": body(title=" "),
        "an unknown field": body(active=False),
        "an unknown prompt field": body([{"id": "why", "text": "Why?", "position": 3}]),
    }
    for why, data in refused.items():
        response = client.post(URL, json=data)
        assert response.status_code in (400, 422), (why, response.text)
        assert response.json()["errors"], why

    duplicate = client.post(
        URL, json=body([{"id": "a", "text": "A?"}, {"id": "b", "text": " "}, {"id": "a", "text": "C"}])
    )
    assert duplicate.status_code == 422
    assert [e["field"] for e in duplicate.json()["errors"]] == ["prompts[1].text", "prompts[2].id"]
    assert prompt_tables(settings) == before
    assert audit_count(settings) == audited


def test_the_new_version_form_copies_the_current_prompts_and_keeps_what_was_typed(
    client: Client, people: People, settings: Settings
) -> None:
    client.login(people.admin.email)
    form = client.get("/admin/prompt-sets/new?kind=quick_capture")
    assert form.status_code == 200
    for copied in (
        'value="what_happened"',
        'value="What happened? Write whatever comes, in any order."',
        'value="three_words"',
    ):
        assert copied in form.text, copied
    before = prompt_tables(settings)

    typed = {
        "kind": "quick_capture",
        "title": "Quick capture",
        "intro": "",
        "p0_id": "what_happened",
        "p0_text": "What happened?",
        "p0_hint": "",
        "p1_id": "what_happened",
        "p1_text": "Anything else you noticed?",
        "p1_hint": "",
        "p2_id": "",
        "p2_text": "",
        "p2_hint": "",
    }
    refused = client.post("/admin/prompt-sets", data=typed)

    assert refused.status_code == 422
    assert "Prompt 2: another prompt already has this id." in refused.text
    assert 'value="Anything else you noticed?"' in refused.text
    assert prompt_tables(settings) == before

    published = client.post(
        "/admin/prompt-sets", data={**typed, "p1_id": "noticed", "p2_text": "  "}, follow_redirects=False
    )

    assert published.status_code == 303
    assert published.headers["location"] == "/admin/prompt-sets?published=quick-capture-v2"
    assert "Published quick-capture-v2" in client.get(published.headers["location"]).text
    stored = rows(
        settings, "SELECT prompt_id, text FROM prompts WHERE prompt_set_id = 'quick-capture-v2' ORDER BY position"
    )
    assert stored == [("what_happened", "What happened?"), ("noticed", "Anything else you noticed?")]
