from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

Route = Literal["iv", "im", "intranasal", "sublingual", "oral"]
Series = Literal["induction", "booster"]

ROUTE_LABELS = {
    "iv": "IV infusion",
    "im": "IM injection",
    "intranasal": "Intranasal (esketamine)",
    "sublingual": "Sublingual lozenge",
    "oral": "Oral",
}


class KapSessionIn(msgspec.Struct, forbid_unknown_fields=True):
    scheduled_for: datetime
    route: Route
    series: Series
    dose_mg: Annotated[float, Meta(gt=0, le=1000)] | None = None
    setting: Annotated[str, Meta(max_length=500)] = ""


class KapSessionOut(msgspec.Struct):
    id: str
    patient_id: str
    scheduled_for: str
    route: Route
    series: Series
    dose_mg: float | None
    setting: str
    number: int
    cancelled: bool


class KapSessionList(msgspec.Struct):
    items: list[KapSessionOut]
    next: KapSessionOut | None = None


AppointmentKind = Literal["integration", "kap_session", "intake"]
KIND_LABELS = {"integration": "Integration appointment", "kap_session": "Ketamine session", "intake": "Intake"}


class AppointmentIn(msgspec.Struct, forbid_unknown_fields=True):
    """An appointment. A ``kap_session`` also needs its route and series: it is recorded as a session."""

    starts_at: datetime
    kind: AppointmentKind
    duration_minutes: Annotated[int, Meta(ge=5, le=480)] = 50
    route: Route | None = None
    series: Series | None = None
    dose_mg: Annotated[float, Meta(gt=0, le=1000)] | None = None
    setting: Annotated[str, Meta(max_length=500)] = ""


class AppointmentChange(msgspec.Struct, forbid_unknown_fields=True):
    """Move (new ``starts_at``) or cancel (``cancelled: true``) an appointment or ketamine session."""

    starts_at: datetime | None = None
    duration_minutes: Annotated[int, Meta(ge=5, le=480)] | None = None
    cancelled: bool | None = None


class AppointmentOut(msgspec.Struct):
    id: str
    patient_id: str
    kind: AppointmentKind
    starts_at: str
    duration_minutes: int
    cancelled: bool
    patient_name: str | None = None
    route: Route | None = None
    series: Series | None = None
    dose_mg: float | None = None
    number: int | None = None


class AppointmentList(msgspec.Struct):
    items: list[AppointmentOut]
