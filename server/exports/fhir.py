"""A patient's questionnaires and check-ins as a FHIR R4 Bundle (plain JSON-able dicts, no FHIR library).

Every entry is addressed by a urn:uuid fullUrl and every reference uses those fullUrls, so the bundle is
self-contained: a receiving system can resolve everything without knowing our server's URLs.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec

from server.measures.instruments import INSTRUMENTS, AnswerOption, Instrument, Item, answers_problem

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
AFTERGLOW_CODES = "urn:afterglow:codes"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"

# Fixed namespace for derived ids: the same record exports under the same fullUrl every time, so a receiver
# can recognise a re-export as an update rather than a duplicate.
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:afterglow:fhir")

JSON = dict[str, Any]


class PatientInfo(msgspec.Struct, frozen=True):
    id: str
    display_name: str


class QuestionnaireRecord(msgspec.Struct, frozen=True):
    id: str
    instrument: str
    answers: list[int]
    score: float
    severity: str | None
    authored: str


class CheckinRecord(msgspec.Struct, frozen=True):
    id: str
    mood: int
    anxiety: int | None
    energy: int | None
    sleep_hours: float | None
    authored: str


def questionnaire_bundle(
    *,
    patient: PatientInfo,
    questionnaires: list[QuestionnaireRecord],
    checkins: list[CheckinRecord],
    generated_at: str,
) -> dict[str, Any]:
    """A `collection` Bundle: the Patient first, then each questionnaire (response + score), then check-ins."""
    patient_uuid = _record_uuid("patient", patient.id)
    subject = _reference(patient_uuid)
    entries = [_entry(patient_uuid, _patient(patient_uuid, patient))]
    for record in questionnaires:
        entries.extend(_questionnaire_entries(record, subject))
    for checkin in checkins:
        checkin_uuid = _record_uuid("checkin", checkin.id)
        entries.append(_entry(checkin_uuid, _checkin_observation(checkin_uuid, checkin, subject)))
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": fhir_instant(generated_at),
        "entry": entries,
    }


# --- Identity and references ---


def _record_uuid(kind: str, record_id: str) -> str:
    """The record's own id when it is already a UUID (entries are PUT to their UUID), else a stable uuid5."""
    try:
        return str(uuid.UUID(record_id))
    except ValueError:
        return str(uuid.uuid5(_NAMESPACE, f"{kind}:{record_id}"))


def _score_uuid(questionnaire_id: str) -> str:
    # The score is not stored as its own record, so its id is derived from the questionnaire it came from.
    return str(uuid.uuid5(_NAMESPACE, f"questionnaire-score:{questionnaire_id}"))


def _reference(resource_uuid: str) -> JSON:
    return {"reference": f"urn:uuid:{resource_uuid}"}


def _entry(resource_uuid: str, resource: JSON) -> JSON:
    return {"fullUrl": f"urn:uuid:{resource_uuid}", "resource": resource}


def fhir_instant(timestamp: str) -> str:
    """An ISO 8601 timestamp with a zone as a FHIR instant in UTC with millisecond precision.

    A timestamp without a zone is refused: guessing one would silently shift when the patient answered."""
    moment = datetime.fromisoformat(timestamp)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {timestamp!r} has no time zone")
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# --- Resources ---


def _patient(patient_uuid: str, patient: PatientInfo) -> JSON:
    return {
        "resourceType": "Patient",
        "id": patient_uuid,
        # Keeps our own id even when it is not a UUID (then the resource id is derived from it).
        "identifier": [{"system": "urn:afterglow:patient", "value": patient.id}],
        "name": [{"text": patient.display_name}],
    }


def _questionnaire_entries(record: QuestionnaireRecord, subject: JSON) -> list[JSON]:
    instrument = _instrument(record)
    response_uuid = _record_uuid("questionnaire", record.id)
    score_uuid = _score_uuid(record.id)
    authored = fhir_instant(record.authored)
    response = {
        "resourceType": "QuestionnaireResponse",
        "id": response_uuid,
        "questionnaire": _questionnaire_canonical(instrument),
        "status": "completed",
        "subject": subject,
        "authored": authored,
        "item": _response_items(instrument, record.answers),
    }
    observation = _score_observation(instrument, record, score_uuid, subject, authored)
    observation["derivedFrom"] = [_reference(response_uuid)]
    return [_entry(response_uuid, response), _entry(score_uuid, observation)]


def _instrument(record: QuestionnaireRecord) -> Instrument:
    instrument = INSTRUMENTS.get(record.instrument)
    if instrument is None:
        raise ValueError(f"questionnaire {record.id}: unknown instrument {record.instrument!r}")
    # Stored answers were validated on the way in; a failure here means corrupted data, which must not be
    # exported to another clinical system as if it were a real response.
    problem = answers_problem(instrument, record.answers)
    if problem is not None:
        raise ValueError(f"questionnaire {record.id}: {problem}")
    return instrument


