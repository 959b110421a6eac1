"""Generate a clinic of N patients, each with a year of realistic history, straight into SQLite.

Rows are written with ``executemany`` inside a few large transactions (not through HTTP), but every
entry has exactly the shape the app writes: bodies come from ``server.journal.service``'s own helpers
(``checkin_write``, ``aftercare_write``, ``questionnaire_write``, which scores on the server's rules),
``_content_hash`` and ``search_text`` are the service's, and the FTS triggers of the schema run as usual.

Per patient, over the year that ends today:
- a ketamine course: six induction sessions over two and a half weeks, then a booster every 7-9 weeks,
  and one booster scheduled for next week;
- integration appointments the day after each session and every two weeks in between, one upcoming;
- 1-2 check-ins a day (mood lifting after sessions, fading before boosters), 3 in 4 shared;
- for every session an intention (the day before), a quick capture, an aftercare report and an EBI the
  day after, and an integration reflection two days after;
- PHQ-9 and GAD-7 weekly through induction, every two weeks after;
- a safety plan, and an open low-mood flag for about one patient in ten.

Entries are inserted day by day across all patients, so a patient's year is spread through the table the
way real use spreads it (not stored contiguously, which would flatter reads).

Therapists have 50 patients each; the first therapist's caseload and first patient are what the
benchmarks read. Generation uses ``synchronous=OFF`` and a rollback journal for speed: it builds a
fixture, it is not the server. The file is switched to WAL at the end, as the server expects. No ANALYZE:
a clinic's database has no statistics either, so the query planner works as it would there.

    .venv/bin/python -m tests.bench.datagen 100 var/bench/n100/afterglow.db
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sqlite3
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from server import demo_course
from server.db import apply_migrations, connect_sync
from server.journal.schemas import AftercareIn, CheckinIn, QuestionnaireIn, Symptoms
from server.journal.service import _content_hash, aftercare_write, checkin_write, questionnaire_write, search_text
from server.security.passwords import hash_password

PATIENTS_PER_THERAPIST = 50
DAYS = 365
INDUCTION_DAYS = (7, 9, 11, 14, 16, 18)
ZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles")
PASSWORD = "bench-password-not-used"  # nobody signs in with it: sessions are made directly
BENCH_EMAIL_DOMAIN = "bench.afterglow.test"
NOTES = (
    "Slept badly, heavy morning.",
    "Walked by the river, felt a bit lighter.",
    "Hard conversation with my sister.",
    "Noticed I laughed today.",
    "Tired but okay.",
    "Work was a lot.",
    "Called an old friend.",
    "Made soup, watched the rain for a while.",
    "",
    "",
    "",
    "",
)
TAGS = ("calm", "tired", "hopeful", "anxious", "nature", "friends", "work", "family", "sleep", "grief")
INTENTION = {
    "intention": "To meet whatever comes with curiosity.",
    "fears": "Losing control. Feeling sick.",
    "soothes": "Slow breathing, the blanket, a familiar voice.",
}
CAPTURE = {"what_happened": "Colours, then quiet. A door.", "three_words": "door, light, allowed"}
INTEGRATION = demo_course.INTEGRATION  # the demo patient's answers: same prompts, believable text
ENTRY_SQL = (
    "INSERT INTO entries (id, patient_id, kind, subkind, kap_session_id, sharing, status, local_date, timezone,"
    " body, body_hash, search_text, version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
    " 1, ?, ?)"
)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Patient:
    id: str
    therapist_id: str
    zone: ZoneInfo
    zone_name: str
    rng: random.Random
    session_days: list[int] = field(default_factory=list)
    session_ids: dict[int, str] = field(default_factory=dict)
    questionnaire_days: set[int] = field(default_factory=set)


@dataclass
class Clinic:
    clinic_id: int
    admin_id: str
    therapists: list[str]
    patients: list[Patient]
    entries: int = 0


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _mood(day: int, sessions: list[int], rng: random.Random) -> int:
    """Low at first, lifting through induction, a lift after each booster that fades before the next."""
    if day < INDUCTION_DAYS[0]:
        base = 2.8
    else:
        last = max(s for s in sessions if s <= day)
        if last <= INDUCTION_DAYS[-1]:
            base = 2.8 + 3.6 * (day - INDUCTION_DAYS[0]) / (INDUCTION_DAYS[-1] + 7 - INDUCTION_DAYS[0])
        else:
            base = 6.6 - 1.8 * min(1.0, (day - last) / 55)
    return round(max(0, min(10, base + rng.gauss(0, 1.1))))


def _answers(total: int, items: int, rng: random.Random) -> list[int]:
    answers = [0] * items
    while total > 0:
        i = rng.randrange(items)
        if answers[i] < 3:
            answers[i] += 1
            total -= 1
    return answers


class Writer:
    """Collects rows per table and flushes them with executemany."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.rows: dict[str, list[tuple[Any, ...]]] = {}

    def add(self, sql: str, row: tuple[Any, ...]) -> None:
        self.rows.setdefault(sql, []).append(row)

    def flush(self) -> None:
        for sql, rows in self.rows.items():
            self.conn.executemany(sql, rows)
        self.rows.clear()


