"""The caseload's "unreviewed" count reads only what changed since the therapist last marked the brief
reviewed (migration 0010's watermark), or the patient's kept number of visible entries when the therapist
has marked nothing (migration 0011, whose kept summary is checked here too), counts at most 100, and its
queries use indexes, not scans."""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from datetime import timedelta
from typing import Any

from server.clinic import queries
from server.clock import iso
from server.journal.queries import team_visible
from server.settings import Settings
from tests.conftest import Client, Desk, FrozenClock, People, Person, query
from tests.test_clinic_brief import checkin, get_brief, put, unreviewed


def mark_reviewed(client: Client, patient: Person, up_to: str, entry_ids: list[str] | None = None) -> None:
    """Mark the patient's brief reviewed up to ``up_to``: all of it, or (``entry_ids``) those entries only."""
    body: dict[str, Any] = {"up_to": up_to} if entry_ids is None else {"up_to": up_to, "entry_ids": entry_ids}
    response = client.post(f"/api/v1/patients/{patient.id}/reviewed", json=body)
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
    mark_reviewed(client, a, get_brief(client, a)["as_of"])
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
    mark_reviewed(client, a, iso(clock.now() + timedelta(days=30)))
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


def test_marks_of_single_entries_without_a_watermark_are_compared_one_by_one(
    client: Client, people: People, clock: FrozenClock
) -> None:
    a = people.patient_a
    desk = Desk(client)
    desk(a)
    read, unread = checkin(client, "2026-11-20", 6), checkin(client, "2026-11-20", 5)
    desk(people.therapist_a)
    assert unreviewed(client, a) == 2

    mark_reviewed(client, a, iso(clock.now()), entry_ids=[read])
    assert unreviewed(client, a) == 1
    assert get_brief(client, a)["new_entry_ids"] == [unread]
    # Another therapist's marks are theirs alone.
    desk(people.therapist_b, fresh=True)
    assert client.get(f"/api/v1/patients/{a.id}/brief").status_code == 404


SUMMARY_COLUMNS = (
    "last_checkin_at, phq9_first, phq9_latest, phq9_latest_date, gad7_first, gad7_latest, gad7_latest_date"
)


def summaries(settings: Settings) -> tuple[dict[str, tuple[Any, ...]], dict[str, tuple[Any, ...]]]:
    """(kept by the triggers of migrations 0011 and 0013, computed again from the entries), per patient who
    has written."""
    kept = query(settings, f"SELECT patient_id, visible_entries, {SUMMARY_COLUMNS} FROM patient_summaries")
    computed = query(
        settings,
        f"SELECT patient_id, (SELECT count(*) FROM entries e WHERE e.patient_id = f.patient_id"
        f" AND {team_visible('e')}), {SUMMARY_COLUMNS} FROM caseload_facts f"
        " WHERE patient_id IN (SELECT patient_id FROM entries)",
    )
    return {r[0]: tuple(r)[1:] for r in kept}, {r[0]: tuple(r)[1:] for r in computed}


