"""The therapist's caseload (GET /api/v1/patients and /clinic) against hand-computed figures: the 7-day mood
average and its change, latest PHQ-9/GAD-7 with change from baseline and response/remission, the last
check-in, unreviewed entries, next integration appointment and next session, the order, and each filter.

The fixture, patient A (time zone UTC), "today" being Saturday 2026-11-21:

    check-in  2026-11-07  mood 10  shared     14 days ago: outside both weeks
    check-in  2026-11-08  mood 4   shared     first day of the week before
    check-in  2026-11-14  mood 4   shared     last day of the week before   -> week before: 4.0
    check-in  2026-11-15  mood 6   shared     first day of this week
    check-in  2026-11-18  mood 7   discuss
    check-in  2026-11-21  mood 8   shared     09:00 UTC, the last shared    -> this week: 7.0, change +3.0
    check-in  2026-11-21  mood 0   PRIVATE    10:00 UTC: moves neither the average nor the last check-in
    PHQ-9     20 (11-08) -> 9 (11-20): change -11, response; a PRIVATE 24 on 11-21 is not the latest
    GAD-7     12 (11-09) -> 4 (11-19): change -8, remission
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from server.accounts import queries as account_queries
from server.clock import iso
from server.db import Database
from server.settings import Settings
from tests.conftest import Client, FrozenClock, People, Person, password_hash, query

TODAY = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)

PHQ9_20 = [3, 3, 3, 3, 3, 3, 2, 0, 0]
PHQ9_9 = [1, 1, 1, 1, 1, 1, 1, 2, 0]
PHQ9_24 = [3, 3, 3, 3, 3, 3, 3, 3, 0]
GAD7_12 = [2, 2, 2, 2, 2, 1, 1]
GAD7_4 = [1, 1, 1, 1, 0, 0, 0]


def add_patient(settings: Settings, clock: FrozenClock, therapist: Person, name: str, email: str) -> Person:
    """Another patient on ``therapist``'s care team, inserted the way tests/conftest.py seeds people."""
    person = Person(str(uuid.uuid4()), "patient", email, name)
    clinic_id = query(settings, "SELECT clinic_id FROM users WHERE id = ?", (therapist.id,))[0]["clinic_id"]

    async def insert() -> None:
        db = Database(settings.database_path, readers=1)
        await db.open()
        try:
            now = iso(clock.now())
            async with db.transaction() as tx:
                await account_queries.insert_user(
                    tx,
                    user_id=person.id,
                    clinic_id=clinic_id,
                    role="patient",
                    email=email,
                    display_name=name,
                    password_hash=password_hash(),
                    now=now,
                )
                await account_queries.add_to_care_team(tx, person.id, therapist.id, None, now)
        finally:
            await db.close()

    asyncio.run(insert())
    return person


def at(clock: FrozenClock, day: str, hour: int = 12) -> None:
    clock.moment = datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def checkin(client: Client, day: str, mood: int, sharing: str = "shared", note: str = "") -> str:
    entry_id = str(uuid.uuid4())
    body = {"local_date": day, "mood": mood, "anxiety": 3, "note": note, "sharing": sharing}
    response = client.put(f"/api/v1/checkins/{entry_id}", json=body)
    assert response.status_code == 201, response.text
    return entry_id


