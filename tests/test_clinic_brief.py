"""The integration brief (GET /api/v1/patients/{id}/brief and /clinic/patients/{id}): exactly the shared and
to-discuss finished entries in the window, never a private one or a draft; the default window and ?since=;
reflections grouped by session with the intention beside; scores with change and status; the SVG chart's
session markers and its data table; and "Mark reviewed" with what shows as new after it.

Now is Saturday 2026-11-21 12:00 UTC; patient A's time zone is UTC. The course:

    integration  11-07, 11-14 16:00 (the last before now: the default window starts here), 11-18 cancelled,
                 11-25 (upcoming)
    sessions     S0 11-05 intranasal (before the window), S1 11-16 IM, S2 11-19 IV 50 mg, S3 11-20 oral (cancelled)
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections import Counter
from typing import Any

import pytest

from server.clinic import queries
from server.measures import queries as measure_queries
from server.settings import Settings
from tests.conftest import Client, Desk, FrozenClock, People, Person, audit_actions, query

CANARY = "CANARY"  # in every private entry and draft: must never reach the care team


def put(client: Client, path: str, body: dict[str, Any], entry_id: str | None = None) -> str:
    entry_id = entry_id or str(uuid.uuid4())
    response = client.put(f"/api/v1/{path}/{entry_id}", json=body)
    assert response.status_code in (200, 201), response.text
    return entry_id


def checkin(client: Client, day: str, mood: int, sharing: str = "shared", note: str = "") -> str:
    return put(client, "checkins", {"local_date": day, "mood": mood, "anxiety": 2, "note": note, "sharing": sharing})


def reflection(
    client: Client,
    day: str,
    kind: str,
    answers: dict[str, str],
    *,
    session: str | None = None,
    sharing: str = "shared",
    status: str = "final",
) -> str:
    prompt_set = {"intention": "intention-v1", "integration": "integration-v1", "quick_capture": "quick-capture-v1"}
    body: dict[str, Any] = {
        "local_date": day,
        "kind": kind,
        "answers": [{"prompt_id": k, "text": v} for k, v in answers.items()],
        "sharing": sharing,
        "status": status,
    }
    if session:
        body["kap_session_id"] = session
    if kind in prompt_set:
        body["prompt_set"] = prompt_set[kind]
    return put(client, "reflections", body)


def questionnaire(client: Client, day: str, instrument: str, answers: list[int]) -> str:
    return put(client, "questionnaires", {"local_date": day, "instrument": instrument, "answers": answers})


def event(client: Client, patient: Person, starts_at: str, kind: str = "integration", **extra: Any) -> str:
    response = client.post(
        f"/api/v1/patients/{patient.id}/appointments", json={"starts_at": starts_at, "kind": kind, **extra}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def cancel(client: Client, event_id: str) -> None:
    assert client.patch(f"/api/v1/appointments/{event_id}", json={"cancelled": True}).status_code == 200


def get_brief(client: Client, patient: Person, since: str | None = None) -> dict[str, Any]:
    response = client.get(f"/api/v1/patients/{patient.id}/brief", params={"since": since} if since else None)
    assert response.status_code == 200, response.text
    brief: dict[str, Any] = response.json()
    return brief


def shown_ids(brief: dict[str, Any]) -> set[str]:
    """Every entry the brief shows, wherever it shows it."""
    ids = {e["id"] for key in ("discuss", "other_reflections", "aftercare", "checkins") for e in brief[key]}
    for group in brief["session_groups"]:
        ids |= {e["id"] for key in ("quick_captures", "integrations", "aftercare") for e in group[key]}
        if group["intention"]:
            ids.add(group["intention"]["id"])
    return ids | {s["id"] for s in brief["scores"]}


def mood_chart(html: str) -> str:
    section = re.search(r'<section class="card" aria-labelledby="mood-h">(.*?)</section>', html, re.S)
    assert section is not None
    svgs = re.findall(r"<svg\b.*?</svg>", section.group(1), re.S)
    assert len(svgs) == 1
    return str(svgs[0])


@pytest.fixture
def course(client: Client, people: People) -> dict[str, str]:
    """The course above and patient A's journal; returns the ids by name. Leaves therapist A signed in."""
    a = people.patient_a
    desk = Desk(client)
    desk(people.therapist_a)
    ids = {
        "appt_11_07": event(client, a, "2026-11-07T16:00:00Z"),
        "appt_11_14": event(client, a, "2026-11-14T11:00:00-05:00"),
        "appt_11_18": event(client, a, "2026-11-18T16:00:00Z"),
        "appt_11_25": event(client, a, "2026-11-25T16:00:00Z"),
        "S0": event(client, a, "2026-11-05T16:00:00Z", "kap_session", route="intranasal", series="induction"),
        "S1": event(client, a, "2026-11-16T16:00:00Z", "kap_session", route="im", series="induction"),
        "S2": event(client, a, "2026-11-19T16:00:00Z", "kap_session", route="iv", series="induction", dose_mg=50),
        "S3": event(client, a, "2026-11-20T16:00:00Z", "kap_session", route="oral", series="booster"),
    }
    cancel(client, ids["appt_11_18"])
    cancel(client, ids["S3"])

    desk(a)
    s0, s1, s2 = ids["S0"], ids["S1"], ids["S2"]
    ids |= {
        "ck_11_13": checkin(client, "2026-11-13", 5, note="before the window"),
        "ck_11_15": checkin(client, "2026-11-15", 6, note="slept well"),
        "ck_private": checkin(client, "2026-11-16", 3, "private", note=f"{CANARY} private check-in"),
        "ck_discuss": checkin(client, "2026-11-20", 7, "discuss", note="talk about work"),
        "free_discuss": reflection(client, "2026-11-17", "free", {"free": "the river image"}, sharing="discuss"),
        "draft": reflection(client, "2026-11-18", "free", {"free": f"{CANARY} draft"}, status="draft"),
        "free_private": reflection(client, "2026-11-19", "free", {"free": f"{CANARY} private"}, sharing="private"),
        "intention0": reflection(client, "2026-11-04", "intention", {"intention": "rest"}, session=s0),
        "integration0": reflection(client, "2026-11-06", "integration", {"insight": "calm"}, session=s0),
        "intention1": reflection(client, "2026-11-10", "intention", {"intention": "be open to grief"}, session=s1),
        "quick1": reflection(client, "2026-11-16", "quick_capture", {"what_happened": "colours"}, session=s1),
        "aftercare1": put(
            client,
            "aftercare",
            {"local_date": "2026-11-16", "kap_session_id": s1, "symptoms": {"nausea": 2}, "sharing": "shared"},
        ),
        "integration1": reflection(
            client,
            "2026-11-17",
            "integration",
            {"intention_revisited": "I was open, and it hurt less", "insight": "grief is love"},
            session=s1,
        ),
        "intention2": reflection(client, "2026-11-18", "intention", {"intention": "courage"}, session=s2),
        "integration2": reflection(client, "2026-11-20", "integration", {"insight": "small steps"}, session=s2),
        "integration2_private": reflection(
            client,
            "2026-11-20",
            "integration",
            {"intention_revisited": f"{CANARY} revisited in private"},
            session=s2,
            sharing="private",
        ),
        "phq9_base": questionnaire(client, "2026-11-01", "phq9", [3, 3, 3, 3, 3, 3, 2, 0, 0]),  # 20
        "gad7_base": questionnaire(client, "2026-11-02", "gad7", [2, 2, 2, 2, 2, 1, 1]),  # 12
        "phq9_now": questionnaire(client, "2026-11-18", "phq9", [1, 1, 1, 1, 1, 1, 1, 2, 0]),  # 9
        "gad7_now": questionnaire(client, "2026-11-19", "gad7", [1, 1, 1, 1, 0, 0, 0]),  # 4
    }
    desk(people.therapist_a)
    return ids


