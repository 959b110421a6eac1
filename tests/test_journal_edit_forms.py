"""Editing an entry through its page without JavaScript keeps what the API keeps: its sharing, its date, and
the stale-edit check (an edit made on an older version is refused, not written over the newer one)."""

from __future__ import annotations

import re

from server.settings import Settings
from tests.conftest import Client, People
from tests.test_journal_entries import entry_row, new_id, record_session, snapshot


def test_an_aftercare_report_edited_on_its_page_stays_private_and_keeps_its_date(
    client: Client, people: People, settings: Settings
) -> None:
    session_id = record_session(client, people.therapist_a, people.patient_a)
    client.login(people.patient_a.email)
    entry_id = new_id()
    body = {"kap_session_id": session_id, "note": "a headache", "sharing": "private", "local_date": "2026-11-10"}
    assert client.put(f"/api/v1/aftercare/{entry_id}", json=body).status_code == 201

    form = client.get(f"/aftercare?session={session_id}&entry={entry_id}").text
    assert re.search(r'<option value="private"\s+selected', form), "the page offers the entry's own sharing"
    base_version = re.search(r'name="base_version" value="(\d+)"', form)
    assert base_version is not None and base_version.group(1) == "1"

    posted = client.post(
        f"/aftercare/{entry_id}",
        data={
            "kap_session_id": session_id,
            "note": "a headache, gone by evening",
            "sharing": "private",
            "base_version": base_version.group(1),
        },
        follow_redirects=False,
    )
    assert posted.status_code in (302, 303), posted.text
    row = entry_row(settings, entry_id)
    assert (row["sharing"], row["local_date"], row["version"]) == ("private", "2026-11-10", 2)


def test_a_reflection_form_posted_from_an_older_version_is_refused_and_changes_nothing(
    client: Client, people: People, settings: Settings
) -> None:
    client.login(people.patient_a.email)
    entry_id = new_id()
    url = f"/api/v1/reflections/{entry_id}"
    first = {"kind": "free", "answers": [{"prompt_id": "free", "text": "first"}]}
    assert client.put(url, json=first).status_code == 201
    newer = {
        "kind": "free",
        "answers": [{"prompt_id": "free", "text": "written on the other phone"}],
        "base_version": 1,
    }
    assert client.put(url, json=newer).status_code == 200
    before = snapshot(settings)

    stale = client.post(
        f"/reflect/free/{entry_id}",
        data={"answer:free": "from an old tab", "base_version": "1"},
        follow_redirects=False,
    )

    assert stale.status_code == 409, stale.text
    assert "from an old tab" in stale.text  # the page comes back with what was typed
    assert snapshot(settings) == before


def test_a_refused_check_in_comes_back_on_todays_real_page_with_what_was_typed(client: Client, people: People) -> None:
    client.login(people.patient_a.email)
    assert client.put(f"/api/v1/checkins/{new_id()}", json={"mood": 6}).status_code == 201

    refused = client.post("/checkin", data={"entry_id": new_id(), "mood": "11", "note": "kept words"})

    assert refused.status_code == 422
    assert "You checked in 1 time today" in refused.text  # Today as it is, not an empty stand-in
    assert "kept words" in refused.text
