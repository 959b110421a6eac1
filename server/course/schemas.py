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
