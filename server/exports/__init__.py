"""Exports of a patient's data: JSON, CSV and FHIR R4."""
