from __future__ import annotations

import msgspec

from server.accounts.schemas import Role


class AdminUser(msgspec.Struct):
    id: str
    role: Role
    email: str
    display_name: str
    created_at: str
    disabled: bool
    care_team: str | None


class AdminUserList(msgspec.Struct):
    items: list[AdminUser]


class TeamMember(msgspec.Struct):
    id: str
    email: str
    display_name: str
    added_at: str


class TeamList(msgspec.Struct):
    items: list[TeamMember]


class AuditRow(msgspec.Struct):
    id: int
    at: str
    actor_id: str | None
    actor_role: str | None
    action: str
    patient_id: str | None
    object_type: str | None
    object_id: str | None
    client_address: str | None
    detail: str


class AuditList(msgspec.Struct):
    items: list[AuditRow]
