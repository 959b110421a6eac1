"""``afterglow demo``: a demo clinic to click through. It grows as features land."""

from __future__ import annotations

import msgspec

from server.accounts import queries as account_queries
from server.accounts import service as accounts
from server.clock import Clock, iso
from server.db import Database
from server.demo_course import fill_course
from server.errors import ConflictError
from server.security.audit import SYSTEM

DEMO_PASSWORD = "afterglow-demo-journal"  # noqa: S105 - printed for the demo on purpose


class DemoPerson(msgspec.Struct, frozen=True):
    role: str
    email: str
    name: str


ADMIN = DemoPerson("admin", "admin@demo.afterglow.test", "Dana Admin")
THERAPIST = DemoPerson("therapist", "therapist@demo.afterglow.test", "Dr. Maya Reyes")
OTHER_THERAPIST = DemoPerson("therapist", "therapist2@demo.afterglow.test", "Dr. Sam Okafor")
PATIENTS = [
    DemoPerson("patient", "river@demo.afterglow.test", "River Chen"),
    DemoPerson("patient", "jordan@demo.afterglow.test", "Jordan Blake"),
    DemoPerson("patient", "alex@demo.afterglow.test", "Alex Moreno"),
]
OTHER_PATIENT = DemoPerson("patient", "casey@demo.afterglow.test", "Casey Singh")


async def _ensure(db: Database, clock: Clock, person: DemoPerson) -> str:
    try:
        return await accounts.create_account(
            db,
            clock,
            SYSTEM,
            role=person.role,
            email=person.email,
            display_name=person.name,
            password=DEMO_PASSWORD,
            clinic_name="Demo Clinic",
        )
    except ConflictError:
        row = await account_queries.user_by_email(db, person.email)
        assert row is not None
        return str(row["id"])


async def create_demo(db: Database, clock: Clock) -> list[DemoPerson]:
    """Create (or find) the demo people, their care teams and their courses. Safe to run twice."""
    await _ensure(db, clock, ADMIN)
    therapist_id = await _ensure(db, clock, THERAPIST)
    other_id = await _ensure(db, clock, OTHER_THERAPIST)
    teams = [(await _ensure(db, clock, p), therapist_id) for p in PATIENTS]
    teams.append((await _ensure(db, clock, OTHER_PATIENT), other_id))
    async with db.transaction() as conn:
        # So the demo can be clicked through at once; a real clinic requires two-factor sign-in for its
        # care team (the default), and this can be switched on in the admin's clinic settings.
        await conn.execute("UPDATE clinics SET mfa_required_for_clinicians = 0 WHERE name = 'Demo Clinic'")
        for patient_id, team_therapist in teams:
            await account_queries.add_to_care_team(conn, patient_id, team_therapist, None, iso(clock.now()))
    for seed, (patient_id, team_therapist) in enumerate(teams):
        if await db.fetch_one("SELECT 1 FROM kap_sessions WHERE patient_id = ? LIMIT 1", (patient_id,)):
            continue  # already has a course: running the demo again adds nothing
        await fill_course(
            db,
            patient_id=patient_id,
            therapist_id=team_therapist,
            seed=seed,
            today=clock.now(),
            item9_recently=seed == 1,
        )
    return [ADMIN, THERAPIST, OTHER_THERAPIST, *PATIENTS, OTHER_PATIENT]
