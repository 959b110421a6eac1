"""Validated instruments (PHQ-9, GAD-7, EBI), their scoring, and the safety rules."""
