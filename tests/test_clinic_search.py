"""Full-text search (POST /api/v1/search, POST /clinic/search: the words never in a URL) over the shared,
finished entries of the therapist's own patients: highlighted, escaped snippets; never a private entry or a
draft, including one that was shared and then made private; never another care team's patient; the query is
never written to the audit log."""

from __future__ import annotations

import uuid
from typing import Any

from server.settings import Settings
from tests.conftest import Client, Desk, People, query


def put(client: Client, path: str, body: dict[str, Any], entry_id: str | None = None) -> str:
    entry_id = entry_id or str(uuid.uuid4())
    response = client.put(f"/api/v1/{path}/{entry_id}", json=body)
    assert response.status_code in (200, 201), response.text
    return entry_id


def checkin_body(note: str, sharing: str = "shared", tags: list[str] | None = None) -> dict[str, Any]:
    return {"local_date": "2026-11-20", "mood": 6, "note": note, "tags": tags or [], "sharing": sharing}


def free_body(text: str, sharing: str = "shared", status: str = "final") -> dict[str, Any]:
    return {
        "local_date": "2026-11-19",
        "kind": "free",
        "answers": [{"prompt_id": "free", "text": text}],
        "sharing": sharing,
        "status": status,
    }


def search(client: Client, q: str) -> list[dict[str, Any]]:
    response = client.post("/api/v1/search", json={"q": q})
    assert response.status_code == 200, response.text
    assert response.json()["query"] == q
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def indexed_rowids(settings: Settings, word: str) -> list[int]:
    """What the FTS5 index itself holds for ``word`` (not only what the query filters let through)."""
    return [r["rowid"] for r in query(settings, "SELECT rowid FROM entries_fts WHERE entries_fts MATCH ?", (word,))]


def rowid_of(settings: Settings, entry_id: str) -> int:
    return int(query(settings, "SELECT rowid FROM entries WHERE id = ?", (entry_id,))[0]["rowid"])


def test_search_finds_a_shared_entry_with_a_highlighted_escaped_snippet(client: Client, people: People) -> None:
    desk = Desk(client)
    desk(people.patient_a)
    shared = put(client, "checkins", checkin_body("The lighthouse again <script>alert(1)</script> tonight"))
    discuss = put(client, "reflections", free_body("I walked to the lighthouses with my sister", "discuss"))
    put(client, "checkins", checkin_body("nothing to see here"))
    desk(people.therapist_a)

    hits = search(client, "lighthouse")
    assert {h["entry_id"] for h in hits} == {shared, discuss}  # "lighthouses" matches too (stemmed)
    hit = next(h for h in hits if h["entry_id"] == shared)
    assert (hit["patient_id"], hit["patient_name"], hit["type"], hit["kind"], hit["local_date"]) == (
        people.patient_a.id,
        "Pat A",
        "checkin",
        None,
        "2026-11-20",
    )
    assert hit["snippet"] == "The lighthouse again <script>alert(1)</script> tonight"
    assert hit["snippet_html"] == "The <mark>lighthouse</mark> again &lt;script&gt;alert(1)&lt;/script&gt; tonight"
    reflection = next(h for h in hits if h["entry_id"] == discuss)
    assert (reflection["type"], reflection["kind"]) == ("reflection", "free")
    assert "<mark>lighthouses</mark>" in reflection["snippet_html"]

    assert [h["entry_id"] for h in search(client, "lightho")] != []  # the last word is a prefix
    assert [h["entry_id"] for h in search(client, "sister lighthouse")] == [discuss]  # every word required
    assert search(client, "lighthouse OR nothing") == []  # words, not FTS syntax: OR would find three
    assert search(client, 'lighthouse" OR "nothing') == []
    assert search(client, "***") == []

    page = client.post("/clinic/search", data={"q": "lighthouse"})
    assert page.status_code == 200
    assert "The <mark>lighthouse</mark> again &lt;script&gt;alert(1)&lt;/script&gt; tonight" in page.text
    assert "<script>alert(1)</script>" not in page.text
    assert f'href="/clinic/patients/{people.patient_a.id}#entry-{shared}"' in page.text
    assert "2 results" in page.text

    # An edit re-indexes the entry: the old words are gone, the new ones found.
    desk(people.patient_a)
    put(client, "checkins", checkin_body("The beacon again tonight"), entry_id=shared)
    desk(people.therapist_a)
    assert [h["entry_id"] for h in search(client, "lighthouse")] == [discuss]
    assert [h["entry_id"] for h in search(client, "beacon")] == [shared]


def test_results_are_ranked_by_relevance(client: Client, people: People) -> None:
    desk = Desk(client)
    desk(people.patient_a)
    once = put(client, "reflections", free_body("a long day at work, then the river, then dinner and a long call home"))
    often = put(client, "checkins", checkin_body("river river river"))
    desk(people.therapist_a)
    assert [h["entry_id"] for h in search(client, "river")] == [often, once]


