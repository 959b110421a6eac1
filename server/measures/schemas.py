from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta


class DueQuestionnaire(msgspec.Struct):
    instrument: str
    name: str
    reason: str
    opens: str
    closes: str


class DueList(msgspec.Struct):
    items: list[DueQuestionnaire]


class ScheduleIn(msgspec.Struct, forbid_unknown_fields=True):
    induction_interval_days: Annotated[int, Meta(ge=1, le=90)] = 7
    maintenance_interval_days: Annotated[int, Meta(ge=1, le=180)] = 14
    at_booster: bool = True
    ebi_after_session: bool = True
    window_days: Annotated[int, Meta(ge=1, le=14)] = 3


class OptionOut(msgspec.Struct):
    value: int
    label: str


class ItemOut(msgspec.Struct):
    id: str
    text: str


class InstrumentOut(msgspec.Struct):
    id: str
    name: str
    title: str
    instructions: str
    items: list[ItemOut]
    options: list[OptionOut]
    scale_min: int
    scale_max: int
    scale_anchors: list[str] | None
    difficulty: ItemOut | None
    difficulty_options: list[OptionOut]
    scoring: str


class InstrumentList(msgspec.Struct):
    items: list[InstrumentOut]


class FlagOut(msgspec.Struct):
    """A safety flag. ``entry_id`` is given only when the care team may open that entry."""

    id: str
    patient_id: str
    patient_name: str
    kind: str
    severity: str
    reason: str
    created_at: str
    entry_kind: str | None
    entry_local_date: str | None
    entry_id: str | None
    acknowledged_at: str | None
    acknowledged_by: str | None
    ack_note: str | None


class FlagList(msgspec.Struct):
    items: list[FlagOut]


class Acknowledgement(msgspec.Struct, forbid_unknown_fields=True):
    note: Annotated[str, Meta(max_length=2000)] = ""
