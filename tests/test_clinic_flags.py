"""The flags queue (GET /api/v1/flags, /clinic/flags): open flags of the therapist's own patients, oldest
first, saying what raised them and showing an entry only when it is shared; acknowledgement with a note;
and the watcher's pattern flags (missed check-ins, a drop in the weekly mood average) from a controlled clock.

Now is Saturday 2026-11-21 12:00 UTC; patients' time zone is UTC; the clinic's missed-check-in threshold is
the default, 3 days.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from server.db import Database
from server.measures import flags
from server.settings import Settings
from tests.conftest import Client, Desk, FrozenClock, People, Person, query

CANARY = "CANARY"  # in the private entries that raise a flag: never shown to the care team


def run_watcher(settings: Settings, clock: FrozenClock) -> int:
    """One pass of the pattern watcher, on the real database file, at the test clock's time."""

    async def run() -> int:
        db = Database(settings.database_path, readers=1)
        await db.open()
        try:
            return await flags.evaluate_patterns(db, clock)
        finally:
            await db.close()

    return asyncio.run(run())


def checkin(client: Client, day: str, mood: int, sharing: str = "shared", note: str = "") -> str:
    entry_id = str(uuid.uuid4())
    body = {"local_date": day, "mood": mood, "note": note, "sharing": sharing}
    response = client.put(f"/api/v1/checkins/{entry_id}", json=body)
    assert response.status_code == 201, response.text
    return entry_id


def flags_of(settings: Settings, patient: Person, kind: str | None = None) -> list[dict[str, Any]]:
    rows = query(
        settings,
        "SELECT * FROM flags WHERE patient_id = ? AND (? IS NULL OR kind = ?) ORDER BY created_at, rowid",
        (patient.id, kind, kind),
    )
    return [dict(r) for r in rows]


def queue(client: Client) -> list[dict[str, Any]]:
    response = client.get("/api/v1/flags")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def raise_two_flags(client: Client, desk: Desk, people: People, clock: FrozenClock) -> tuple[str, str]:
    """Patient A: a low-mood flag from two PRIVATE check-ins, then (a minute later) a PHQ-9 item 9 flag from a
    shared questionnaire. Patient B: "I'm not safe". Returns the two entries that raised A's flags."""
    desk(people.patient_a)
    checkin(client, "2026-11-20", 1, "private", note=f"{CANARY} first low day")
    private = checkin(client, "2026-11-21", 0, "private", note=f"{CANARY} second low day")
    clock.advance(minutes=1)
    shared = str(uuid.uuid4())
    phq = client.put(
        f"/api/v1/questionnaires/{shared}",
        json={"instrument": "phq9", "answers": [1, 1, 1, 1, 1, 1, 1, 1, 1], "sharing": "shared"},
    )
    assert phq.status_code == 201 and phq.json()["safety_alert"] is True
    clock.advance(minutes=1)
    desk(people.patient_b)
    assert client.post("/api/v1/safety/not-safe").status_code == 200
    return private, shared


def test_the_queue_lists_own_patients_open_flags_oldest_first_with_what_raised_them(
    client: Client, people: People, clock: FrozenClock
) -> None:
    desk = Desk(client)
    private, shared = raise_two_flags(client, desk, people, clock)

    desk(people.therapist_a)
    items = queue(client)
    assert [
        (
            f["patient_id"],
            f["patient_name"],
            f["kind"],
            f["severity"],
            f["entry_kind"],
            f["entry_local_date"],
            f["entry_id"],
            f["created_at"],
            f["acknowledged_at"],
        )
        for f in items
    ] == [
        (
            people.patient_a.id,
            "Pat A",
            "low_mood",
            "high",
            "checkin",
            "2026-11-21",
            None,
            "2026-11-21T12:00:00.000000Z",
            None,
        ),
        (
            people.patient_a.id,
            "Pat A",
            "phq9_item9",
            "high",
            "questionnaire",
            "2026-11-21",
            shared,
            "2026-11-21T12:01:00.000000Z",
            None,
        ),
    ]
    assert private not in str(items)  # the private entry is not even named
    assert CANARY not in str(items)

    page = client.get("/clinic/flags")
    assert page.status_code == 200
    assert CANARY not in page.text and private not in page.text
    assert "by a checkin dated 2026-11-21 (kept private)" in page.text
    assert f'href="/clinic/patients/{people.patient_a.id}#entry-{shared}"' in page.text
    assert "Pam B" not in page.text

    brief = client.get(f"/clinic/patients/{people.patient_a.id}")
    assert CANARY not in brief.text and private not in brief.text
    assert "the patient kept private" in brief.text

    desk(people.therapist_b)
    assert [(f["patient_id"], f["kind"], f["entry_kind"]) for f in queue(client)] == [
        (people.patient_b.id, "not_safe", None)
    ]
    assert "Pat A" not in client.get("/clinic/flags").text