def _questionnaire_canonical(instrument: Instrument) -> str:
    # The EBI has no LOINC panel, so it gets a local canonical instead.
    if instrument.loinc_panel is not None:
        return f"http://loinc.org/q/{instrument.loinc_panel}"
    return f"urn:afterglow:questionnaire:{instrument.id}"


def _response_items(instrument: Instrument, answers: list[int]) -> list[JSON]:
    items = [
        _response_item(item, _answer(instrument.options, value))
        for item, value in zip(instrument.items, answers, strict=False)
    ]
    if instrument.difficulty is not None and len(answers) > len(instrument.items):
        difficulty_answer = _answer(instrument.difficulty_options, answers[len(instrument.items)])
        items.append(_response_item(instrument.difficulty, difficulty_answer))
    return items


def _response_item(item: Item, answer: JSON) -> JSON:
    # The LOINC item code is the link id receivers of a LOINC questionnaire expect; EBI items have none.
    return {"linkId": item.loinc or item.id, "text": item.text, "answer": [answer]}


def _answer(options: tuple[AnswerOption, ...], value: int) -> JSON:
    """A coded answer for option-based items; a bare integer for visual-analogue items (the EBI)."""
    if not options:
        return {"valueInteger": value}
    option = next(option for option in options if option.value == value)
    if option.loinc is None:
        return {"valueInteger": value}
    return {"valueCoding": {"system": LOINC, "code": option.loinc, "display": option.label}}


def _score_observation(
    instrument: Instrument, record: QuestionnaireRecord, score_uuid: str, subject: JSON, authored: str
) -> JSON:
    observation: JSON = {
        "resourceType": "Observation",
        "id": score_uuid,
        "status": "final",
        "category": [_survey_category()],
        "code": _score_code(instrument),
        "subject": subject,
        "effectiveDateTime": authored,
        **_score_value(instrument, record),
    }
    if record.severity is not None:
        observation["interpretation"] = [{"text": record.severity}]
    return observation


def _survey_category() -> JSON:
    return {"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey", "display": "Survey"}]}


def _score_code(instrument: Instrument) -> JSON:
    if instrument.loinc_total is not None:
        coding = {"system": LOINC, "code": instrument.loinc_total}
        return {"coding": [coding], "text": f"{instrument.name} total score"}
    coding = {"system": AFTERGLOW_CODES, "code": f"{instrument.id}-mean", "display": f"{instrument.name} mean score"}
    return {"coding": [coding], "text": f"{instrument.name} mean score"}


def _score_value(instrument: Instrument, record: QuestionnaireRecord) -> JSON:
    if instrument.scoring == "mean":
        # UCUM's annotation unit for a dimensionless score.
        return {"valueQuantity": {"value": record.score, "unit": "{score}", "system": UCUM, "code": "{score}"}}
    if not float(record.score).is_integer():
        raise ValueError(f"questionnaire {record.id}: {instrument.name} total {record.score} is not a whole number")
    return {"valueInteger": int(record.score)}


def _checkin_observation(checkin_uuid: str, checkin: CheckinRecord, subject: JSON) -> JSON:
    observation: JSON = {
        "resourceType": "Observation",
        "id": checkin_uuid,
        "status": "final",
        "category": [_survey_category()],
        "code": _afterglow_code("mood", "Mood (0\u201310)"),
        "subject": subject,
        "effectiveDateTime": fhir_instant(checkin.authored),
        "valueInteger": checkin.mood,
    }
    components = _checkin_components(checkin)
    # FHIR forbids empty arrays, so a mood-only check-in has no component element at all.
    if components:
        observation["component"] = components
    return observation


def _checkin_components(checkin: CheckinRecord) -> list[JSON]:
    components: list[JSON] = []
    if checkin.anxiety is not None:
        components.append({"code": _afterglow_code("anxiety", "Anxiety (0\u201310)"), "valueInteger": checkin.anxiety})
    if checkin.energy is not None:
        components.append({"code": _afterglow_code("energy", "Energy (0\u201310)"), "valueInteger": checkin.energy})
    if checkin.sleep_hours is not None:
        components.append(
            {
                "code": {"coding": [{"system": LOINC, "code": "93832-4", "display": "Sleep duration"}]},
                "valueQuantity": {"value": checkin.sleep_hours, "unit": "h", "system": UCUM, "code": "h"},
            }
        )
    return components


def _afterglow_code(code: str, display: str) -> JSON:
    return {"coding": [{"system": AFTERGLOW_CODES, "code": code, "display": display}], "text": display}
