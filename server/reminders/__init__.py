"""Reminders: what is due for each patient, delivered by Web Push and shown in the app."""
