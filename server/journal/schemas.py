"""The journal's API shapes. Inputs forbid unknown fields and bound every string and list."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

Sharing = Literal["private", "shared", "discuss"]
ReflectionKind = Literal["intention", "quick_capture", "integration", "free"]
InstrumentId = Literal["phq9", "gad7", "ebi"]
Status = Literal["draft", "final"]
LocalDate = Annotated[str, Meta(pattern=r"^\d{4}-\d{2}-\d{2}$", description="The patient's local date, YYYY-MM-DD")]
TimeZoneName = Annotated[str, Meta(min_length=1, max_length=64, description="IANA time zone, e.g. America/Denver")]
Scale10 = Annotated[int, Meta(ge=0, le=10)]
Scale3 = Annotated[int, Meta(ge=0, le=3)]
Note = Annotated[str, Meta(max_length=2000)]
Tag = Annotated[str, Meta(min_length=1, max_length=40)]
IdText = Annotated[str, Meta(min_length=1, max_length=64)]
BaseVersion = Annotated[
    int, Meta(ge=0, description="The version this edit started from; a stale one is refused with 409")
]

MAX_ANSWER_CHARS = 20_000


class EntryMeta(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Fields every entry accepts. Omitted on an update, they keep their stored values."""

    sharing: Sharing | None = None
    local_date: LocalDate | None = None
    timezone: TimeZoneName | None = None
    base_version: BaseVersion | None = None


class CheckinIn(EntryMeta, kw_only=True, forbid_unknown_fields=True):
    mood: Scale10
    anxiety: Scale10 | None = None
    energy: Scale10 | None = None
    sleep_hours: Annotated[float, Meta(ge=0, le=24)] | None = None
    tags: Annotated[list[Tag], Meta(max_length=20)] = []
    note: Note = ""


class AnswerIn(msgspec.Struct, forbid_unknown_fields=True):
    prompt_id: IdText
    text: Annotated[str, Meta(max_length=MAX_ANSWER_CHARS)]


class ReflectionIn(EntryMeta, kw_only=True, forbid_unknown_fields=True):
    kind: ReflectionKind
    kap_session_id: IdText | None = None
    prompt_set: IdText | None = None
    answers: Annotated[list[AnswerIn], Meta(max_length=30)] = []
    status: Status = "final"


class Symptoms(msgspec.Struct, forbid_unknown_fields=True):
    nausea: Scale3 = 0
    headache: Scale3 = 0
    dizziness: Scale3 = 0
    drowsiness: Scale3 = 0
    dissociation: Scale3 = 0
    foggy_thinking: Scale3 = 0
    mood_or_anxiety_dip: Scale3 = 0
    blurred_vision: Scale3 = 0
    bladder_urinary: Scale3 = 0
    cravings: Scale3 = 0


SYMPTOM_LABELS = {
    "nausea": "Nausea",
    "headache": "Headache",
    "dizziness": "Dizziness",
    "drowsiness": "Drowsiness",
    "dissociation": "Lingering dissociation",
    "foggy_thinking": "Foggy thinking",
    "mood_or_anxiety_dip": "Mood or anxiety dip",
    "blurred_vision": "Blurred vision",
    "bladder_urinary": "Bladder or urinary symptoms",
    "cravings": "Cravings",
}
SEVERITY_LABELS = ("None", "Mild", "Moderate", "Severe")


class AftercareIn(EntryMeta, kw_only=True, forbid_unknown_fields=True):
    kap_session_id: IdText
    symptoms: Symptoms = msgspec.field(default_factory=Symptoms)
    note: Note = ""


class QuestionnaireIn(EntryMeta, kw_only=True, forbid_unknown_fields=True):
    instrument: InstrumentId
    answers: Annotated[list[int], Meta(max_length=11)]
    kap_session_id: IdText | None = None


