from __future__ import annotations

import msgspec


class PatientSummary(msgspec.Struct):
    id: str
    display_name: str
    email: str
    timezone: str
    disabled: bool


class PatientList(msgspec.Struct):
    items: list[PatientSummary]