IN_DEFAULT_WINDOW = [
    "ck_11_15",
    "ck_discuss",
    "free_discuss",
    "intention1",
    "quick1",
    "aftercare1",
    "integration1",
    "intention2",
    "integration2",
    "phq9_now",
    "gad7_now",
]


def test_the_brief_shows_exactly_the_shared_entries_since_the_last_integration_appointment_grouped(
    client: Client, people: People, course: dict[str, str]
) -> None:
    brief = get_brief(client, people.patient_a)

    assert brief["since"] == "2026-11-14T16:00:00.000000Z"  # not the cancelled 11-18 one
    assert brief["until"] == brief["as_of"] == "2026-11-21T12:00:00.000000Z"
    assert shown_ids(brief) == {course[k] for k in IN_DEFAULT_WINDOW}
    assert sorted(brief["new_entry_ids"]) == sorted(course[k] for k in IN_DEFAULT_WINDOW)
    assert CANARY not in str(brief)

    assert [e["id"] for e in brief["discuss"]] == [course["free_discuss"], course["ck_discuss"]]
    assert [e["id"] for e in brief["checkins"]] == [course["ck_11_15"], course["ck_discuss"]]
    assert [e["id"] for e in brief["other_reflections"]] == [course["free_discuss"]]
    assert [e["id"] for e in brief["aftercare"]] == [course["aftercare1"]]
    assert brief["mood"] == [
        {"local_date": "2026-11-15", "mood": 6.0, "anxiety": 2.0, "checkins": 1},
        {"local_date": "2026-11-20", "mood": 7.0, "anxiety": 2.0, "checkins": 1},
    ]
    assert [s["id"] for s in brief["sessions"]] == [course["S1"], course["S2"]]  # S3 cancelled, S0 before
    assert [a["id"] for a in brief["upcoming"]] == [course["appt_11_25"]]

    # Reflections grouped by the session they follow, the intention beside the integration reflection.
    groups = brief["session_groups"]
    assert [g["session"]["id"] for g in groups] == [course["S1"], course["S2"]]
    first, second = groups
    assert first["intention"]["id"] == course["intention1"]  # written before the window, shown beside
    assert first["intention"]["answers"][0]["text"] == "be open to grief"
    assert first["intention_revisited"] is True
    assert [e["id"] for e in first["integrations"]] == [course["integration1"]]
    assert [e["id"] for e in first["quick_captures"]] == [course["quick1"]]
    assert [e["id"] for e in first["aftercare"]] == [course["aftercare1"]]

    assert second["intention"]["id"] == course["intention2"]
    # Only a private integration reflection answered "intention_revisited": that does not count.
    assert second["intention_revisited"] is False
    assert [e["id"] for e in second["integrations"]] == [course["integration2"]]
    assert second["quick_captures"] == [] and second["aftercare"] == []

    # Scores carry their change from the baseline (before the window) and response/remission.
    scores = brief["scores"]
    assert [
        (s["id"], s["instrument"], s["score"], s["change_from_baseline"], s["status"], s["severity"]) for s in scores
    ] == [
        (course["phq9_now"], "phq9", 9.0, -11.0, "response", "mild"),
        (course["gad7_now"], "gad7", 4.0, -8.0, "remission", "minimal"),
    ]