def test_acknowledging_a_flag_takes_it_off_the_queue_and_keeps_it_in_the_brief(
    client: Client, people: People, settings: Settings, clock: FrozenClock
) -> None:
    desk = Desk(client)
    raise_two_flags(client, desk, people, clock)
    desk(people.therapist_a)
    low_mood, item9 = queue(client)
    clock.advance(minutes=5)

    acked = client.post(f"/api/v1/flags/{low_mood['id']}/acknowledge", json={"note": "Called her; plan reviewed."})
    assert acked.status_code == 200, acked.text
    assert {k: acked.json()[k] for k in ("id", "acknowledged_at", "acknowledged_by", "ack_note")} == {
        "id": low_mood["id"],
        "acknowledged_at": "2026-11-21T12:07:00.000000Z",
        "acknowledged_by": "Theo A",
        "ack_note": "Called her; plan reviewed.",
    }
    assert [f["id"] for f in queue(client)] == [item9["id"]]
    stored = query(
        settings, "SELECT acknowledged_at, acknowledged_by, ack_note FROM flags WHERE id = ?", (low_mood["id"],)
    )
    assert tuple(stored[0]) == ("2026-11-21T12:07:00.000000Z", people.therapist_a.id, "Called her; plan reviewed.")
    audit = query(settings, "SELECT actor_id, patient_id, object_id FROM audit_log WHERE action = 'flag.acknowledged'")
    assert [tuple(r) for r in audit] == [(people.therapist_a.id, people.patient_a.id, low_mood["id"])]

    brief = client.get(f"/api/v1/patients/{people.patient_a.id}/brief").json()
    assert [(f["id"], f["acknowledged_by"], f["ack_note"]) for f in brief["flags"]] == [
        (item9["id"], None, None),  # open flags first
        (low_mood["id"], "Theo A", "Called her; plan reviewed."),
    ]
    page = client.get(f"/clinic/patients/{people.patient_a.id}")
    assert "Acknowledged in this period (1)" in page.text
    assert "Called her; plan reviewed." in page.text

    clock.advance(minutes=1)
    again = client.post(f"/api/v1/flags/{low_mood['id']}/acknowledge", json={"note": "second time"})
    assert again.status_code == 409, again.text
    assert tuple(query(settings, "SELECT acknowledged_at, ack_note FROM flags WHERE id = ?", (low_mood["id"],))[0]) == (
        "2026-11-21T12:07:00.000000Z",
        "Called her; plan reviewed.",
    )
    assert len(query(settings, "SELECT 1 FROM audit_log WHERE action = 'flag.acknowledged'")) == 1
    assert client.post("/api/v1/flags/no-such-flag/acknowledge", json={"note": ""}).status_code == 404

    # The page's form acknowledges too, and sends the therapist back where they were.
    form = client.post(
        f"/clinic/flags/{item9['id']}/acknowledge",
        data={"note": "Seen in session", "back": f"/clinic/patients/{people.patient_a.id}"},
        follow_redirects=False,
    )
    assert form.status_code in (302, 303)
    assert form.headers["location"].endswith(f"/clinic/patients/{people.patient_a.id}")
    assert queue(client) == []
    assert client.post(f"/clinic/flags/{item9['id']}/acknowledge", data={"note": "again"}).status_code == 409


def test_missed_check_ins_raise_one_flag_per_silence(
    client: Client, people: People, settings: Settings, clock: FrozenClock
) -> None:
    a = people.patient_a
    desk = Desk(client)
    desk(a)
    checkin(client, "2026-11-21", 6)
    run_watcher(settings, clock)
    assert flags_of(settings, a) == []

    clock.advance(days=2)  # Monday the 23rd: two days without a check-in, under the threshold
    run_watcher(settings, clock)
    assert flags_of(settings, a) == []

    clock.advance(days=2)  # Wednesday the 25th: four days
    run_watcher(settings, clock)
    raised = flags_of(settings, a)
    assert [(f["kind"], f["severity"], f["entry_id"], f["reason"], f["created_at"]) for f in raised] == [
        ("missed_checkins", "medium", None, "No check-in for 4 days", "2026-11-25T12:00:00.000000Z")
    ]
    clock.advance(hours=1)
    run_watcher(settings, clock)  # the same silence: no second flag
    assert len(flags_of(settings, a)) == 1

    desk(a)  # the patient's session is still open four days on
    checkin(client, "2026-11-25", 5)
    run_watcher(settings, clock)
    assert len(flags_of(settings, a)) == 1

    clock.advance(days=4)  # a new silence after the new check-in: a new flag
    run_watcher(settings, clock)
    run_watcher(settings, clock)
    assert [(f["kind"], f["dedupe_key"]) for f in flags_of(settings, a)] == [
        ("missed_checkins", "after:2026-11-21"),
        ("missed_checkins", "after:2026-11-25"),
    ]
    # Patient B never checked in: one flag for that one silence, however often the watcher runs.
    assert [f["dedupe_key"] for f in flags_of(settings, people.patient_b)] == ["after:none"]
    raised_audit = query(settings, "SELECT actor_role, patient_id, detail FROM audit_log WHERE action = 'flag.raised'")
    assert sorted(tuple(r) for r in raised_audit) == sorted(
        [("system", a.id, '{"kind":"missed_checkins"}')] * 2
        + [("system", people.patient_b.id, '{"kind":"missed_checkins"}')]
    )

    desk(people.therapist_a, fresh=True)  # days later: a new sign-in
    assert [(f["kind"], f["entry_kind"], f["entry_id"], f["patient_id"]) for f in queue(client)] == [
        ("missed_checkins", None, None, a.id)
    ] * 2
    assert "Missed check-ins" in client.get("/clinic/flags").text