def questionnaire(client: Client, day: str, instrument: str, answers: list[int], sharing: str = "shared") -> str:
    entry_id = str(uuid.uuid4())
    body = {"local_date": day, "instrument": instrument, "answers": answers, "sharing": sharing}
    response = client.put(f"/api/v1/questionnaires/{entry_id}", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["safety_alert"] is False
    return entry_id


def appointment(client: Client, patient: Person, starts_at: str, kind: str = "integration", **extra: Any) -> str:
    response = client.post(
        f"/api/v1/patients/{patient.id}/appointments", json={"starts_at": starts_at, "kind": kind, **extra}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def cancel(client: Client, event_id: str) -> None:
    response = client.patch(f"/api/v1/appointments/{event_id}", json={"cancelled": True})
    assert response.status_code == 200, response.text
    assert response.json()["cancelled"] is True


def write_patient_a_journal(client: Client, clock: FrozenClock, people: People) -> None:
    """Patient A writes two weeks of journal, each entry on its own day (so created_at follows the days)."""
    at(clock, "2026-11-07")
    client.login(people.patient_a.email)
    checkin(client, "2026-11-07", 10)
    at(clock, "2026-11-08")
    checkin(client, "2026-11-08", 4)
    questionnaire(client, "2026-11-08", "phq9", PHQ9_20)
    at(clock, "2026-11-09")
    questionnaire(client, "2026-11-09", "gad7", GAD7_12)
    at(clock, "2026-11-14")
    checkin(client, "2026-11-14", 4)
    at(clock, "2026-11-15")
    checkin(client, "2026-11-15", 6)
    at(clock, "2026-11-18")
    checkin(client, "2026-11-18", 7, sharing="discuss")
    at(clock, "2026-11-19")
    questionnaire(client, "2026-11-19", "gad7", GAD7_4)
    at(clock, "2026-11-20")
    questionnaire(client, "2026-11-20", "phq9", PHQ9_9)
    at(clock, "2026-11-21", hour=9)
    checkin(client, "2026-11-21", 8)
    at(clock, "2026-11-21", hour=10)
    checkin(client, "2026-11-21", 0, sharing="private", note="a private low")
    questionnaire(client, "2026-11-21", "phq9", PHQ9_24, sharing="private")


def caseload(client: Client, which: str | None = None) -> list[dict[str, Any]]:
    response = client.get("/api/v1/patients", params={"filter": which} if which else None)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def page_names(client: Client, which: str | None = None) -> list[str]:
    """The patients' names in the caseload table of /clinic, in order."""
    response = client.get("/clinic", params={"filter": which} if which else None)
    assert response.status_code == 200, response.text
    return re.findall(r'<th scope="row"><a href="/clinic/patients/[^"]+">([^<]+)</a></th>', response.text)


@pytest.fixture
def clinic(client: Client, people: People, settings: Settings, clock: FrozenClock) -> dict[str, Person]:
    """Four patients on therapist A's care team:

    C (Zed C): tapped "I'm not safe" (an open high flag), nothing scheduled   -> first
    D (Abe D): integration 2026-11-22T03:00Z = 22:00 on the 21st in the clinic's New York time  -> today
    A (Pat A): the journal above; next session 2026-11-24, next integration 2026-11-25
    E (Bea E): one shared check-in; integration 2026-11-29, outside this week
    """
    write_patient_a_journal(client, clock, people)
    clock.moment = TODAY
    zed = add_patient(settings, clock, people.therapist_a, "Zed C", "zed.c@clinic.test")
    abe = add_patient(settings, clock, people.therapist_a, "Abe D", "abe.d@clinic.test")
    bea = add_patient(settings, clock, people.therapist_a, "Bea E", "bea.e@clinic.test")
    client.login(zed.email)
    assert client.post("/api/v1/safety/not-safe").status_code == 200
    client.login(bea.email)
    checkin(client, "2026-11-21", 6)

    client.login(people.therapist_a.email)
    a = people.patient_a
    appointment(client, a, "2026-11-14T15:00:00Z")  # past: not "next"
    cancel(client, appointment(client, a, "2026-11-23T10:00:00-05:00"))  # cancelled: not "next"
    appointment(client, a, "2026-11-25T10:00:00-05:00")
    cancel(client, appointment(client, a, "2026-11-22T16:00:00Z", "kap_session", route="iv", series="induction"))
    appointment(client, a, "2026-11-24T16:00:00Z", "kap_session", route="im", series="induction", dose_mg=50)
    appointment(client, a, "2026-11-23T15:00:00Z", "intake")  # an intake is neither
    appointment(client, abe, "2026-11-22T03:00:00Z")
    appointment(client, bea, "2026-11-29T15:00:00Z")
    return {"A": a, "C": zed, "D": abe, "E": bea}


def test_caseload_figures_match_the_hand_computed_fixture(
    client: Client, clinic: dict[str, Person], people: People
) -> None:
    rows = {row["id"]: row for row in caseload(client)}

    pat = rows[clinic["A"].id]
    assert pat["display_name"] == "Pat A"
    assert pat["mood_7d"] == 7.0
    assert pat["mood_7d_change"] == 3.0
    assert pat["last_checkin_at"] == "2026-11-21T09:00:00.000000Z"
    assert pat["phq9"] == {
        "instrument": "phq9",
        "latest": 9.0,
        "latest_date": "2026-11-20",
        "severity": "mild",
        "baseline": 20.0,
        "change": -11.0,
        "status": "response",
    }
    assert pat["gad7"] == {
        "instrument": "gad7",
        "latest": 4.0,
        "latest_date": "2026-11-19",
        "severity": "minimal",
        "baseline": 12.0,
        "change": -8.0,
        "status": "remission",
    }
    assert pat["unreviewed"] == 10  # six shared check-ins and four questionnaires; the private two are not counted
    assert pat["next_integration"] == "2026-11-25T15:00:00.000000Z"
    assert pat["next_session"] == "2026-11-24T16:00:00.000000Z"
    assert (pat["open_flags"], pat["open_high_flags"]) == (0, 0)

    zed = rows[clinic["C"].id]
    assert (zed["open_flags"], zed["open_high_flags"]) == (1, 1)
    assert zed["next_integration"] is None and zed["next_session"] is None

    abe = rows[clinic["D"].id]
    assert abe["mood_7d"] is None and abe["mood_7d_change"] is None and abe["last_checkin_at"] is None
    assert abe["phq9"] is None and abe["gad7"] is None and abe["unreviewed"] == 0
    assert abe["next_integration"] == "2026-11-22T03:00:00.000000Z"

    bea = rows[clinic["E"].id]
    assert bea["mood_7d"] == 6.0
    assert bea["mood_7d_change"] is None  # nothing the week before
    assert bea["unreviewed"] == 1

    # The page shows the same figures in patient A's row.
    page = client.get("/clinic")
    assert page.status_code == 200
    row = re.search(rf'<tr class="">\s*<th scope="row"><a href="/clinic/patients/{pat["id"]}".*?</tr>', page.text, re.S)
    assert row is not None
    cells = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row.group(0))).strip()
    assert "7.0 (+3.0)" in cells
    assert "9 -11 from 20 response" in cells
    assert "4 -8 from 12 remission" in cells
    assert "3 hours ago" in cells  # the last shared check-in at 09:00; the private one at 10:00 does not count
    assert "2026-11-25 15:00" in cells and "2026-11-24" in cells

    # The same caseload once the private entries are deleted: they never counted.
    before = caseload(client)
    client.login(people.patient_a.email)
    for entry in private_entries(client):
        assert client.delete(f"/api/v1/{entry['path']}/{entry['id']}").status_code == 204
    client.login(people.therapist_a.email)
    assert caseload(client) == before