def _entry(
    w: Writer,
    p: Patient,
    *,
    kind: str,
    subkind: str | None,
    body: dict[str, Any],
    sharing: str,
    at: datetime,
    session_id: str | None = None,
) -> None:
    local_date = at.astimezone(p.zone).date().isoformat()
    values = {
        "subkind": subkind,
        "kap_session_id": session_id,
        "sharing": sharing,
        "status": "final",
        "local_date": local_date,
        "timezone": p.zone_name,
        "body": body,
    }
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    stamp = iso(at)
    w.add(
        ENTRY_SQL,
        (
            _uuid(p.rng),
            p.id,
            kind,
            subkind,
            session_id,
            sharing,
            "final",
            local_date,
            p.zone_name,
            text,
            _content_hash(values),
            search_text(kind, body),
            stamp,
            stamp,
        ),
    )


def _reflection(kind: str, prompt_set: str, answers: dict[str, str], prompts: dict[tuple[str, str], str]) -> Any:
    return {
        "kind": kind,
        "prompt_set": prompt_set,
        "answers": [{"prompt_id": k, "prompt": prompts[(prompt_set, k)], "text": v} for k, v in answers.items()],
    }


def _day(w: Writer, p: Patient, day: int, start: date, prompts: dict[tuple[str, str], str], today: int) -> int:
    """Write one patient's entries of one day; returns how many."""
    rng = p.rng

    def at(offset: int, hour: int) -> datetime:
        moment = datetime.combine(start + timedelta(days=offset), dtime(hour, rng.randrange(60)), p.zone)
        return moment

    written = 0
    for hour in (8, 20)[: rng.choice((1, 2, 2))]:
        mood = _mood(day, p.session_days, rng)
        write = checkin_write(
            CheckinIn(
                mood=max(2, mood),
                anxiety=max(0, min(10, round(8 - mood * 0.6 + rng.gauss(0, 1)))),
                energy=max(0, min(10, round(mood + rng.gauss(0, 1.2)))),
                sleep_hours=round(rng.uniform(5, 8.5) * 2) / 2 if hour == 8 else None,
                tags=rng.sample(TAGS, rng.randint(0, 3)),
                note=rng.choice(NOTES),
            )
        )
        sharing = rng.choice(("shared", "shared", "shared", "private"))
        _entry(w, p, kind="checkin", subkind=None, body=write.body, sharing=sharing, at=at(day, hour))
        written += 1
    # The intention is written the day before its session.
    if day + 1 in p.session_ids:
        body = _reflection("intention", "intention-v1", INTENTION, prompts)
        sid = p.session_ids[day + 1]
        _entry(
            w, p, kind="reflection", subkind="intention", body=body, sharing="shared", at=at(day, 19), session_id=sid
        )
        written += 1
    if day in p.session_ids:
        sid = p.session_ids[day]
        body = _reflection("quick_capture", "quick-capture-v1", CAPTURE, prompts)
        sharing = "shared"
        _entry(
            w, p, kind="reflection", subkind="quick_capture", body=body, sharing=sharing, at=at(day, 13), session_id=sid
        )
        written += 1
    if day - 1 in p.session_ids:
        sid = p.session_ids[day - 1]
        aftercare = aftercare_write(
            AftercareIn(
                kap_session_id=sid,
                symptoms=Symptoms(nausea=rng.choice((0, 1, 1, 2)), headache=rng.choice((0, 1)), foggy_thinking=1),
                note="Foggy until lunch.",
            )
        )
        _entry(
            w, p, kind="aftercare", subkind=None, body=aftercare.body, sharing="shared", at=at(day, 9), session_id=sid
        )
        ebi = questionnaire_write(QuestionnaireIn(instrument="ebi", answers=[rng.randrange(40, 95) for _ in range(6)]))
        _entry(
            w, p, kind="questionnaire", subkind="ebi", body=ebi.body, sharing="shared", at=at(day, 10), session_id=sid
        )
        written += 2
    if day - 2 in p.session_ids:
        sid = p.session_ids[day - 2]
        chosen = dict(rng.sample(sorted(INTEGRATION.items()), 6))
        body = _reflection("integration", "integration-v1", chosen, prompts)
        sharing = rng.choice(("shared", "shared", "discuss", "private"))
        _entry(
            w, p, kind="reflection", subkind="integration", body=body, sharing=sharing, at=at(day, 19), session_id=sid
        )
        written += 1
    if day in p.questionnaire_days:
        level = _mood(day, p.session_days, rng)
        phq = max(0, min(24, round(22 - level * 2.2 + rng.gauss(0, 1.5))))
        gad = max(0, min(21, round(17 - level * 1.7 + rng.gauss(0, 1.5))))
        for instrument, answers in (("phq9", [*_answers(phq, 8, rng), 0]), ("gad7", _answers(gad, 7, rng))):
            q = questionnaire_write(QuestionnaireIn(instrument=instrument, answers=answers))
            _entry(w, p, kind="questionnaire", subkind=instrument, body=q.body, sharing="shared", at=at(day, 11))
        written += 2
    return written


