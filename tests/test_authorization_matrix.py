"""Every route the app registers, asked by six people: nobody signed in, patient A, patient B, A's
therapist, a therapist not on A's care team, and the clinic admin.

Patient A's data is planted first (private and shared entries of every kind, each carrying a unique
word). For every route and person the answer must be the expected one, and nothing private of A may
reach anyone but A, and nothing of A may reach B or the other therapist, in any body, header or
redirect. A route missing from ROUTES fails the test, so no future route escapes it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from tests.conftest import PASSWORD, Client, FrozenClock, People

ACTORS = ("anon", "patient_a", "patient_b", "therapist_a", "therapist_b", "admin")


class Fx(msgspec.Struct):
    """What the routes' path parameters and bodies are filled with: patient A's things."""

    people: People
    patient_c: str
    patient_d: str
    entries: dict[str, str]  # kind -> id of A's shared entry of that kind
    victims: dict[str, str]  # kind -> id of an A entry that a DELETE may remove
    session: str
    appointment: str
    flag: str
    invitation: str
    invitation2: str
    private_words: list[str]
    shared_words: list[str]


# Who gets what. "ok" means the route serves them (2xx, a 303 after a form, or 409/422 when a planted
# body meets state that a previous person's request already changed); the others are the denials.
OK = "ok"
EVERYONE = dict.fromkeys(ACTORS, OK)
SIGNED_IN = {**EVERYONE, "anon": "unauth"}
PATIENT = {**SIGNED_IN, "therapist_a": 403, "therapist_b": 403, "admin": 403}
PATIENT_A_ONLY = {**PATIENT, "patient_b": 404}
THERAPIST = {**SIGNED_IN, "patient_a": 403, "patient_b": 403, "admin": 403}
CARE_TEAM = {**THERAPIST, "therapist_b": 404}
CLINICIAN = {**SIGNED_IN, "patient_a": 403, "patient_b": 403}
ADMIN = {**SIGNED_IN, "patient_a": 403, "patient_b": 403, "therapist_a": 403, "therapist_b": 403}
NOBODY_404 = dict.fromkeys(ACTORS, 404)  # one-time tokens that do not exist
SIGNED_IN_404 = {**dict.fromkeys(ACTORS, 404), "anon": "unauth"}
# Six wrong sign-ins in a row from one address: the sixth meets the throttle.
WRONG_SIGN_IN = {**dict.fromkeys(ACTORS, 401), "admin": 429}
# Finishing a second factor: only for a half-way session; the signed-in are told they already are.
SECOND_STEP = {**dict.fromkeys(ACTORS, 409), "anon": "unauth"}

Body = Callable[[Fx], dict[str, Any]]


def none(_: Fx) -> dict[str, Any]:
    return {}


def js(value: Any) -> Body:
    return lambda fx: {"json": value(fx) if callable(value) else value}


def form(value: Any) -> Body:
    return lambda fx: {"data": value(fx) if callable(value) else value}


def checkin(fx: Fx) -> dict[str, Any]:
    return {"mood": 6, "note": "matrix", "sharing": "shared"}


SESSION_BODY = {"scheduled_for": "2026-12-01T09:00:00-07:00", "route": "iv", "series": "booster"}
APPOINTMENT_BODY = {"starts_at": "2026-12-02T15:00:00+00:00", "kind": "integration"}
CLINIC_BODY = {
    "name": "Test Clinic",
    "crisis_lines": [{"label": "988 Lifeline", "number": "988", "kind": "call_or_text"}],
    "missed_checkin_days": 3,
    "schedule_defaults": {},
}
PROMPT_SET_BODY = {"kind": "integration", "title": "Matrix", "prompts": [{"id": "insight", "text": "What stays?"}]}

# (audience, body). Destructive routes are marked and run after all the others.
ROUTES: dict[str, tuple[dict[str, Any], Body]] = {
    # public
    "GET /": (EVERYONE, none),
    "GET /healthz": (EVERYONE, none),
    "GET /help": (EVERYONE, none),
    "GET /login": (EVERYONE, none),
    "GET /offline": (EVERYONE, none),
    "GET /manifest.webmanifest": (EVERYONE, none),
    "GET /sw.js": (EVERYONE, none),
    "GET /static/{file_path:path}": (EVERYONE, none),
    "GET /app/checkin": (EVERYONE, none),
    "GET /app/reflect": (EVERYONE, none),
    "GET /app/reflect/{kind:str}": (EVERYONE, none),
    "GET /api/v1/schema": (EVERYONE, none),
    "GET /api/v1/schema/openapi.json": (EVERYONE, none),
    "GET /api/v1/schema/{path:str}": (EVERYONE, none),
    "GET /login/code": (EVERYONE, none),  # without a half-way session it sends you to /login
    "GET /setup/{token:str}": (NOBODY_404, none),
    "POST /setup/{token:str}": (NOBODY_404, form({"clinic_name": "x", "display_name": "x", "email": "x@y.z"})),
    "GET /invite/{token:str}": (NOBODY_404, none),
    "POST /invite/{token:str}": (NOBODY_404, form({"password": "long enough password"})),
    "GET /reset/{token:str}": (NOBODY_404, none),
    "POST /reset/{token:str}": (NOBODY_404, form({"password": "long enough password"})),
    "POST /api/v1/invitations/accept": (NOBODY_404, js({"token": "nope", "password": "long enough password"})),
    # signing in and out (wrong credentials: everyone gets the same answer)
    "POST /login": (WRONG_SIGN_IN, form({"email": "nobody@x.y", "password": "wrong password!"})),
    "POST /api/v1/auth/login": (WRONG_SIGN_IN, js({"email": "nobody@x.y", "password": "wrong pass!"})),
    "POST /login/code": (SECOND_STEP, form({"code": "123456"})),
    "POST /api/v1/auth/mfa": (SECOND_STEP, js({"code": "123456"})),
    # any signed-in person, about themself
    "GET /api/v1/me": (SIGNED_IN, none),
    "GET /account": (SIGNED_IN, none),
    "GET /account/two-factor": (SIGNED_IN, none),
    "GET /api/v1/me/mfa": (SIGNED_IN, none),
    "POST /api/v1/me/mfa/setup": (SIGNED_IN, none),
    "POST /api/v1/me/mfa/enable": (SIGNED_IN, js({"code": "000000"})),
    "POST /account/two-factor/enable": (SIGNED_IN, form({"code": "000000"})),
    "POST /api/v1/me/mfa/disable": (SIGNED_IN, js({"password": "wrong password here"})),
    "POST /account/two-factor/disable": (SIGNED_IN, form({"password": "wrong password here"})),
    "POST /api/v1/me/mfa/recovery-codes": (SIGNED_IN, js({"password": "wrong password here"})),
    "POST /account/two-factor/recovery-codes": (SIGNED_IN, form({"password": "wrong password here"})),
    "POST /api/v1/me/password": (SIGNED_IN, js({"current_password": "wrong one here", "new_password": "x" * 12})),
    "POST /account/password": (SIGNED_IN, form({"current_password": "wrong one here", "new_password": "x" * 12})),
    "GET /api/v1/me/sessions": (SIGNED_IN, none),
    "DELETE /api/v1/me/sessions/{session_id:str}": (SIGNED_IN_404, none),
    "GET /api/v1/prompt-sets": (SIGNED_IN, none),
    "GET /api/v1/instruments": (SIGNED_IN, none),
    "GET /api/v1/appointments": ({**SIGNED_IN, "admin": 403}, none),
    # the patient's own journal
    "GET /home": (PATIENT, none),
    "GET /sessions": (PATIENT, none),
    "GET /history": (PATIENT, none),
    "GET /questionnaires": (PATIENT, none),
    "GET /questionnaires/{instrument:str}": (PATIENT, none),
    "GET /reflect/{kind:str}": (PATIENT, none),
    "GET /safety-plan": (PATIENT, none),
    "GET /settings": (PATIENT, none),
    "GET /settings/reminders": (PATIENT, none),
    "GET /aftercare": (PATIENT_A_ONLY, none),  # ?session= is A's session
    "GET /sessions/{session_id:str}": (PATIENT_A_ONLY, none),
    "GET /entries/{entry_id:uuid}": (PATIENT_A_ONLY, none),
    "POST /entries/{entry_id:uuid}/sharing": (PATIENT_A_ONLY, form({"sharing": "shared"})),
    "POST /checkin": (PATIENT, form(lambda fx: {"entry_id": str(uuid.uuid4()), "mood": "5"})),
    "POST /not-safe": (PATIENT, none),
    "POST /welcome": (PATIENT, none),
    "POST /safety-plan": (PATIENT, form({"warning_signs": "matrix"})),
    "POST /settings": (PATIENT, form({"default_sharing": "shared"})),
    "POST /settings/reminders": (PATIENT, form({})),
    "POST /reflect/{kind:str}/{entry_id:uuid}": (PATIENT, form({"answer:insight": "matrix"})),
    # Another patient's session id is "not found in your journal", like one that does not exist.
    "POST /aftercare/{entry_id:uuid}": ({**PATIENT, "patient_b": 422}, form(lambda fx: {"kap_session_id": fx.session})),
    "POST /questionnaires/{instrument:str}/{entry_id:uuid}": (PATIENT, form({f"phq9_{i}": "0" for i in range(1, 10)})),
    "GET /api/v1/checkins": (PATIENT, none),
    "GET /api/v1/reflections": (PATIENT, none),
    "GET /api/v1/aftercare": (PATIENT, none),
    "GET /api/v1/questionnaires": (PATIENT, none),
    "GET /api/v1/questionnaires/due": (PATIENT, none),
    "GET /api/v1/kap-sessions": (PATIENT, none),
    "GET /api/v1/safety-plan": (PATIENT, none),
    "PUT /api/v1/safety-plan": (PATIENT, js({"warning_signs": "matrix"})),
    "POST /api/v1/safety/not-safe": (PATIENT, none),
    "GET /api/v1/me/settings": (PATIENT, none),
    "PUT /api/v1/me/settings": (PATIENT, js({"default_sharing": "shared"})),
    "GET /api/v1/me/export": (PATIENT, none),
    "GET /api/v1/me/export.csv": (PATIENT, none),
    "GET /api/v1/me/export.fhir.json": (PATIENT, none),
    "GET /api/v1/reminders": (PATIENT, none),
    "GET /api/v1/reminders/preferences": (PATIENT, none),
    "PUT /api/v1/reminders/preferences": (PATIENT, js({"checkin": True})),
    "GET /api/v1/push/public-key": (PATIENT, none),
    "GET /api/v1/push/subscriptions": (PATIENT, none),
    "POST /api/v1/push/subscriptions": (
        PATIENT,
        js({"endpoint": "https://push.invalid/matrix", "keys": {"p256dh": "B" + "A" * 86, "auth": "A" * 22}}),
    ),
    "DELETE /api/v1/push/subscriptions/{device_id:str}": ({**PATIENT, "patient_a": 404, "patient_b": 404}, none),
    "GET /api/v1/checkins/{entry_id:uuid}": (PATIENT_A_ONLY, none),
    "GET /api/v1/reflections/{entry_id:uuid}": (PATIENT_A_ONLY, none),
    "GET /api/v1/aftercare/{entry_id:uuid}": (PATIENT_A_ONLY, none),
    "GET /api/v1/questionnaires/{entry_id:uuid}": (PATIENT_A_ONLY, none),
    "PUT /api/v1/checkins/{entry_id:uuid}": (PATIENT_A_ONLY, js(checkin)),
    "PUT /api/v1/reflections/{entry_id:uuid}": (
        PATIENT_A_ONLY,
        js({"kind": "free", "answers": [{"prompt_id": "free", "text": "m"}], "sharing": "shared"}),
    ),
    "PUT /api/v1/aftercare/{entry_id:uuid}": (
        PATIENT_A_ONLY,
        js(lambda fx: {"kap_session_id": fx.session, "note": "m", "sharing": "shared"}),
    ),
    "PUT /api/v1/questionnaires/{entry_id:uuid}": (
        PATIENT_A_ONLY,
        js({"instrument": "gad7", "answers": [0] * 7, "sharing": "shared"}),
    ),
    # the therapist's workspace
    "GET /clinic": (THERAPIST, none),
    "GET /clinic/flags": (THERAPIST, none),
    "GET /clinic/week": (THERAPIST, none),
    "GET /clinic/search": (THERAPIST, none),
    "POST /clinic/search": (THERAPIST, form(lambda fx: {"q": fx.shared_words[0]})),
    "GET /api/v1/patients": (THERAPIST, none),
    "GET /api/v1/flags": (THERAPIST, none),
    "POST /api/v1/search": (THERAPIST, js(lambda fx: {"q": fx.shared_words[0]})),
    "POST /clinic/invitations": (THERAPIST, form({"email": "new.patient@x.test", "display_name": "New"})),
    "GET /api/v1/invitations": (CLINICIAN, none),
    "POST /api/v1/invitations": (CLINICIAN, js({"email": "another@x.test", "display_name": "Another"})),
    "DELETE /api/v1/invitations/{invitation_id:str}": ({**CLINICIAN, "therapist_b": 404, "admin": 404}, none),
    "POST /clinic/invitations/{invitation_id:str}/revoke": ({**THERAPIST, "therapist_b": 404}, none),
    "GET /clinic/patients/{patient_id:str}": (CARE_TEAM, none),
    "GET /clinic/appointments/{appointment_id:str}": (CARE_TEAM, none),
    "POST /clinic/patients/{patient_id:str}/reviewed": (CARE_TEAM, form({"as_of": "2026-12-31T00:00:00.000000Z"})),
    "POST /clinic/patients/{patient_id:str}/appointments": (
        CARE_TEAM,
        form({"kind": "intake", "starts_at": "2026-12-03T10:00"}),
    ),
    "POST /clinic/appointments/{appointment_id:str}/change": (CARE_TEAM, form({"starts_at": "2026-12-04T10:00"})),
    "POST /clinic/appointments/{appointment_id:str}/notes": (CARE_TEAM, form({"body": "matrix note"})),
    "POST /clinic/flags/{flag_id:str}/acknowledge": (CARE_TEAM, form({"note": "called"})),
    "GET /api/v1/patients/{patient_id:str}": (CARE_TEAM, none),
    "GET /api/v1/patients/{patient_id:str}/brief": (CARE_TEAM, none),
    "POST /api/v1/patients/{patient_id:str}/reviewed": (CARE_TEAM, js({"up_to": "2026-12-31T00:00:00Z"})),
    "GET /api/v1/patients/{patient_id:str}/entries": (CARE_TEAM, none),
    "GET /api/v1/patients/{patient_id:str}/appointments": (CARE_TEAM, none),
    "POST /api/v1/patients/{patient_id:str}/appointments": (CARE_TEAM, js(APPOINTMENT_BODY)),
    "GET /api/v1/patients/{patient_id:str}/kap-sessions": (CARE_TEAM, none),
    "POST /api/v1/patients/{patient_id:str}/kap-sessions": (CARE_TEAM, js(SESSION_BODY)),
    "GET /api/v1/patients/{patient_id:str}/safety-plan": (CARE_TEAM, none),
    "PUT /api/v1/patients/{patient_id:str}/safety-plan": (CARE_TEAM, js({"environment": "matrix"})),
    "GET /api/v1/patients/{patient_id:str}/questionnaire-schedule": (CARE_TEAM, none),
    "PUT /api/v1/patients/{patient_id:str}/questionnaire-schedule": (CARE_TEAM, js({"window_days": 4})),
    "GET /api/v1/patients/{patient_id:str}/export": (CARE_TEAM, none),
    "GET /api/v1/patients/{patient_id:str}/export.csv": (CARE_TEAM, none),
    "GET /api/v1/patients/{patient_id:str}/export.fhir.json": (CARE_TEAM, none),
    "PATCH /api/v1/appointments/{appointment_id:str}": (CARE_TEAM, js({"starts_at": "2026-12-05T15:00:00Z"})),
    "GET /api/v1/appointments/{appointment_id:str}/notes": (CARE_TEAM, none),
    "POST /api/v1/appointments/{appointment_id:str}/notes": (CARE_TEAM, js({"body": "matrix note"})),
    "POST /api/v1/flags/{flag_id:str}/acknowledge": (CARE_TEAM, js({"note": "called"})),
    # the clinic admin
    "GET /admin": (ADMIN, none),
    "GET /admin/audit": (ADMIN, none),
    "GET /admin/audit.csv": (ADMIN, none),
    "GET /admin/clinic": (ADMIN, none),
    "POST /admin/clinic": (ADMIN, form({"name": "Test Clinic"})),
    "GET /admin/prompt-sets": (ADMIN, none),
    "GET /admin/prompt-sets/new": (ADMIN, none),
    "POST /admin/prompt-sets": (ADMIN, form({})),
    "POST /admin/invitations": (ADMIN, form({"email": "new.therapist@x.test", "display_name": "New T"})),
    "POST /admin/invitations/{invitation_id:str}/revoke": ({**ADMIN, "admin": 404}, none),
    "GET /admin/patients/{patient_id:str}": (ADMIN, none),
    "GET /admin/therapists/{therapist_id:str}": (ADMIN, none),
    "POST /admin/patients/{patient_id:str}/care-team": (
        ADMIN,
        form(lambda fx: {"therapist_id": fx.people.therapist_a.id}),
    ),
    "POST /admin/users/{user_id:str}/enable": (ADMIN, none),
    "GET /api/v1/admin/users": (ADMIN, none),
    "GET /api/v1/admin/therapists": (ADMIN, none),
    "GET /api/v1/admin/therapists/{therapist_id:str}/patients": (ADMIN, none),
    "GET /api/v1/admin/audit": (ADMIN, none),
    "GET /api/v1/admin/audit.csv": (ADMIN, none),
    "GET /api/v1/admin/clinic": (ADMIN, none),
    "PUT /api/v1/admin/clinic": (ADMIN, js(CLINIC_BODY)),
    "GET /api/v1/admin/prompt-sets": (ADMIN, none),
    "POST /api/v1/admin/prompt-sets": (ADMIN, js(PROMPT_SET_BODY)),
    "GET /api/v1/admin/patients/{patient_id:str}/care-team": (ADMIN, none),
    "PUT /api/v1/admin/patients/{patient_id:str}/care-team/{therapist_id:str}": (ADMIN, none),
    "POST /api/v1/admin/users/{user_id:str}/enable": (ADMIN, none),
    "POST /api/v1/admin/users/{user_id:str}/password-reset": (ADMIN, none),
    "POST /admin/users/{user_id:str}/password-link": (ADMIN, none),
}

# Run after everything else, in this order: they remove things or end sessions.
DESTRUCTIVE: dict[str, tuple[dict[str, Any], Body]] = {
    "DELETE /api/v1/checkins/{entry_id:uuid}": (PATIENT_A_ONLY, none),
    "DELETE /api/v1/reflections/{entry_id:uuid}": (PATIENT_A_ONLY, none),
    "DELETE /api/v1/aftercare/{entry_id:uuid}": (PATIENT_A_ONLY, none),
    "DELETE /api/v1/questionnaires/{entry_id:uuid}": (PATIENT_A_ONLY, none),
    "POST /entries/{entry_id:uuid}/delete": (PATIENT_A_ONLY, none),
    "DELETE /api/v1/admin/patients/{patient_id:str}/care-team/{therapist_id:str}": (ADMIN, none),
    "POST /admin/patients/{patient_id:str}/care-team/{therapist_id:str}/remove": (ADMIN, none),
    "POST /admin/users/{user_id:str}/disable": (ADMIN, none),
    "POST /api/v1/admin/users/{user_id:str}/disable": (ADMIN, none),
    "POST /api/v1/admin/users/{user_id:str}/mfa-reset": (ADMIN, none),
    "POST /admin/users/{user_id:str}/two-factor-reset": (ADMIN, none),
    "POST /api/v1/admin/patients/{patient_id:str}/erase": (ADMIN, js({"confirm_email": "c@clinic.test"})),
    "POST /admin/patients/{patient_id:str}/erase": (ADMIN, form({"confirm_email": "d@clinic.test"})),
    "POST /account/sessions/end-others": (SIGNED_IN, none),
    "POST /api/v1/me/sessions/end-others": (SIGNED_IN, none),
    "POST /logout": (EVERYONE, none),
    "POST /api/v1/auth/logout": (EVERYONE, none),
}
# Routes that end the caller's sessions: sign the person in again afterwards.
ENDS_SESSIONS = {"POST /logout", "POST /api/v1/auth/logout"}
# Routes about patient C (a throwaway account) rather than patient A.
ABOUT_PATIENT_C = {
    "POST /admin/users/{user_id:str}/enable",
    "POST /api/v1/admin/users/{user_id:str}/enable",
    "POST /api/v1/admin/users/{user_id:str}/password-reset",
    "POST /admin/users/{user_id:str}/disable",
    "POST /api/v1/admin/users/{user_id:str}/disable",
    "POST /api/v1/admin/users/{user_id:str}/mfa-reset",
    "POST /admin/users/{user_id:str}/password-link",
    "POST /admin/users/{user_id:str}/two-factor-reset",
    "POST /api/v1/admin/patients/{patient_id:str}/erase",
    "DELETE /api/v1/admin/patients/{patient_id:str}/care-team/{therapist_id:str}",
    "POST /admin/patients/{patient_id:str}/care-team/{therapist_id:str}/remove",
}
ABOUT_PATIENT_D = {"POST /admin/patients/{patient_id:str}/erase"}


def _on_cs_team(client: Client, fx: Fx) -> None:
    """Before a removal from a care team: make sure there is something to remove."""
    added = client.put(f"/api/v1/admin/patients/{fx.patient_c}/care-team/{fx.people.therapist_a.id}")
    assert added.status_code == 204


PREPARE: dict[str, Callable[[Client, Fx], None]] = {
    "DELETE /api/v1/admin/patients/{patient_id:str}/care-team/{therapist_id:str}": _on_cs_team,
    "POST /admin/patients/{patient_id:str}/care-team/{therapist_id:str}/remove": _on_cs_team,
}
KIND_BY_PREFIX = {
    "checkins": "checkin",
    "reflections": "reflection",
    "aftercare": "aftercare",
    "questionnaires": "questionnaire",
}


def registered_routes(client: Client) -> set[str]:
    found = set()
    for route in client.app.routes:
        for method in getattr(route, "methods", set()) - {"HEAD", "OPTIONS"}:
            found.add(f"{method} {route.path}")
    return found


def test_every_route_is_in_the_matrix(client: Client) -> None:
    known = set(ROUTES) | set(DESTRUCTIVE)
    missing = sorted(registered_routes(client) - known)
    assert not missing, f"routes with no expectation in the authorization matrix: {missing}"
    gone = sorted(known - registered_routes(client))
    assert not gone, f"the matrix lists routes that no longer exist: {gone}"


def _url(key: str, fx: Fx) -> str:
    method, template = key.split(" ", 1)
    about_c = key in ABOUT_PATIENT_C
    kind = KIND_BY_PREFIX.get(template.split("/")[3] if template.startswith("/api/v1/") else "", "checkin")
    if template.endswith("/delete"):
        kind = "page"
    entry = (fx.victims if method == "DELETE" or template.endswith("/delete") else fx.entries)[kind]
    values = {
        "patient_id": fx.patient_d if key in ABOUT_PATIENT_D else fx.patient_c if about_c else fx.people.patient_a.id,
        "user_id": fx.patient_c,
        "therapist_id": fx.people.therapist_a.id,
        "entry_id": entry
        if "{entry_id" in template and ("/api/v1/" in template or template.startswith("/entries"))
        else str(uuid.uuid4()),
        "session_id": fx.session if template.startswith("/sessions") else "no-such-session",
        "appointment_id": fx.appointment,
        "flag_id": fx.flag,
        "invitation_id": fx.invitation2 if template.startswith("/clinic/") else fx.invitation,
        "device_id": "no-such-device",
        "token": "no-such-token",
        "kind": "integration",
        "instrument": "phq9",
        "file_path": "app.css",
        "path": "openapi.json",
    }
    url = template
    for name, value in values.items():
        for converter in (":str", ":uuid", ":path", ""):
            url = url.replace("{" + name + converter + "}", value)
    assert "{" not in url, url
    if template == "/admin/prompt-sets/new":
        url += "?kind=integration"
    if template == "/aftercare":
        url += f"?session={fx.session}"
    return url


def _expected_ok(status: int) -> bool:
    return 200 <= status < 400 or status in (409, 422)


def _check(key: str, actor: str, expected: Any, response: Any, fx: Fx) -> None:
    method, template = key.split(" ", 1)
    status = response.status_code
    where = f"{key} as {actor} -> {status}"
    if expected == OK:
        assert _expected_ok(status), where
    elif expected == "unauth":
        html_get = method == "GET" and not template.startswith("/api/")
        if html_get:
            assert status in (302, 303) and response.headers["location"].startswith(("/login", "/account")), where
        else:
            assert status == 401, where
    else:
        assert status == expected, where
    # What the caller sent (a search word, a URL echoed into ?next=) coming back is not a leak.
    sent = str(response.request.url) + response.request.content.decode(errors="replace")
    seen = response.text + " ".join(f"{k}: {v}" for k, v in response.headers.items())
    for echoed in [w for w in [*fx.private_words, *fx.shared_words, *fx.entries.values()] if w in sent]:
        seen = seen.replace(echoed, "")
    if actor != "patient_a":
        for word in fx.private_words:
            assert word not in seen, f"{where}: leaked a private word of patient A"
    if actor not in ("patient_a", "therapist_a"):
        for word in fx.shared_words:
            assert word not in seen, f"{where}: leaked a shared word of patient A"
    if actor in ("anon", "patient_b", "therapist_b"):
        for secret in (fx.people.patient_a.email, fx.people.patient_a.name, *fx.entries.values()):
            assert secret not in seen, f"{where}: leaked patient A's {secret!r}"


@pytest.fixture
def planted(client: Client, people: People) -> tuple[Fx, dict[str, dict[str, str]]]:
    private_words = [f"privcanary{i}x" for i in range(4)]
    shared_words = [f"sharedcanary{i}x" for i in range(4)]
    client.login(people.therapist_a.email)
    session = client.post(f"/api/v1/patients/{people.patient_a.id}/kap-sessions", json=SESSION_BODY).json()["id"]
    appointment = client.post(f"/api/v1/patients/{people.patient_a.id}/appointments", json=APPOINTMENT_BODY).json()[
        "id"
    ]
    invitation = client.post("/api/v1/invitations", json={"email": "invitee@x.test", "display_name": "Invitee"})
    invitation2 = client.post("/api/v1/invitations", json={"email": "invitee2@x.test", "display_name": "Two"})

    def throwaway_patient(email: str) -> str:
        """A patient of therapist A's who can be disabled, reset and erased without touching A."""
        invite = client.post("/api/v1/invitations", json={"email": email, "display_name": "Throwaway"}).json()
        token = invite["url"].split("/invite/")[1]
        saved = dict(client.cookies)
        client.cookies.clear()
        accepted = client.post("/api/v1/invitations/accept", json={"token": token, "password": PASSWORD})
        assert accepted.status_code == 201, accepted.text
        client.cookies.clear()
        for name, value in saved.items():
            client.cookies.set(name, value)
        return str(accepted.json()["user"]["id"])

    patient_c = throwaway_patient("c@clinic.test")
    patient_d = throwaway_patient("d@clinic.test")
    client.login(people.patient_a.email)

    def put(kind: str, body: dict[str, Any]) -> str:
        entry_id = str(uuid.uuid4())
        response = client.put(f"/api/v1/{kind}/{entry_id}", json=body)
        assert response.status_code == 201, response.text
        return entry_id

    def four(sharing: str, words: list[str]) -> dict[str, str]:
        return {
            "checkin": put("checkins", {"mood": 1, "note": words[0], "sharing": sharing}),
            "reflection": put(
                "reflections",
                {
                    "kind": "integration",
                    "kap_session_id": session,
                    "sharing": sharing,
                    "answers": [{"prompt_id": "insight", "text": words[1]}],
                },
            ),
            "aftercare": put("aftercare", {"kap_session_id": session, "note": words[2], "sharing": sharing}),
            "questionnaire": put(
                "questionnaires", {"instrument": "phq9", "answers": [0] * 8 + [1], "sharing": sharing}
            ),
        }

    four("private", private_words)
    entries = four("shared", shared_words)
    victims = four("shared", [w + "v" for w in shared_words])
    victims["page"] = put("checkins", {"mood": 5, "note": shared_words[0] + "p", "sharing": "shared"})
    flag = client.get("/api/v1/me/export").json()["tables"]["flags"][0]["id"]
    fx = Fx(
        people=people,
        patient_c=patient_c,
        patient_d=patient_d,
        entries=entries,
        victims=victims,
        session=session,
        appointment=appointment,
        flag=flag,
        invitation=invitation.json()["id"],
        invitation2=invitation2.json()["id"],
        private_words=private_words,
        shared_words=shared_words,
    )
    cookies: dict[str, dict[str, str]] = {"anon": {}}
    for actor in ACTORS[1:]:
        client.login(getattr(people, actor).email)
        cookies[actor] = dict(client.cookies)
    return fx, cookies


