"""The FHIR export is checked by an independent validator (fhir.resources, R4B models, which are wire-compatible
with R4 for these resources) and by walking the JSON for the codes and references a receiver relies on."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from server.exports.fhir import CheckinRecord, PatientInfo, QuestionnaireRecord, fhir_instant, questionnaire_bundle

PATIENT = PatientInfo(id="6f1c2e4a-8a43-4c8e-9d55-0c7c5b1f2a10", display_name="Robin Example")
PHQ9_ID = "0b0e4a53-5d7e-4b8e-a1f1-9a9d7c1e0001"
GAD7_ID = "0b0e4a53-5d7e-4b8e-a1f1-9a9d7c1e0002"
EBI_ID = "ebi-not-a-uuid"  # ids that are not UUIDs still get a stable urn:uuid
FULL_CHECKIN_ID = "0b0e4a53-5d7e-4b8e-a1f1-9a9d7c1e0003"
MOOD_ONLY_CHECKIN_ID = "0b0e4a53-5d7e-4b8e-a1f1-9a9d7c1e0004"

QUESTIONNAIRES = [
    QuestionnaireRecord(
        id=PHQ9_ID,
        instrument="phq9",
        answers=[0, 1, 2, 3, 0, 1, 2, 3, 1, 2],  # tenth answer: "Very difficult"
        score=13.0,
        severity="moderate",
        authored="2026-11-21T23:18:33.123456Z",
    ),
    QuestionnaireRecord(
        id=GAD7_ID,
        instrument="gad7",
        answers=[1, 1, 1, 1, 1, 1, 1],
        score=7.0,
        severity="mild",
        authored="2026-11-21T23:20:00.000000Z",
    ),
    QuestionnaireRecord(
        id=EBI_ID,
        instrument="ebi",
        answers=[80, 60, 40, 70, 55, 90],
        score=65.8,
        severity=None,
        authored="2026-11-22T09:00:00.000000Z",
    ),
]
CHECKINS = [
    CheckinRecord(
        id=FULL_CHECKIN_ID, mood=6, anxiety=3, energy=5, sleep_hours=7.5, authored="2026-11-21T08:00:00.000000Z"
    ),
    CheckinRecord(
        id=MOOD_ONLY_CHECKIN_ID, mood=2, anxiety=None, energy=None, sleep_hours=None, authored="2026-11-22T08:00:00Z"
    ),
]
GENERATED_AT = "2026-11-23T10:11:12.000000Z"


@pytest.fixture(scope="module")
def bundle() -> dict[str, Any]:
    return questionnaire_bundle(
        patient=PATIENT, questionnaires=QUESTIONNAIRES, checkins=CHECKINS, generated_at=GENERATED_AT
    )


def resources(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type]


def by_questionnaire(bundle: dict[str, Any], canonical: str) -> dict[str, Any]:
    [response] = [r for r in resources(bundle, "QuestionnaireResponse") if r["questionnaire"] == canonical]
    return response


def score_for(bundle: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    [observation] = [
        r
        for r in resources(bundle, "Observation")
        if r.get("derivedFrom") == [{"reference": f"urn:uuid:{response['id']}"}]
    ]
    return observation


def references(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "reference":
                yield inner
            else:
                yield from references(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from references(inner)


def test_validates_as_fhir_bundle(bundle: dict[str, Any]) -> None:
    parsed = Bundle.model_validate(bundle)
    assert parsed.type == "collection"
    assert len(parsed.entry or []) == 1 + 2 * len(QUESTIONNAIRES) + len(CHECKINS)


def empty_elements(value: Any, path: str = "") -> Iterator[str]:
    if value is None or value in ("", [], {}):
        yield path
    elif isinstance(value, dict):
        for key, inner in value.items():
            yield from empty_elements(inner, f"{path}.{key}")
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from empty_elements(inner, f"{path}[{index}]")


def test_no_empty_or_null_elements(bundle: dict[str, Any]) -> None:
    # FHIR forbids empty and null elements, and fhir.resources does not check that, so it is checked here.
    assert list(empty_elements(bundle)) == []


def test_status_codes(bundle: dict[str, Any]) -> None:
    # fhir.resources does not check required bindings either.
    assert {r["status"] for r in resources(bundle, "QuestionnaireResponse")} == {"completed"}
    assert {r["status"] for r in resources(bundle, "Observation")} == {"final"}


def test_is_json_serialisable_and_round_trips(bundle: dict[str, Any]) -> None:
    text = json.dumps(bundle)
    assert json.loads(text) == bundle
    Bundle.model_validate_json(text)


def test_bundle_header(bundle: dict[str, Any]) -> None:
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "collection"
    assert bundle["timestamp"] == "2026-11-23T10:11:12.000Z"


def test_patient_is_first_and_every_reference_resolves(bundle: dict[str, Any]) -> None:
    first = bundle["entry"][0]
    assert first["resource"]["resourceType"] == "Patient"
    assert first["fullUrl"] == f"urn:uuid:{PATIENT.id}"
    assert first["resource"]["id"] == PATIENT.id
    assert first["resource"]["name"] == [{"text": "Robin Example"}]

    full_urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(set(full_urls)) == len(full_urls)
    assert all(url.startswith("urn:uuid:") and uuid.UUID(url.removeprefix("urn:uuid:")) for url in full_urls)
    for entry in bundle["entry"]:
        assert entry["resource"]["id"] == entry["fullUrl"].removeprefix("urn:uuid:")
    found = list(references(bundle))
    assert found and set(found) <= set(full_urls)
    for entry in bundle["entry"][1:]:
        assert entry["resource"]["subject"] == {"reference": f"urn:uuid:{PATIENT.id}"}


def test_record_ids_become_full_urls(bundle: dict[str, Any]) -> None:
    full_urls = {e["fullUrl"] for e in bundle["entry"]}
    for record_id in (PHQ9_ID, GAD7_ID, FULL_CHECKIN_ID, MOOD_ONLY_CHECKIN_ID):
        assert f"urn:uuid:{record_id}" in full_urls


def test_ids_are_stable_across_exports(bundle: dict[str, Any]) -> None:
    again = questionnaire_bundle(
        patient=PATIENT, questionnaires=QUESTIONNAIRES, checkins=CHECKINS, generated_at=GENERATED_AT
    )
    assert again == bundle


def test_phq9_response_and_score(bundle: dict[str, Any]) -> None:
    response = by_questionnaire(bundle, "http://loinc.org/q/44249-1")
    assert response["status"] == "completed"
    assert response["authored"] == "2026-11-21T23:18:33.123Z"
    link_ids = [item["linkId"] for item in response["item"]]
    assert link_ids == [
        "44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3", "44260-8", "69722-7",
    ]  # fmt: skip
    codes = [item["answer"][0]["valueCoding"]["code"] for item in response["item"]]
    assert codes[:9] == ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9", "LA6568-5", "LA6569-3", "LA6570-1",
                         "LA6571-9", "LA6569-3"]  # fmt: skip
    assert response["item"][9]["answer"] == [
        {"valueCoding": {"system": "http://loinc.org", "code": "LA6574-3", "display": "Very difficult"}}
    ]
    assert response["item"][0]["text"] == "Little interest or pleasure in doing things"
    assert response["item"][0]["answer"][0]["valueCoding"]["display"] == "Not at all"

    observation = score_for(bundle, response)
    assert observation["status"] == "final"
    assert observation["code"]["coding"] == [{"system": "http://loinc.org", "code": "44261-6"}]
    assert observation["category"][0]["coding"][0]["code"] == "survey"
    assert observation["valueInteger"] == 13
    assert observation["effectiveDateTime"] == response["authored"]
    assert observation["interpretation"] == [{"text": "moderate"}]


def test_gad7_response_and_score(bundle: dict[str, Any]) -> None:
    response = by_questionnaire(bundle, "http://loinc.org/q/69737-5")
    assert [item["linkId"] for item in response["item"]] == [
        "69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7",
    ]  # fmt: skip
    assert {item["answer"][0]["valueCoding"]["code"] for item in response["item"]} == {"LA6569-3"}
    observation = score_for(bundle, response)
    assert observation["code"]["coding"] == [{"system": "http://loinc.org", "code": "70274-6"}]
    assert observation["valueInteger"] == 7
    assert observation["interpretation"] == [{"text": "mild"}]


def test_ebi_response_and_score(bundle: dict[str, Any]) -> None:
    response = by_questionnaire(bundle, "urn:afterglow:questionnaire:ebi")
    assert [item["linkId"] for item in response["item"]] == [f"ebi_{n}" for n in range(1, 7)]
    assert [item["answer"] for item in response["item"]] == [
        [{"valueInteger": value}] for value in (80, 60, 40, 70, 55, 90)
    ]
    observation = score_for(bundle, response)
    assert observation["code"]["coding"][0]["system"] == "urn:afterglow:codes"
    assert observation["code"]["coding"][0]["code"] == "ebi-mean"
    assert observation["valueQuantity"]["value"] == 65.8
    assert "valueInteger" not in observation and "interpretation" not in observation
    # A non-UUID record id still maps to the same derived uuid every time.
    assert uuid.UUID(response["id"])


def test_all_answer_codes_are_the_loinc_answer_lists(bundle: dict[str, Any]) -> None:
    frequency = {"LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"}
    difficulty = {"LA6572-7", "LA6573-5", "LA6574-3", "LA6575-0"}
    for response in resources(bundle, "QuestionnaireResponse"):
        for item in response["item"]:
            coding = item["answer"][0].get("valueCoding")
            if coding is None:
                continue
            assert coding["system"] == "http://loinc.org"
            assert coding["code"] in (difficulty if item["linkId"] == "69722-7" else frequency)


def test_full_checkin(bundle: dict[str, Any]) -> None:
    [observation] = [e["resource"] for e in bundle["entry"] if e["fullUrl"] == f"urn:uuid:{FULL_CHECKIN_ID}"]
    mood = observation["code"]["coding"][0]
    assert (mood["system"], mood["code"]) == ("urn:afterglow:codes", "mood")
    assert observation["valueInteger"] == 6
    assert observation["effectiveDateTime"] == "2026-11-21T08:00:00.000Z"
    components = {c["code"]["coding"][0]["code"]: c for c in observation["component"]}
    assert components["anxiety"]["valueInteger"] == 3
    assert components["anxiety"]["code"]["coding"][0]["system"] == "urn:afterglow:codes"
    assert components["energy"]["valueInteger"] == 5
    assert components["93832-4"]["code"]["coding"][0]["system"] == "http://loinc.org"
    assert components["93832-4"]["valueQuantity"] == {
        "value": 7.5,
        "unit": "h",
        "system": "http://unitsofmeasure.org",
        "code": "h",
    }


def test_mood_only_checkin_has_no_empty_component(bundle: dict[str, Any]) -> None:
    [observation] = [e["resource"] for e in bundle["entry"] if e["fullUrl"] == f"urn:uuid:{MOOD_ONLY_CHECKIN_ID}"]
    assert observation["valueInteger"] == 2
    assert "component" not in observation


def test_loinc_codes_present(bundle: dict[str, Any]) -> None:
    text = json.dumps(bundle)
    for code in ("44249-1", "44261-6", "69737-5", "70274-6", "69722-7", "93832-4"):
        assert code in text


def test_empty_export_is_still_a_valid_bundle() -> None:
    empty = questionnaire_bundle(patient=PATIENT, questionnaires=[], checkins=[], generated_at=GENERATED_AT)
    Bundle.model_validate(empty)
    assert [e["resource"]["resourceType"] for e in empty["entry"]] == ["Patient"]


def test_corrupt_records_are_refused_not_exported() -> None:
    bad_answers = QuestionnaireRecord(
        id=PHQ9_ID, instrument="phq9", answers=[9] * 9, score=81.0, severity=None, authored=GENERATED_AT
    )
    unknown = QuestionnaireRecord(
        id=PHQ9_ID, instrument="bdi", answers=[0], score=0.0, severity=None, authored=GENERATED_AT
    )
    for record in (bad_answers, unknown):
        with pytest.raises(ValueError, match=PHQ9_ID):
            questionnaire_bundle(patient=PATIENT, questionnaires=[record], checkins=[], generated_at=GENERATED_AT)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2026-11-21T23:18:33.000000Z", "2026-11-21T23:18:33.000Z"),
        ("2026-11-21T23:18:33Z", "2026-11-21T23:18:33.000Z"),
        ("2026-11-21T23:18:33.999999Z", "2026-11-21T23:18:33.999Z"),
        ("2026-11-22T00:18:33+01:00", "2026-11-21T23:18:33.000Z"),
    ],
)
def test_fhir_instant(given: str, expected: str) -> None:
    assert fhir_instant(given) == expected


def test_fhir_instant_refuses_a_timestamp_without_zone() -> None:
    with pytest.raises(ValueError, match="time zone"):
        fhir_instant("2026-11-21T23:18:33")
