"""The one place that decides whether a caller may see a patient.

Every feature that touches a patient's data resolves the patient through ``patient_in_reach`` first,
and builds its own queries on the id it returns. Out of reach and nonexistent answer the same 404, so
the answer never confirms that someone is a patient here.
"""

from __future__ import annotations

import msgspec
from litestar.exceptions import NotFoundException

from server.db import Database
from server.security.sessions import CurrentUser


class PatientRef(msgspec.Struct, frozen=True):
    id: str
    display_name: str
    email: str
    timezone: str
    disabled: bool


NOT_FOUND = "No such patient."


async def patient_in_reach(
    db: Database, caller: CurrentUser, patient_id: str, *, administrative: bool = False
) -> PatientRef:
    """The patient, if ``caller`` may see them; else 404.

    A patient reaches only themself; a therapist, the patients on their care team; an admin reaches a
    patient of the clinic only for ``administrative`` work (care teams, accounts), never for clinical data.
    """
    if caller.role == "patient":
        allowed = caller.id == patient_id
    elif caller.role == "therapist":
        allowed = (
            await db.fetch_one(
                "SELECT 1 FROM care_team WHERE patient_id = ? AND therapist_id = ?", (patient_id, caller.id)
            )
            is not None
        )
    else:
        allowed = administrative
    if not allowed:
        raise NotFoundException(NOT_FOUND)
    row = await db.fetch_one(
        "SELECT id, display_name, email, timezone, disabled_at FROM users"
        " WHERE id = ? AND clinic_id = ? AND role = 'patient'",
        (patient_id, caller.clinic_id),
    )
    if row is None:
        raise NotFoundException(NOT_FOUND)
    return PatientRef(
        id=row["id"],
        display_name=row["display_name"],
        email=row["email"],
        timezone=row["timezone"],
        disabled=row["disabled_at"] is not None,
    )