def test_search_never_returns_a_private_entry_or_a_draft(client: Client, people: People, settings: Settings) -> None:
    desk = Desk(client)
    desk(people.patient_a)
    shared = put(client, "checkins", checkin_body("the orchard in bloom"))
    private = put(client, "checkins", checkin_body("the orchard where it happened", "private"))
    private_reflection = put(client, "reflections", free_body("orchard secrets", "private"))
    draft = put(client, "reflections", free_body("orchard draft words", "shared", "draft"))
    later_private = put(client, "reflections", free_body("orchard, shared for now"))
    desk(people.therapist_a)

    assert sorted(h["entry_id"] for h in search(client, "orchard")) == sorted([shared, later_private])
    assert search(client, "secrets") == [] and search(client, "happened") == [] and search(client, "draft") == []
    assert sorted(indexed_rowids(settings, "orchard")) == sorted(
        [rowid_of(settings, shared), rowid_of(settings, later_private)]
    )  # private entries and drafts are not even in the index

    # Made private with the same body: gone from results (and the index) at once.
    desk(people.patient_a)
    put(client, "reflections", free_body("orchard, shared for now", "private"), entry_id=later_private)
    desk(people.therapist_a)
    assert [h["entry_id"] for h in search(client, "orchard")] == [shared]
    assert indexed_rowids(settings, "orchard") == [rowid_of(settings, shared)]
    assert "shared for now" not in client.post("/clinic/search", data={"q": "orchard"}).text

    # A draft edited (still a draft) stays out; finished and shared, it is found; deleted, it is gone.
    desk(people.patient_a)
    put(client, "reflections", free_body("orchard draft words, more", "shared", "draft"), entry_id=draft)
    desk(people.therapist_a)
    assert search(client, "draft") == []
    desk(people.patient_a)
    put(client, "reflections", free_body("orchard draft words, final", "shared", "final"), entry_id=draft)
    desk(people.therapist_a)
    assert [h["entry_id"] for h in search(client, "draft")] == [draft]
    desk(people.patient_a)
    assert client.delete(f"/api/v1/reflections/{draft}").status_code == 204
    desk(people.therapist_a)
    assert search(client, "draft") == []
    assert indexed_rowids(settings, "draft") == []
    assert private not in str(search(client, "orchard")) and private_reflection not in str(search(client, "orchard"))


def test_a_therapist_never_finds_another_care_teams_patients(client: Client, people: People) -> None:
    desk = Desk(client)
    desk(people.patient_a)
    mine = put(client, "checkins", checkin_body("the harbour at dawn"))
    desk(people.patient_b)
    theirs = put(client, "checkins", checkin_body("the harbour at night"))

    desk(people.therapist_b)
    assert [(h["entry_id"], h["patient_name"]) for h in search(client, "harbour")] == [(theirs, "Pam B")]
    assert "dawn" not in client.post("/clinic/search", data={"q": "harbour"}).text
    desk(people.therapist_a)
    assert [(h["entry_id"], h["patient_name"]) for h in search(client, "harbour")] == [(mine, "Pat A")]
    assert search(client, "night") == []


def test_the_search_text_is_never_written_to_the_audit_log(client: Client, people: People, settings: Settings) -> None:
    desk = Desk(client)
    desk(people.patient_a)
    put(client, "checkins", checkin_body("zephyrine memories"))
    desk(people.therapist_a)
    before = len(query(settings, "SELECT id FROM audit_log"))

    assert len(search(client, "zephyrine")) == 1
    assert client.post("/clinic/search", data={"q": "zephyrine"}).status_code == 200
    assert client.get("/clinic/search").status_code == 200  # the empty search page reads nothing
    assert client.post("/clinic/search", data={"q": " "}).status_code == 200  # nor does an empty search

    rows = query(settings, "SELECT * FROM audit_log WHERE id > ? ORDER BY id", (before,))
    assert [(r["action"], r["actor_id"], r["patient_id"]) for r in rows] == [
        ("search.performed", people.therapist_a.id, None),
        ("search.performed", people.therapist_a.id, None),
    ]
    everything = " ".join(str(v) for r in query(settings, "SELECT * FROM audit_log") for v in tuple(r))
    assert "zephyrine" not in everything.lower()


def test_search_words_never_appear_in_a_url(client: Client, people: People) -> None:
    client.login(people.therapist_a.email)
    page = client.get("/clinic/search").text
    assert '<form method="post" action="/clinic/search"' in page
    assert client.get("/api/v1/search", params={"q": "harbour"}).status_code == 405
    too_long = client.post("/api/v1/search", json={"q": "x" * 201})
    assert too_long.status_code == 400
    assert "x" * 201 not in too_long.text
