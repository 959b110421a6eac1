"""The admin API's shapes. Inputs forbid unknown fields and bound every string and list; the bounds are
named once here and reused by the HTML forms, so a form and a script are refused for the same reasons."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from server.accounts.schemas import Role
from server.measures.schemas import ScheduleIn

# --- people and care teams -----------------------------------------------------------------------------


class AdminUser(msgspec.Struct):
    id: str
    role: Role
    email: str
    display_name: str
    created_at: str
    disabled: bool
    care_team: str | None
    # A patient's enabled therapists: 0 means nobody can see what they share.
    active_therapists: int
    # A therapist's patients.
    patient_count: int


class AdminUserList(msgspec.Struct):
    items: list[AdminUser]


class TeamMember(msgspec.Struct):
    id: str
    email: str
    display_name: str
    added_at: str
    disabled: bool = False


class TeamList(msgspec.Struct):
    items: list[TeamMember]


class TherapistOut(msgspec.Struct):
    id: str
    email: str
    display_name: str
    disabled: bool
    patient_count: int


class TherapistList(msgspec.Struct):
    items: list[TherapistOut]


class CaseloadPatient(msgspec.Struct):
    """A patient on a therapist's care team, as the admin sees them: who, not what they wrote."""

    id: str
    email: str
    display_name: str
    disabled: bool
    added_at: str


class CaseloadList(msgspec.Struct):
    items: list[CaseloadPatient]


# --- clinic settings -------------------------------------------------------------------------------------

ClinicName = Annotated[str, Meta(min_length=1, max_length=200)]
CrisisKind = Literal["call", "text", "call_or_text"]
CRISIS_KINDS: tuple[CrisisKind, ...] = ("call", "text", "call_or_text")
CrisisLabel = Annotated[str, Meta(min_length=1, max_length=100)]
# Digits with the usual separators; the digit count (2-15, as E.164 allows) is checked by the service.
CrisisNumber = Annotated[str, Meta(min_length=2, max_length=30, pattern=r"^\+?[0-9 ().-]+$")]
MissedCheckinDays = Annotated[int, Meta(ge=1, le=60)]
MAX_CRISIS_LINES = 8


class CrisisLineSetting(msgspec.Struct, forbid_unknown_fields=True):
    """One line on the patients' "Need help now?" page and crisis card."""

    label: CrisisLabel
    number: CrisisNumber
    kind: CrisisKind


class ClinicSettingsIn(msgspec.Struct, forbid_unknown_fields=True):
    name: ClinicName
    crisis_lines: Annotated[list[CrisisLineSetting], Meta(min_length=1, max_length=MAX_CRISIS_LINES)]
    missed_checkin_days: MissedCheckinDays
    schedule_defaults: ScheduleIn
    # Therapists and admins must use two-factor sign-in (on unless the clinic decides otherwise).
    mfa_required_for_clinicians: bool = True


class ClinicSettingsOut(msgspec.Struct):
    id: int
    name: str
    crisis_lines: list[CrisisLineSetting]
    missed_checkin_days: int
    schedule_defaults: ScheduleIn
    mfa_required_for_clinicians: bool


# --- prompt sets -----------------------------------------------------------------------------------------

PromptKind = Literal["intention", "quick_capture", "integration"]
PROMPT_KINDS: tuple[PromptKind, ...] = ("intention", "quick_capture", "integration")
PromptSlug = Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
PromptText = Annotated[str, Meta(min_length=1, max_length=300)]
PromptHint = Annotated[str, Meta(max_length=300)]
PromptSetTitle = Annotated[str, Meta(min_length=1, max_length=100)]
PromptSetIntro = Annotated[str, Meta(max_length=500)]
MAX_PROMPTS = 30


class PromptIn(msgspec.Struct, forbid_unknown_fields=True):
    id: PromptSlug
    text: PromptText
    hint: PromptHint = ""


class PromptSetIn(msgspec.Struct, forbid_unknown_fields=True):
    """A new prompt set, published as the next version of its kind."""

    kind: PromptKind
    title: PromptSetTitle
    prompts: Annotated[list[PromptIn], Meta(min_length=1, max_length=MAX_PROMPTS)]
    intro: PromptSetIntro = ""


class AdminPrompt(msgspec.Struct):
    id: str
    text: str
    hint: str


class PromptSetVersion(msgspec.Struct):
    id: str
    kind: str
    version: int
    title: str
    intro: str
    created_at: str
    # The version new entries of this kind use.
    current: bool
    prompts: list[AdminPrompt]


class PromptSetVersionList(msgspec.Struct):
    items: list[PromptSetVersion]


# --- the audit trail -------------------------------------------------------------------------------------

ActionMatch = Literal["prefix", "exact"]


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
    actor_name: str | None = None
    patient_name: str | None = None


class AuditList(msgspec.Struct):
    items: list[AuditRow]
    # Pass as ``before`` for the next (older) page; null on the last page.
    next_before: int | None = None
