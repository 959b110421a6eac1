"""The "Need help now?" page dials what the clinic typed, and offers only what each line supports."""

from __future__ import annotations

from tests.conftest import Client, People

LINES = [
    {"label": "On-call therapist", "number": "+1 (555) 010-0199", "kind": "call"},
    {"label": "Crisis Text Line", "number": "741741", "kind": "text"},
    {"label": "988 Lifeline", "number": "988", "kind": "call_or_text"},
]


def test_links_are_dialable_and_match_each_lines_kind(client: Client, people: People) -> None:
    client.login(people.admin.email)
    current = client.get("/api/v1/admin/clinic").json()
    body = {k: current[k] for k in ("name", "missed_checkin_days", "schedule_defaults", "mfa_required_for_clinicians")}
    assert client.put("/api/v1/admin/clinic", json={**body, "crisis_lines": LINES}).status_code == 200
    client.cookies.clear()
    page = client.get("/help").text
    assert 'href="tel:+15550100199"' in page
    assert 'href="sms:+15550100199"' not in page
    assert 'href="sms:741741"' in page and 'href="tel:741741"' not in page
    assert 'href="tel:988"' in page and 'href="sms:988"' in page
