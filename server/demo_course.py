"""A believable ketamine course for the demo patients: six induction sessions over two and a half weeks,
a booster five weeks later, daily check-ins whose mood lifts after the sessions and fades before the
booster, the reflections, aftercare reports and questionnaires that go with them, and a safety plan.

Every entry goes through the same service as the app, dated by a clock that walks through the course.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from server.clock import Clock
from server.course.schemas import AppointmentIn, KapSessionIn
from server.course.service import create_appointment, record_session
from server.db import Database
from server.journal import service
from server.journal.schemas import (
    AftercareIn,
    AnswerIn,
    CheckinIn,
    QuestionnaireIn,
    ReflectionIn,
    SafetyPlanBody,
    Symptoms,
)
from server.security.audit import Actor

COURSE_DAYS = 70
INDUCTION_DAYS = (7, 9, 11, 14, 16, 18)
BOOSTER_DAY = 53
# Baseline, weekly through induction, every two weeks after, and at the booster (PRODUCT.md §4).
QUESTIONNAIRE_DAYS = (0, 14, 21, 35, 49, BOOSTER_DAY, 67)
NOTES = (
    "Slept badly, heavy morning.",
    "Walked by the river, felt a bit lighter.",
    "Hard conversation with my sister.",
    "Noticed I laughed today.",
    "Tired but okay.",
    "Work was a lot.",
    "Called an old friend.",
    "",
    "",
    "",
)
INTEGRATION = {
    "intention_revisited": "I wanted to stop carrying the old shame. It feels less heavy than it did.",
    "what_happened": "At first a lot of colour, then a long quiet stretch, like floating above the house I grew up in.",
    "body": "Warmth in my chest; my hands felt far away. Today a little headache lingers.",
    "emotions": "Grief first, then something like relief. Afterwards tender, a bit raw.",
    "images": "A closed door that was not locked. My grandmother's kitchen.",
    "moments": "Surprising: I wasn't afraid of the door. Difficult: the grief. Beautiful: the light at the end.",
    "insight": "I have been waiting for permission that nobody else can give me.",
    "remember": "The door was never locked.",
    "action": "Write to my brother this week, and tell my partner about the door.",
    "themes": "Doors, houses, being allowed.",
}


class WalkingClock(Clock):
    """A clock the demo moves through the course, so entries carry believable times."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


def _mood_on(day: int, rng: random.Random) -> float:
    """Low at baseline, lifting through induction, fading before the booster, lifting again."""
    if day < INDUCTION_DAYS[0]:
        base = 2.8
    elif day <= INDUCTION_DAYS[-1] + 7:
        base = 2.8 + 3.6 * (day - INDUCTION_DAYS[0]) / (INDUCTION_DAYS[-1] + 7 - INDUCTION_DAYS[0])
    elif day < BOOSTER_DAY:
        base = 6.4 - 1.6 * (day - INDUCTION_DAYS[-1] - 7) / (BOOSTER_DAY - INDUCTION_DAYS[-1] - 7)
    else:
        base = min(6.8, 4.8 + 0.25 * (day - BOOSTER_DAY))
    return max(0, min(10, base + rng.gauss(0, 1.0)))


def _phq9(score_target: int, rng: random.Random, item9: int = 0) -> list[int]:
    answers = [0] * 9
    answers[8] = item9
    remaining = max(0, score_target - item9)
    while remaining > 0:
        i = rng.randrange(8)
        if answers[i] < 3:
            answers[i] += 1
            remaining -= 1
    return answers


def _gad7(score_target: int, rng: random.Random) -> list[int]:
    answers = [0] * 7
    remaining = score_target
    while remaining > 0:
        i = rng.randrange(7)
        if answers[i] < 3:
            answers[i] += 1
            remaining -= 1
    return answers