class SafetyPlanBody(msgspec.Struct, forbid_unknown_fields=True):
    """Stanley-Brown safety plan sections, in order."""

    warning_signs: Note = ""
    coping_strategies: Note = ""
    distractions: Note = ""
    people_to_ask: Note = ""
    professionals: Note = ""
    environment: Note = ""
    reason_for_living: Note = ""


SAFETY_PLAN_SECTIONS = {
    "warning_signs": "Warning signs that a crisis may be developing",
    "coping_strategies": "Things I can do on my own to take my mind off my problems",
    "distractions": "People and places that help me feel better",
    "people_to_ask": "People I can ask for help",
    "professionals": "Professionals and crisis lines I can contact",
    "environment": "Making my environment safe",
    "reason_for_living": "My reason for living",
}


class SafetyPlanIn(SafetyPlanBody, kw_only=True, forbid_unknown_fields=True):
    base_version: BaseVersion | None = None


class SafetyPlanOut(msgspec.Struct):
    plan: SafetyPlanBody
    version: int
    updated_at: str | None
    updated_by_role: str | None


class CrisisLine(msgspec.Struct):
    label: str
    number: str
    kind: str


class CrisisCard(msgspec.Struct):
    message: str
    lines: list[CrisisLine]
    safety_plan: SafetyPlanBody | None


class EntryCommon(msgspec.Struct, kw_only=True):
    id: str
    sharing: Sharing
    status: Status
    local_date: str
    timezone: str
    version: int
    created_at: str
    updated_at: str


class CheckinOut(EntryCommon, kw_only=True, tag_field="type", tag="checkin"):
    mood: int
    anxiety: int | None = None
    energy: int | None = None
    sleep_hours: float | None = None
    tags: list[str] = []
    note: str = ""
    safety_alert: bool = False
    crisis: CrisisCard | None = None


class AnswerOut(msgspec.Struct):
    prompt_id: str
    prompt: str
    text: str


class ReflectionOut(EntryCommon, kw_only=True, tag_field="type", tag="reflection"):
    kind: ReflectionKind
    kap_session_id: str | None = None
    prompt_set: str | None = None
    answers: list[AnswerOut] = []


class AftercareOut(EntryCommon, kw_only=True, tag_field="type", tag="aftercare"):
    kap_session_id: str | None = None
    symptoms: Symptoms = msgspec.field(default_factory=Symptoms)
    note: str = ""


class QuestionnaireOut(EntryCommon, kw_only=True, tag_field="type", tag="questionnaire"):
    instrument: InstrumentId
    answers: list[int]
    kap_session_id: str | None = None
    score: float
    severity: str | None = None
    safety_alert: bool = False
    crisis: CrisisCard | None = None


AnyEntry = CheckinOut | ReflectionOut | AftercareOut | QuestionnaireOut


class CheckinList(msgspec.Struct):
    items: list[CheckinOut]


class ReflectionList(msgspec.Struct):
    items: list[ReflectionOut]


class AftercareList(msgspec.Struct):
    items: list[AftercareOut]


class QuestionnaireList(msgspec.Struct):
    items: list[QuestionnaireOut]


class EntryList(msgspec.Struct):
    items: list[AnyEntry]


class Conflict(msgspec.Struct):
    """409: the entry changed since the version the client edited. The client keeps both."""

    detail: str
    errors: list[dict[str, str]]
    current: AnyEntry


class SettingsIn(msgspec.Struct, forbid_unknown_fields=True):
    default_sharing: Sharing | None = None
    timezone: TimeZoneName | None = None
    reminder_time: Annotated[str, Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] | None = None


class SettingsOut(msgspec.Struct):
    default_sharing: Sharing
    timezone: str
    reminder_time: str


class PromptOut(msgspec.Struct):
    id: str
    text: str
    hint: str


class PromptSetOut(msgspec.Struct):
    id: str
    kind: str
    version: int
    title: str
    intro: str
    prompts: list[PromptOut]


class PromptSetList(msgspec.Struct):
    items: list[PromptSetOut]