# Routes that fail sign-ins on purpose: afterwards the clock moves past the throttle's window, so the
# failures they count do not lock the matrix's own people out.
FAILS_SIGN_IN = {
    "POST /login",
    "POST /api/v1/auth/login",
    "POST /login/code",
    "POST /api/v1/auth/mfa",
    "POST /api/v1/me/mfa/enable",
    "POST /account/two-factor/enable",
}


def _as(client: Client, cookies: dict[str, dict[str, str]], actor: str) -> None:
    client.cookies.clear()
    for name, value in cookies[actor].items():
        client.cookies.set(name, value)


def test_the_matrix(client: Client, clock: FrozenClock, planted: tuple[Fx, dict[str, dict[str, str]]]) -> None:
    fx, cookies = planted
    failures = []
    for key, (audience, body) in [*ROUTES.items(), *DESTRUCTIVE.items()]:
        method, _ = key.split(" ", 1)
        if key in PREPARE:
            _as(client, cookies, "admin")
            PREPARE[key](client, fx)
        # The one allowed to act goes last, so the denied attempts meet the state they must not change.
        order = sorted(ACTORS, key=lambda a: audience[a] == OK)
        for actor in order:
            _as(client, cookies, actor)
            url = _url(key, fx)  # per person: a "new entry" route gets a new id each time
            response = client.request(method, url, follow_redirects=False, **body(fx))
            try:
                _check(key, actor, audience[actor], response, fx)
            except AssertionError as exc:
                failures.append(str(exc).splitlines()[0])
            if key in ENDS_SESSIONS and actor != "anon":
                client.login(getattr(fx.people, actor).email)
                cookies[actor] = dict(client.cookies)
        if key in FAILS_SIGN_IN:
            clock.advance(minutes=16)
    assert not failures, "\n".join(failures)
