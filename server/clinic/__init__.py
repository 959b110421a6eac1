"""The therapist's workspace (their patients, invitations; the caseload and brief grow here)."""
