"""Afterglow: an integration journal for ketamine-assisted psychotherapy."""