def test_since_overrides_the_default_window(client: Client, people: People, course: dict[str, str]) -> None:
    brief = get_brief(client, people.patient_a, since="2026-11-01")

    assert brief["since"] == "2026-11-01T00:00:00.000000Z"
    earlier = ["ck_11_13", "intention0", "integration0", "phq9_base", "gad7_base"]
    assert shown_ids(brief) == {course[k] for k in IN_DEFAULT_WINDOW + earlier}
    assert [s["id"] for s in brief["sessions"]] == [course["S0"], course["S1"], course["S2"]]
    assert [g["session"]["id"] for g in brief["session_groups"]] == [course["S0"], course["S1"], course["S2"]]
    baseline = next(s for s in brief["scores"] if s["id"] == course["phq9_base"])
    assert (baseline["change_from_baseline"], baseline["status"]) == (0.0, None)
    assert CANARY not in str(brief)

    narrower = get_brief(client, people.patient_a, since="2026-11-19")
    assert shown_ids(narrower) == {course[k] for k in ("ck_discuss", "intention2", "integration2", "gad7_now")}
    assert client.get(f"/api/v1/patients/{people.patient_a.id}/brief?since=last-week").status_code in (400, 422)


def test_the_brief_page_charts_one_marker_per_session_in_the_window_and_has_a_table(
    client: Client, people: People, course: dict[str, str]
) -> None:
    page = client.get(f"/clinic/patients/{people.patient_a.id}")
    assert page.status_code == 200
    assert CANARY not in page.text
    svg = mood_chart(page.text)
    assert re.search(r"<title[^>]*>Daily mood and anxiety of Pat A</title>", svg)
    markers = re.findall(r'<g class="marker">.*?<title>(.*?)</title></g>', svg)
    assert markers == ["Induction 2 (IM injection)", "Induction 3 (IV infusion, 50 mg)"]
    assert svg.count('<g class="marker">') == 2
    # The data table alternative, with the same numbers.
    assert "As a table" in page.text
    assert "<tr><td>2026-11-15</td><td>6.0</td><td>2.0</td><td>1</td></tr>" in page.text
    assert "<tr><td>2026-11-20</td><td>7.0</td><td>2.0</td><td>1</td></tr>" in page.text
    # What the page shows to discuss, and the intention beside its revisiting reflection.
    assert "the river image" in page.text and "be open to grief" in page.text and "grief is love" in page.text

    wider = client.get(f"/clinic/patients/{people.patient_a.id}", params={"since": "2026-11-01"})
    markers = re.findall(r'<g class="marker">.*?<title>(.*?)</title></g>', mood_chart(wider.text))
    assert markers == [
        "Induction 1 (Intranasal (esketamine))",
        "Induction 2 (IM injection)",
        "Induction 3 (IV infusion, 50 mg)",
    ]  # never the cancelled oral booster
    assert "Oral" not in mood_chart(wider.text)