def private_entries(client: Client) -> list[dict[str, str]]:
    found = []
    for path in ("checkins", "questionnaires"):
        items = client.get(f"/api/v1/{path}").json()["items"]
        found += [{"path": path, "id": i["id"]} for i in items if i["sharing"] == "private"]
    assert len(found) == 2
    return found


FILTERS = {
    "flagged": ["C"],
    "unreviewed": ["A", "E"],
    "today": ["D"],  # 22:00 in New York is still "today" there, though tomorrow in UTC
    "week": ["D", "A"],  # A's session on the 24th; E's appointment on the 29th is past the week
}


def test_open_safety_flags_sort_first_then_the_soonest_appointment_and_each_filter_is_exact(
    client: Client, clinic: dict[str, Person]
) -> None:
    order = ["C", "D", "A", "E"]  # by name it would be D, E, A, C
    assert [row["id"] for row in caseload(client)] == [clinic[k].id for k in order]
    assert page_names(client) == [clinic[k].name for k in order]
    for which, expected in FILTERS.items():
        assert [row["id"] for row in caseload(client, which)] == [clinic[k].id for k in expected], which
        assert page_names(client, which) == [clinic[k].name for k in expected], which

    # Once the flag is acknowledged, C sorts by appointment like everyone else (nothing scheduled: last).
    flags = client.get("/api/v1/flags").json()["items"]
    assert [(f["patient_id"], f["kind"]) for f in flags] == [(clinic["C"].id, "not_safe")]
    assert client.post(f"/api/v1/flags/{flags[0]['id']}/acknowledge", json={"note": "called"}).status_code == 200
    assert [row["id"] for row in caseload(client)] == [clinic[k].id for k in ("D", "A", "E", "C")]
    assert caseload(client, "flagged") == []
    assert page_names(client, "flagged") == []