def generate(path: Path, patients: int, *, seed: int = 7, now: datetime | None = None, say: Any = print) -> Clinic:
    """Create the database at ``path`` (which must not exist) with ``patients`` patients and their year."""
    if path.exists():
        raise FileExistsError(f"{path} exists; generate into a new file")
    started = time.monotonic()
    now = now or datetime.now(UTC)
    conn = connect_sync(path)
    apply_migrations(conn)
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA secure_delete=OFF")
    conn.execute("PRAGMA cache_size=-2000000")  # 2 GB: the random-key indexes stay in memory
    conn.execute("PRAGMA temp_store=MEMORY")
    master = random.Random(seed)
    stamp = iso(now - timedelta(days=DAYS + 5))
    password_hash = hash_password(PASSWORD)
    prompts = {(r[0], r[1]): r[2] for r in conn.execute("SELECT prompt_set_id, prompt_id, text FROM prompts")}

    conn.execute("BEGIN")
    clinic_id = conn.execute(
        "INSERT INTO clinics (name, timezone, created_at, mfa_required_for_clinicians) VALUES (?, ?, ?, 0)",
        ("Bench Clinic", "America/Denver", stamp),
    ).lastrowid
    assert clinic_id is not None
    users: list[tuple[Any, ...]] = []
    admin_id = _uuid(master)
    users.append((admin_id, clinic_id, "admin", f"admin@{BENCH_EMAIL_DOMAIN}", "Bench Admin", password_hash, "UTC"))
    therapist_count = max(1, -(-patients // PATIENTS_PER_THERAPIST))
    therapists = [_uuid(master) for _ in range(therapist_count)]
    for i, tid in enumerate(therapists):
        users.append(
            (
                tid,
                clinic_id,
                "therapist",
                f"therapist{i}@{BENCH_EMAIL_DOMAIN}",
                f"Dr. Bench {i}",
                password_hash,
                "America/Denver",
            )
        )
    start = (now - timedelta(days=DAYS)).date()
    people: list[Patient] = []
    for i in range(patients):
        rng = random.Random(master.getrandbits(64))
        zone_name = rng.choice(ZONES)
        p = Patient(_uuid(master), therapists[i // PATIENTS_PER_THERAPIST], ZoneInfo(zone_name), zone_name, rng)
        users.append(
            (
                p.id,
                clinic_id,
                "patient",
                f"patient{i}@{BENCH_EMAIL_DOMAIN}",
                f"Patient {i:05d}",
                password_hash,
                zone_name,
            )
        )
        people.append(p)
    conn.executemany(
        "INSERT INTO users (id, clinic_id, role, email, display_name, password_hash, timezone, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(*u, stamp, stamp) for u in users],
    )
    w = Writer(conn)
    today_index = (now.date() - start).days
    for p in people:
        w.add(
            "INSERT INTO care_team (patient_id, therapist_id, added_at, added_by) VALUES (?, ?, ?, ?)",
            (p.id, p.therapist_id, stamp, admin_id),
        )
        w.add(
            "INSERT INTO patient_settings (patient_id, default_sharing, onboarded_at, updated_at) VALUES (?, ?, ?, ?)",
            (p.id, "shared", stamp, stamp),
        )
        rng = p.rng
        days = list(INDUCTION_DAYS)
        while days[-1] + 63 < today_index:
            days.append(days[-1] + rng.randint(49, 63))
        p.session_days = days
        for number, day in enumerate([*days, today_index + 6]):
            sid = _uuid(rng)
            when = datetime.combine(start + timedelta(days=day), dtime(10, 0), p.zone)
            booster = number >= len(INDUCTION_DAYS)
            w.add(
                "INSERT INTO kap_sessions (id, patient_id, scheduled_for, route, dose_mg, series, setting, created_by,"
                " created_at, updated_at) VALUES (?, ?, ?, 'iv', ?, ?, 'Treatment room 2', ?, ?, ?)",
                (
                    sid,
                    p.id,
                    iso(when),
                    35.0 + 5 * min(number, 3),
                    "booster" if booster else "induction",
                    p.therapist_id,
                    iso(when - timedelta(days=5)),
                    iso(when - timedelta(days=5)),
                ),
            )
            if day <= today_index:
                p.session_ids[day] = sid
        appointment_days = sorted(
            {d + 1 for d in days} | set(range(28, today_index, 14)) | {today_index - 6, today_index + 2}
        )
        for day in appointment_days:
            when = datetime.combine(start + timedelta(days=day), dtime(15, 0), p.zone)
            created = iso(min(when, now) - timedelta(days=7))
            w.add(
                "INSERT INTO appointments (id, patient_id, therapist_id, kind, starts_at, duration_minutes,"
                " created_by, created_at, updated_at) VALUES (?, ?, ?, 'integration', ?, 50, ?, ?, ?)",
                (_uuid(rng), p.id, p.therapist_id, iso(when), p.therapist_id, created, created),
            )
        p.questionnaire_days = {0, 7, 14, 21, *range(35, today_index + 1, 14)}
        plan = json.dumps(
            {
                "warning_signs": "Not answering messages, staying in bed past noon.",
                "coping_strategies": "Cold water on my face, the breathing app, a walk around the block.",
                "distractions": "The library, my neighbour's dog.",
                "people_to_ask": "My partner, my brother.",
                "professionals": "My therapist via the clinic line; 988 any time.",
                "environment": "Medication stays in the locked box.",
                "reason_for_living": "My kids, and seeing the garden in spring.",
            },
            separators=(",", ":"),
        )
        w.add(
            "INSERT INTO safety_plans (patient_id, version, body, updated_at, updated_by) VALUES (?, 1, ?, ?, ?)",
            (p.id, plan, stamp, p.id),
        )
        w.add(
            "INSERT INTO safety_plan_versions (patient_id, version, body, saved_at, saved_by) VALUES (?, 1, ?, ?, ?)",
            (p.id, plan, stamp, p.id),
        )
        if rng.random() < 0.1:
            w.add(
                "INSERT INTO flags (id, patient_id, kind, severity, reason, created_at) VALUES (?, ?, 'low_mood',"
                " 'high', 'Mood 1 or lower on two check-ins running', ?)",
                (_uuid(rng), p.id, iso(now - timedelta(days=rng.randint(0, 20)))),
            )
    w.flush()
    conn.execute("COMMIT")
    clinic = Clinic(clinic_id, admin_id, therapists, people)
    say(f"  {patients} patients, {therapist_count} therapists, courses: {time.monotonic() - started:.1f} s")

    days_per_commit = max(1, 20_000 // max(1, patients))
    conn.execute("BEGIN")
    for day in range(today_index + 1):
        for p in people:
            clinic.entries += _day(w, p, day, start, prompts, today_index)
        w.flush()
        if day % days_per_commit == 0:
            conn.execute("COMMIT")
            conn.execute("BEGIN")
        if day % 30 == 0:
            say(f"  day {day}/{today_index}: {clinic.entries} entries, {time.monotonic() - started:.0f} s")
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    say(f"  {clinic.entries} entries in {time.monotonic() - started:.0f} s, {path.stat().st_size / 1e6:.0f} MB")
    return clinic


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("patients", type=int)
    parser.add_argument("path", type=Path)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    args.path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        for suffix in ("-wal", "-shm"):
            Path(f"{args.path}{suffix}").unlink()
    generate(args.path, args.patients, seed=args.seed)


if __name__ == "__main__":
    main()