def test_the_brief_page_ids_are_unique_so_each_chart_is_labelled_by_its_own_title(
    client: Client, people: People
) -> None:
    client.login(people.therapist_a.email)
    page = client.get(f"/clinic/patients/{people.patient_a.id}")
    assert page.status_code == 200
    duplicated = [name for name, n in Counter(re.findall(r'\sid="([^"]+)"', page.text)).items() if n > 1]
    assert duplicated == []


def test_since_is_the_chosen_day_in_the_patients_time_zone(client: Client, people: People) -> None:
    client.login(people.patient_a.email)
    settings = client.put("/api/v1/me/settings", json={"timezone": "America/Denver"})
    assert settings.status_code == 200, settings.text
    checkin(client, "2026-11-09", 5, note="the day before")
    chosen = checkin(client, "2026-11-10", 6, note="the chosen day")
    client.login(people.therapist_a.email)

    brief = get_brief(client, people.patient_a, since="2026-11-10")

    assert [c["id"] for c in brief["checkins"]] == [chosen]
    assert brief["since"] == "2026-11-10T07:00:00.000000Z"  # midnight in Denver


# --- Mark reviewed ---------------------------------------------------------------------------------------


def unreviewed(client: Client, patient: Person) -> int:
    rows = [r for r in client.get("/api/v1/patients").json()["items"] if r["id"] == patient.id]
    assert len(rows) == 1
    return int(rows[0]["unreviewed"])


