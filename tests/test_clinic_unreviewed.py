"""The caseload's "unreviewed" count reads only what changed since the therapist last marked the brief
reviewed (migration 0010's watermark), counts at most 100, and its queries use indexes, not scans."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import timedelta

from server.clinic import queries
from server.clock import iso
from server.settings import Settings
from tests.conftest import Client, Desk, FrozenClock, People, Person
from tests.test_clinic_brief import checkin, get_brief, unreviewed


def mark_all_reviewed(client: Client, patient: Person, up_to: str) -> None:
    response = client.post(f"/api/v1/patients/{patient.id}/reviewed", json={"up_to": up_to})
    assert response.status_code == 200, response.text


def test_an_entry_made_shared_after_the_review_counts_as_new(
    client: Client, people: People, clock: FrozenClock
) -> None:
    a = people.patient_a
    desk = Desk(client)
    desk(a)
    kept_private = checkin(client, "2026-11-20", 5, "private", note="not yet")
    checkin(client, "2026-11-20", 6)
    desk(people.therapist_a)
    mark_all_reviewed(client, a, get_brief(client, a)["as_of"])
    assert unreviewed(client, a) == 0

    clock.advance(minutes=5)
    desk(a)
    response = client.put(
        f"/api/v1/checkins/{kept_private}",
        json={"local_date": "2026-11-20", "mood": 5, "note": "not yet", "sharing": "shared"},
    )
    assert response.status_code == 200, response.text
    desk(people.therapist_a)
    assert unreviewed(client, a) == 1
    assert get_brief(client, a)["new_entry_ids"] == [kept_private]


def test_a_review_dated_in_the_future_does_not_hide_what_comes_later(
    client: Client, people: People, clock: FrozenClock
) -> None:
    a = people.patient_a
    desk = Desk(client)
    desk(a)
    checkin(client, "2026-11-20", 6)
    desk(people.therapist_a)
    mark_all_reviewed(client, a, iso(clock.now() + timedelta(days=30)))
    assert unreviewed(client, a) == 0

    clock.advance(minutes=5)
    desk(a)
    later = checkin(client, "2026-11-21", 4)
    desk(people.therapist_a)
    assert unreviewed(client, a) == 1
    assert get_brief(client, a)["new_entry_ids"] == [later]


def test_more_than_a_hundred_unreviewed_entries_show_as_100_plus(client: Client, people: People) -> None:
    a = people.patient_a
    desk = Desk(client)
    desk(a)
    for _ in range(queries.UNREVIEWED_CAP + 1):
        checkin(client, "2026-11-20", 6)
    desk(people.therapist_a)

    assert unreviewed(client, a) == queries.UNREVIEWED_CAP
    row = re.search(rf'<a href="/clinic/patients/{a.id}">.*?</tr>', client.get("/clinic").text, re.S)
    assert row is not None and f"<td>{queries.UNREVIEWED_CAP}+</td>" in row.group(0)


def test_the_caseload_queries_seek_indexes_instead_of_scanning(settings: Settings, people: People) -> None:
    conn = sqlite3.connect(settings.database_path)
    try:
        days = json.dumps([[people.patient_a.id, "2026-11-21", "2026-11-15", "2026-11-08", "2026-11-14"]])
        plans = {
            "caseload": conn.execute(
                f"EXPLAIN QUERY PLAN {queries.CASELOAD}",
                {"therapist_id": people.therapist_a.id, "clinic_id": 1, "days": days, "now": "2026-11-21"},
            ).fetchall(),
            "scores": conn.execute(f"EXPLAIN QUERY PLAN {queries.SCORES}", (people.therapist_a.id,)).fetchall(),
        }
    finally:
        conn.close()
    for name, plan in plans.items():
        details = [row[3] for row in plan]
        # Read in full by design: the caseload's own list of days, one per patient (json_each, d), the two
        # instruments (i), the care team's patients once gathered (t), a subquery's rows (at most
        # UNREVIEWED_CAP).
        allowed = ("json_each", "SCAN d", "(subquery", "CONSTANT ROW", "SCAN i", "SCAN t")
        scans = [d for d in details if d.startswith("SCAN") and not any(a in d for a in allowed)]
        assert scans == [], (name, details)
    assert any("entries_visible_updated" in row[3] for row in plans["caseload"]), plans["caseload"]
