"""The clinic admin's work: accounts and care teams, clinic settings, prompt sets and the audit trail.

routes.py (pages) and api.py (JSON) are thin; service.py (people), clinic_settings.py, prompt_sets.py and
audit_trail.py hold the rules; forms.py turns posted forms into the API's Structs; queries.py holds the SQL.
"""