def test_the_kept_summary_follows_every_change_to_entries(client: Client, people: People, settings: Settings) -> None:
    a = people.patient_a
    desk = Desk(client)
    desk(a)

    def check(visible: int) -> tuple[Any, ...]:
        kept, computed = summaries(settings)
        assert kept == computed
        assert kept[a.id][0] == visible
        return kept[a.id]

    shared = checkin(client, "2026-11-20", 6)
    private = checkin(client, "2026-11-21", 5, "private", note="mine")
    discuss = checkin(client, "2026-11-19", 4, "discuss")
    phq9_first = put(
        client, "questionnaires", {"local_date": "2026-11-01", "instrument": "phq9", "answers": [2] * 8 + [0]}
    )
    phq9_latest = put(
        client, "questionnaires", {"local_date": "2026-11-20", "instrument": "phq9", "answers": [1] * 8 + [0]}
    )
    put(
        client,
        "questionnaires",
        {"local_date": "2026-11-21", "instrument": "gad7", "answers": [1] * 7, "sharing": "private"},
    )
    assert check(4)[2:5] == (16.0, 8.0, "2026-11-20")

    body = {"local_date": "2026-11-20", "mood": 5, "note": "mine"}
    assert client.put(f"/api/v1/checkins/{private}", json={**body, "sharing": "shared"}).status_code == 200
    assert client.put(f"/api/v1/checkins/{shared}", json={**body, "sharing": "private"}).status_code == 200
    assert (
        client.put(f"/api/v1/checkins/{discuss}", json={**body, "note": "edited", "sharing": "discuss"}).status_code
        == 200
    )
    check(4)
    latest = {"local_date": "2026-11-20", "instrument": "phq9", "answers": [1] * 8 + [0], "sharing": "private"}
    assert client.put(f"/api/v1/questionnaires/{phq9_latest}", json=latest).status_code == 200
    assert check(3)[2:5] == (16.0, 16.0, "2026-11-01")

    assert client.delete(f"/api/v1/checkins/{discuss}").status_code == 204
    assert client.delete(f"/api/v1/questionnaires/{phq9_first}").status_code == 204
    assert check(1)[2:] == (None,) * 6

    desk(people.therapist_a)
    assert unreviewed(client, a) == 1


def test_a_new_check_in_moves_the_kept_last_check_in_only_forward_and_only_when_shared(
    client: Client, people: People, settings: Settings, clock: FrozenClock
) -> None:
    """Migration 0013: a check-in's insert keeps the later of the two times instead of recounting the facts."""
    a = people.patient_a
    Desk(client)(a)

    def last_checkin() -> str | None:
        kept, computed = summaries(settings)
        assert kept == computed
        value: str | None = kept[a.id][1]
        return value

    checkin(client, "2026-11-20", 6)
    shared_at = iso(clock.now())
    assert last_checkin() == shared_at
    clock.advance(hours=1)
    checkin(client, "2026-11-21", 5, "private", note="mine")
    assert last_checkin() == shared_at  # a private check-in is not the team's last check-in
    clock.advance(hours=-3)  # the server's clock stepped back: an earlier time never replaces a later one
    checkin(client, "2026-11-21", 7, "discuss")
    assert last_checkin() == shared_at
    clock.advance(hours=5)
    checkin(client, "2026-11-21", 7, "discuss")
    assert last_checkin() == iso(clock.now())


DAILY_MOOD_COLUMNS = "checkins, mood_total, moods, anxiety_total, anxieties"


def daily_moods(settings: Settings, patient_id: str) -> dict[str, tuple[int, ...]]:
    """Migration 0014's daily sums of a patient's shared check-ins, after checking them against a fresh count:
    (check-ins, mood sum, moods, anxiety sum, anxieties) per local day."""
    kept = query(
        settings, f"SELECT local_date, {DAILY_MOOD_COLUMNS} FROM daily_moods WHERE patient_id = ?", (patient_id,)
    )
    computed = query(
        settings,
        "SELECT local_date, count(*), sum(mood), count(mood), coalesce(sum(anxiety), 0), count(anxiety) FROM entries e"
        f" WHERE patient_id = ? AND kind = 'checkin' AND {team_visible('e')} GROUP BY local_date",
        (patient_id,),
    )
    assert sorted(tuple(r) for r in kept) == sorted(tuple(r) for r in computed)
    return {r[0]: tuple(r)[1:] for r in kept}