async def fill_course(
    db: Database, *, patient_id: str, therapist_id: str, seed: int, today: datetime, item9_recently: bool = False
) -> int:
    """Write a course of entries for one patient. Returns how many entries were written."""
    rng = random.Random(seed)  # deterministic: the same demo every time
    zone = ZoneInfo("America/Denver")
    start = (today - timedelta(days=COURSE_DAYS)).astimezone(zone).date()
    therapist = Actor(therapist_id, "therapist", "demo")
    patient = Actor(patient_id, "patient", "demo")
    clock = WalkingClock(today)

    def at(day: int, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(start + timedelta(days=day), time(hour, minute), zone).astimezone(UTC)

    def new_id() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    async def put(day: int, hour: int, write: service.EntryWrite) -> None:
        clock.moment = at(day, hour, rng.randrange(60))
        await service.put_entry(db, clock, patient_id=patient_id, actor=patient, entry_id=new_id(), write=write)

    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE users SET timezone = 'America/Denver', created_at = ? WHERE id = ?",
            (at(0, 9).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), patient_id),
        )
    sessions = {}
    for number, day in enumerate([*INDUCTION_DAYS, BOOSTER_DAY]):
        clock.moment = at(max(0, day - 5), 10)
        booster = day == BOOSTER_DAY
        session = await record_session(
            db,
            clock,
            patient_id=patient_id,
            actor=therapist,
            data=KapSessionIn(
                scheduled_for=at(day, 10),
                route="iv",
                series="booster" if booster else "induction",
                dose_mg=35.0 + 5 * min(number, 3),
                setting="Treatment room 2, music, eyeshade",
            ),
        )
        sessions[day] = session.id
    # Integration appointments through the course, the last a few days ago and the next one soon.
    today_offset = (today.astimezone(zone).date() - start).days
    for day in (INDUCTION_DAYS[2] + 1, INDUCTION_DAYS[-1] + 3, 32, BOOSTER_DAY + 2, today_offset - 6, today_offset + 2):
        clock.moment = at(max(0, min(day, today_offset) - 7), 9)
        await create_appointment(
            db,
            clock,
            patient_id=patient_id,
            actor=therapist,
            data=AppointmentIn(starts_at=at(day, 15), kind="integration"),
        )
    # A future booster, so "next session" has something to show.
    clock.moment = today
    await record_session(
        db,
        clock,
        patient_id=patient_id,
        actor=therapist,
        data=KapSessionIn(scheduled_for=today + timedelta(days=6), route="iv", series="booster", dose_mg=50.0),
    )
    written = 0
    plan = SafetyPlanBody(
        warning_signs="Not answering messages, staying in bed past noon, thinking everyone is better off without me.",
        coping_strategies="Cold water on my face, the breathing app, a walk around the block.",
        distractions="The library, my neighbour's dog, the climbing gym.",
        people_to_ask="Sam (partner), my brother Jo.",
        professionals="My therapist via the clinic line; 988 any time.",
        environment="Medication stays in the locked box; Sam keeps the key.",
        reason_for_living="My kids, and seeing the garden in spring.",
    )
    clock.moment = at(2, 18)
    await service.save_safety_plan(
        db, clock, patient_id=patient_id, editor_id=patient_id, actor=patient, plan=plan, base_version=None
    )
    today_index = (today.astimezone(zone).date() - start).days
    for day in range(today_index + 1):
        for hour in (8, 20)[: rng.choice((1, 2, 2))]:
            mood = round(_mood_on(day, rng))
            await put(
                day,
                hour,
                service.checkin_write(
                    CheckinIn(
                        mood=max(2, mood),
                        anxiety=max(0, min(10, round(8 - mood * 0.6 + rng.gauss(0, 1)))),
                        energy=max(0, min(10, round(mood + rng.gauss(0, 1.2)))),
                        sleep_hours=round(rng.uniform(5, 8.5) * 2) / 2 if hour == 8 else None,
                        tags=rng.sample(["calm", "tired", "hopeful", "anxious", "nature", "friends", "work"], 2),
                        note=rng.choice(NOTES),
                        sharing=rng.choice(("shared", "shared", "shared", "private")),
                    )
                ),
            )
            written += 1
        if day in sessions:
            session_id = sessions[day]
            await put(
                day - 1,
                19,
                await service.reflection_write(
                    db,
                    ReflectionIn(
                        kind="intention",
                        kap_session_id=session_id,
                        answers=[
                            AnswerIn("intention", "To meet whatever comes with curiosity."),
                            AnswerIn("fears", "Losing control. Feeling sick."),
                            AnswerIn("soothes", "Slow breathing, the blanket, Sam's voice."),
                        ],
                        sharing="shared",
                    ),
                ),
            )
            await put(
                day,
                13,
                await service.reflection_write(
                    db,
                    ReflectionIn(
                        kind="quick_capture",
                        kap_session_id=session_id,
                        answers=[
                            AnswerIn("what_happened", "Colours, then quiet. A door."),
                            AnswerIn("three_words", "door, light, allowed"),
                        ],
                        sharing="shared",
                    ),
                ),
            )
            await put(
                day + 1,
                9,
                service.aftercare_write(
                    AftercareIn(
                        kap_session_id=session_id,
                        symptoms=Symptoms(
                            nausea=rng.choice((0, 1, 1, 2)), headache=rng.choice((0, 1)), foggy_thinking=1
                        ),
                        note="Foggy until lunch.",
                        sharing="shared",
                    )
                ),
            )
            await put(
                day + 1,
                10,
                service.questionnaire_write(
                    QuestionnaireIn(
                        instrument="ebi",
                        answers=[rng.randrange(40, 95) for _ in range(6)],
                        sharing="shared",
                    )
                ),
            )
            if day + 2 <= today_index:
                await put(
                    day + 2,
                    19,
                    await service.reflection_write(
                        db,
                        ReflectionIn(
                            kind="integration",
                            kap_session_id=session_id,
                            answers=[AnswerIn(k, v) for k, v in rng.sample(sorted(INTEGRATION.items()), 6)],
                            sharing="discuss" if day == BOOSTER_DAY else rng.choice(("shared", "shared", "private")),
                        ),
                    ),
                )
            written += 5
        if day in QUESTIONNAIRE_DAYS or (item9_recently and day == today_index - 1):
            level = _mood_on(day, rng)
            phq = max(0, min(27, round(22 - level * 2.2 + rng.gauss(0, 1.5))))
            gad = max(0, min(21, round(17 - level * 1.7 + rng.gauss(0, 1.5))))
            item9 = 1 if item9_recently and day == today_index - 1 else 0
            phq_answers = _phq9(max(phq, item9), rng, item9=item9)
            await put(
                day,
                11,
                service.questionnaire_write(QuestionnaireIn(instrument="phq9", answers=phq_answers, sharing="shared")),
            )
            await put(
                day,
                11,
                service.questionnaire_write(
                    QuestionnaireIn(instrument="gad7", answers=_gad7(gad, rng), sharing="shared")
                ),
            )
            written += 2
    return written