def test_mark_reviewed_then_new_and_edited_entries_show_as_new(
    client: Client, people: People, settings: Settings, clock: FrozenClock
) -> None:
    a = people.patient_a
    desk = Desk(client)
    desk(a)
    first = checkin(client, "2026-11-20", 6, note="first")
    second = reflection(client, "2026-11-21", "free", {"free": "second"})
    checkin(client, "2026-11-21", 5, "private", note=f"{CANARY}")
    desk(people.therapist_a)
    brief = get_brief(client, a)
    assert sorted(brief["new_entry_ids"]) == sorted([first, second])
    assert unreviewed(client, a) == 2

    clock.advance(minutes=2)
    marked = client.post(f"/api/v1/patients/{a.id}/reviewed", json={"up_to": brief["as_of"]})
    assert marked.status_code == 200, marked.text
    assert marked.json() == {"marked": 2}
    assert get_brief(client, a)["new_entry_ids"] == []
    assert unreviewed(client, a) == 0
    reviews = query(
        settings, "SELECT entry_id, version FROM entry_reviews WHERE therapist_id = ?", (people.therapist_a.id,)
    )
    assert sorted((r["entry_id"], r["version"]) for r in reviews) == sorted([(first, 1), (second, 1)])
    audit = query(settings, "SELECT * FROM audit_log WHERE action = 'entries.reviewed'")
    assert [(r["actor_id"], r["patient_id"], r["detail"]) for r in audit] == [
        (people.therapist_a.id, a.id, '{"count":2}')
    ]

    clock.advance(minutes=2)
    desk(a)
    third = checkin(client, "2026-11-21", 7, note="third")
    put(
        client,
        "checkins",
        {"local_date": "2026-11-20", "mood": 6, "note": "first, edited", "sharing": "shared"},
        entry_id=first,
    )
    desk(people.therapist_a)
    brief = get_brief(client, a)
    assert sorted(brief["new_entry_ids"]) == sorted([first, third])
    assert unreviewed(client, a) == 2
    page = client.get(f"/clinic/patients/{a.id}")
    assert "2 new since you last reviewed" in page.text
    assert f'class="entry" id="entry-{second}"' in page.text  # read, and unchanged: not new

    # The page's button marks what the brief showed: as_of is in the form.
    clock.advance(minutes=2)
    as_of = re.search(r'name="as_of" value="([^"]+)"', page.text)
    assert as_of is not None and as_of.group(1) == brief["as_of"]
    posted = client.post(f"/clinic/patients/{a.id}/reviewed", data={"as_of": as_of.group(1)}, follow_redirects=False)
    assert posted.status_code in (302, 303), posted.text
    assert posted.headers["location"].endswith(f"/clinic/patients/{a.id}?saved=reviewed")
    assert get_brief(client, a)["new_entry_ids"] == []
    assert unreviewed(client, a) == 0
    assert audit_actions(settings).count("entries.reviewed") == 2


def test_an_entry_changed_after_the_brief_was_loaded_stays_new(
    client: Client, people: People, clock: FrozenClock
) -> None:
    a = people.patient_a
    desk = Desk(client)
    desk(a)
    older = checkin(client, "2026-11-20", 6, note="read")
    desk(people.therapist_a)
    as_of = get_brief(client, a)["as_of"]

    clock.advance(minutes=1)
    desk(a)
    later = checkin(client, "2026-11-21", 4, note="arrived while the therapist was reading")
    desk(people.therapist_a)
    clock.advance(minutes=1)
    assert client.post(f"/api/v1/patients/{a.id}/reviewed", json={"up_to": as_of}).json() == {"marked": 1}
    assert get_brief(client, a)["new_entry_ids"] == [later]
    assert unreviewed(client, a) == 1

    # Marking only the listed entries.
    now = get_brief(client, a)["as_of"]
    assert client.post(f"/api/v1/patients/{a.id}/reviewed", json={"up_to": now, "entry_ids": [older]}).json() == {
        "marked": 1
    }
    assert get_brief(client, a)["new_entry_ids"] == [later]
    assert client.post(f"/api/v1/patients/{a.id}/reviewed", json={"up_to": now, "entry_ids": [later]}).json() == {
        "marked": 1
    }
    assert get_brief(client, a)["new_entry_ids"] == []


def test_the_brief_queries_seek_indexes_instead_of_scanning(settings: Settings, people: People) -> None:
    params = {
        "therapist_id": people.therapist_a.id,
        "patient_id": people.patient_a.id,
        "since": "2026-11-14T16:00:00.000000Z",
        "until": "2026-11-21T12:00:00.000000Z",
        "first_day": "2026-11-14",
        "last_day": "2026-11-21",
    }
    statements = {
        "entries": queries.BRIEF_ENTRIES,
        "scores": queries.BRIEF_SCORES,
        "mood": queries.BRIEF_MOOD,
        "flags": measure_queries.BRIEF_FLAGS,
        "upcoming": queries.BRIEF_UPCOMING,
    }
    conn = sqlite3.connect(settings.database_path)
    try:
        plans = {name: conn.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall() for name, sql in statements.items()}
    finally:
        conn.close()
    for name, plan in plans.items():
        details = [row[3] for row in plan]
        # Read in full by design: a subquery's own rows (one patient's sessions, numbered; the window's entries).
        scans = [d for d in details if d.startswith("SCAN") and not re.match(r"SCAN (\(subquery-\d+\)|s)$", d)]
        assert scans == [], (name, details)
    assert "entries_visible_score_values" in " ".join(row[3] for row in plans["scores"]), plans["scores"]