def test_the_daily_mood_sums_follow_every_change_to_check_ins(
    client: Client, people: People, settings: Settings
) -> None:
    a = people.patient_a
    Desk(client)(a)

    def put_checkin(entry_id: str, day: str, mood: int, sharing: str = "shared", anxiety: int | None = None) -> None:
        body = {"local_date": day, "mood": mood, "anxiety": anxiety, "note": "", "sharing": sharing}
        assert client.put(f"/api/v1/checkins/{entry_id}", json=body).status_code in (200, 201)

    first, second, mine, third = (str(uuid.uuid4()) for _ in range(4))
    put_checkin(first, "2026-11-01", 4, anxiety=3)
    put_checkin(second, "2026-11-01", 7)  # no anxiety: it counts for the mood only
    put_checkin(mine, "2026-11-01", 9, "private", anxiety=9)
    put_checkin(third, "2026-11-02", 3, "discuss", anxiety=1)
    assert daily_moods(settings, a.id) == {"2026-11-01": (2, 11, 2, 3, 1), "2026-11-02": (1, 3, 1, 1, 1)}

    put_checkin(first, "2026-11-01", 2, anxiety=5)  # a new mood and anxiety
    assert daily_moods(settings, a.id)["2026-11-01"] == (2, 9, 2, 5, 1)
    put_checkin(first, "2026-11-02", 2, anxiety=5)  # another day
    assert daily_moods(settings, a.id) == {"2026-11-01": (1, 7, 1, 0, 0), "2026-11-02": (2, 5, 2, 6, 2)}
    put_checkin(first, "2026-11-02", 2, "private", anxiety=5)  # no longer shared
    assert daily_moods(settings, a.id) == {"2026-11-01": (1, 7, 1, 0, 0), "2026-11-02": (1, 3, 1, 1, 1)}
    assert client.delete(f"/api/v1/checkins/{first}").status_code == 204  # private: nothing to take away
    assert client.delete(f"/api/v1/checkins/{mine}").status_code == 204
    assert daily_moods(settings, a.id) == {"2026-11-01": (1, 7, 1, 0, 0), "2026-11-02": (1, 3, 1, 1, 1)}
    assert client.delete(f"/api/v1/checkins/{third}").status_code == 204
    assert daily_moods(settings, a.id) == {"2026-11-01": (1, 7, 1, 0, 0)}  # a day with nothing left goes

    # The brief's chart reads them: a day without an anxiety shows none.
    Desk(client)(people.therapist_a)
    mood = get_brief(client, a)["mood"]
    assert [m for m in mood if m["local_date"] == "2026-11-01"] == [
        {"local_date": "2026-11-01", "mood": 7.0, "anxiety": None, "checkins": 1}
    ]


def test_the_caseload_queries_seek_indexes_instead_of_scanning(settings: Settings, people: People) -> None:
    conn = sqlite3.connect(settings.database_path)
    try:
        days = json.dumps([["UTC", "2026-11-21", "2026-11-15", "2026-11-08", "2026-11-14"]])
        params = {"therapist_id": people.therapist_a.id, "clinic_id": 1, "days": days, "now": "2026-11-21"}
        plans = {
            "caseload": conn.execute(f"EXPLAIN QUERY PLAN {queries.CASELOAD}", params).fetchall(),
            "packed": conn.execute(f"EXPLAIN QUERY PLAN {queries.CASELOAD_PACKED}", params).fetchall(),
            "zones": conn.execute(f"EXPLAIN QUERY PLAN {queries.TEAM_ZONES}", params).fetchall(),
            # What the triggers of migration 0011 run on each write of a check-in or a questionnaire.
            "facts": conn.execute(
                f"EXPLAIN QUERY PLAN SELECT {SUMMARY_COLUMNS} FROM caseload_facts WHERE patient_id = ?",
                (people.patient_a.id,),
            ).fetchall(),
        }
    finally:
        conn.close()
    for name, plan in plans.items():
        details = [row[3] for row in plan]
        # Read in full by design: the caseload's list of time zones (json_each, d), a subquery's rows (at most
        # UNREVIEWED_CAP).
        allowed = ("json_each", "SCAN d", "(subquery", "CONSTANT ROW")
        scans = [d for d in details if d.startswith("SCAN") and not any(a in d for a in allowed)]
        assert scans == [], (name, details)
    expected = {
        "caseload": (
            "entries_visible_updated",
            "COVERING INDEX entry_reviews_patient",
            "SEARCH s USING PRIMARY KEY (patient_id=?)",  # patient_summaries
            "appointments_next_integration",
            "kap_sessions_next",
        ),
        "facts": ("entries_patient_kind", "entries_visible_score_values"),
    }
    for name, indexes in expected.items():
        details = " ".join(row[3] for row in plans[name])
        for index in indexes:
            assert index in details, (name, index, details)