def test_a_drop_of_three_points_in_the_weekly_mood_raises_one_flag_and_two_and_a_half_does_not(
    client: Client, people: People, settings: Settings, clock: FrozenClock
) -> None:
    desk = Desk(client)
    # Seen from the 21st and from the 22nd alike, the week before holds the first two, this week the last two.
    desk(people.patient_a)  # the week before: 7, 7 (7.0); this week: 4, 4 (4.0): a drop of 3.0
    for day, mood in (("2026-11-09", 7), ("2026-11-14", 7), ("2026-11-16", 4), ("2026-11-21", 4)):
        checkin(client, day, mood)
    desk(people.patient_b)  # the week before: 7, 6 (6.5); this week: 4, 4 (4.0): a drop of 2.5
    for day, mood in (("2026-11-09", 7), ("2026-11-14", 6), ("2026-11-16", 4), ("2026-11-21", 4)):
        checkin(client, day, mood)

    run_watcher(settings, clock)
    assert [(f["kind"], f["severity"], f["entry_id"]) for f in flags_of(settings, people.patient_a)] == [
        ("mood_drop", "medium", None)
    ]
    assert flags_of(settings, people.patient_b) == []

    run_watcher(settings, clock)
    clock.advance(days=1)  # the next day, the same drop: still one flag
    run_watcher(settings, clock)
    assert len(flags_of(settings, people.patient_a, "mood_drop")) == 1
    assert flags_of(settings, people.patient_b) == []

    desk(people.therapist_a, fresh=True)
    assert [(f["kind"], f["entry_kind"], f["reason"]) for f in queue(client)] == [
        ("mood_drop", None, "7-day mood average dropped by 3 or more points")
    ]


def test_the_caseloads_kept_flag_counts_follow_raising_and_acknowledging(
    client: Client, people: People, settings: Settings, clock: FrozenClock
) -> None:
    """Migration 0012 keeps each patient's open flag counts in patient_summaries for the caseload; after
    every change they equal a count of the flags themselves, and the caseload shows them."""
    desk = Desk(client)

    def kept_and_counted() -> tuple[dict[str, tuple[int, int]], dict[str, tuple[int, int]]]:
        kept = query(settings, "SELECT patient_id, open_flags, open_high_flags FROM patient_summaries")
        counted = query(
            settings,
            "SELECT patient_id, sum(acknowledged_at IS NULL), sum(acknowledged_at IS NULL AND severity = 'high')"
            " FROM flags GROUP BY patient_id",
        )
        return {r[0]: (r[1], r[2]) for r in kept if r[1] or r[2]}, {r[0]: (r[1], r[2]) for r in counted if r[1]}

    def caseload_counts() -> dict[str, tuple[int, int]]:
        desk(people.therapist_a)
        rows = client.get("/api/v1/patients").json()["items"]
        return {r["id"]: (r["open_flags"], r["open_high_flags"]) for r in rows}

    raise_two_flags(client, desk, people, clock)
    kept, counted = kept_and_counted()
    assert kept == counted
    a, b = people.patient_a.id, people.patient_b.id
    assert kept[a] == (2, 2)
    # Patient B has written nothing: "I'm not safe" alone gave them a summary row.
    assert kept[b] == (1, 1)
    assert caseload_counts()[a] == (2, 2)

    for flag in queue(client):
        if flag["patient_id"] == a:
            assert client.post(f"/api/v1/flags/{flag['id']}/acknowledge", json={"note": "seen"}).status_code == 200
            kept, counted = kept_and_counted()
            assert kept == counted
    assert a not in kept_and_counted()[0]
    assert caseload_counts()[a] == (0, 0)