def test_the_caseload_lists_only_the_therapists_own_care_team(client: Client, people: People) -> None:
    client.login(people.therapist_a.email)
    assert [row["id"] for row in caseload(client)] == [people.patient_a.id]
    assert page_names(client) == ["Pat A"]
    client.login(people.therapist_b.email)
    assert [row["id"] for row in caseload(client)] == [people.patient_b.id]
    assert page_names(client) == ["Pam B"]


def test_a_patients_name_is_escaped_in_the_caseload_rows(
    client: Client, people: People, settings: Settings, clock: FrozenClock
) -> None:
    # The rows are written in Python (server/clinic/caseload_view.py), outside Jinja's autoescape.
    name = '<img src=x onerror=alert(1)> "O\'Neil" & co'
    add_patient(settings, clock, people.therapist_a, name, "escape.me@clinic.test")
    client.login(people.therapist_a.email)
    page = client.get("/clinic/").text
    assert "<img src=x" not in page and "onerror=alert(1)>" not in page
    assert "&lt;img src=x onerror=alert(1)&gt; &quot;O&#x27;Neil&quot; &amp; co" in page


def _kept_next_events(settings: Settings, patient: Person) -> list[tuple[Any, ...]]:
    """What 0015 keeps of the patient's next events, beside a fresh count from its own as_of moments."""
    row = query(
        settings,
        "SELECT next_integration, next_session,"
        " (SELECT min(a.starts_at) FROM appointments a WHERE a.patient_id = s.patient_id AND a.kind = 'integration'"
        "   AND a.cancelled_at IS NULL AND a.starts_at >= s.next_integration_as_of) AS fresh_integration,"
        " (SELECT min(k.scheduled_for) FROM kap_sessions k WHERE k.patient_id = s.patient_id"
        "   AND k.cancelled_at IS NULL AND k.scheduled_for >= s.next_session_as_of) AS fresh_session"
        " FROM patient_summaries s WHERE s.patient_id = ?",
        (patient.id,),
    )[0]
    return [(row["next_integration"], row["next_session"]), (row["fresh_integration"], row["fresh_session"])]


def test_the_next_appointment_and_session_follow_every_change_and_the_clock(
    client: Client, people: People, settings: Settings, clock: FrozenClock
) -> None:
    """The caseload's next integration and next session come from values kept by triggers (0015) while those
    are still ahead, and from the appointments themselves once the clock has passed them or reads earlier
    than the moment they were taken at."""
    a = people.patient_a
    client.login(people.therapist_a.email)

    def shown() -> tuple[str | None, str | None]:
        (row,) = caseload(client)
        return row["next_integration"], row["next_session"]

    def kept_matches_a_fresh_count() -> None:
        kept, fresh = _kept_next_events(settings, a)
        assert kept == fresh

    clock.moment = TODAY  # Saturday 2026-11-21, 12:00 UTC
    appointment(client, a, "2026-11-23T10:00:00Z")
    second = appointment(client, a, "2026-11-26T10:00:00Z")
    session = appointment(client, a, "2026-11-24T16:00:00Z", "kap_session", route="im", series="induction")
    kept_matches_a_fresh_count()
    assert shown() == ("2026-11-23T10:00:00.000000Z", "2026-11-24T16:00:00.000000Z")

    clock.moment = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # the first appointment is over
    client.login(people.therapist_a.email)  # a therapist's session ends after 31 idle minutes
    assert shown() == ("2026-11-26T10:00:00.000000Z", "2026-11-24T16:00:00.000000Z")

    moved = client.patch(f"/api/v1/appointments/{second}", json={"starts_at": "2026-11-25T09:00:00Z"})
    assert moved.status_code == 200, moved.text
    cancel(client, session)
    kept_matches_a_fresh_count()
    assert shown() == ("2026-11-25T09:00:00.000000Z", None)

    # A clock that reads earlier than the moment the values were taken at (moved back, or another worker's
    # clock behind this one's): the first appointment is ahead again.
    clock.moment = datetime(2026, 11, 22, 0, 0, tzinfo=UTC)
    client.login(people.therapist_a.email)
    assert shown() == ("2026-11-23T10:00:00.000000Z", None)

    # Deleted rows (a patient's appointments go when the patient is erased) are taken out too.
    clock.moment = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    client.login(people.therapist_a.email)
    conn = sqlite3.connect(settings.database_path)
    try:
        conn.execute("DELETE FROM appointments WHERE id = ?", (second,))
        conn.commit()
    finally:
        conn.close()
    kept_matches_a_fresh_count()
    assert shown() == (None, None)
