"""Fuzzing the JSON API from its own OpenAPI document (schemathesis), against the real server, signed in
as a patient and as a therapist: no 5xx, every documented response matches its schema, and input
outside the schema is refused. Bounded (a few examples per operation) so it stays within the suite's
time; the routes that end the caller's session or erase data are left out, as they would end the run.

Generation does not depend on who is signed in (derandomized, the same inputs for both roles), so an
operation none of whose inputs can be made invalid is found out once: Hypothesis spends up to a second of
rejected attempts giving up on each, and the second role skips them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import negative_data_rejection, response_schema_conformance

from server.demo import DEMO_PASSWORD, OTHER_THERAPIST, PATIENTS
from tests.e2e.conftest import LiveServer

# Would end the fuzzing session, change its password, or destroy the data the others run on.
SKIPPED = re.compile(
    r"^/api/v1/(auth/logout|me/sessions|me/password|me/mfa|admin/.*/(erase|disable)|admin/users/.*/(password|mfa))"
)
# Each role fuzzes as its own demo person, away from the people the browser tests use.
ROLES = {"patient": PATIENTS[1].email, "therapist": OTHER_THERAPIST.email}


class Auth:
    def __init__(self, base_url: str, email: str) -> None:
        client = httpx.Client(base_url=base_url)
        client.get("/login")
        token = client.cookies["afterglow_csrf"]
        response = client.post(
            "/api/v1/auth/login", json={"email": email, "password": DEMO_PASSWORD}, headers={"X-CSRFToken": token}
        )
        assert response.status_code == 200, response.text
        self.headers = {
            "X-CSRFToken": token,
            "Cookie": f"afterglow_csrf={token}; afterglow_session={client.cookies['afterglow_session']}",
        }


@pytest.fixture(scope="session")
def api_schema(live_server: LiveServer) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/v1/schema/openapi.json")
    return schema.exclude(path_regex=SKIPPED.pattern)


@pytest.fixture(scope="session")
def auth(live_server: LiveServer) -> Iterator[dict[str, Auth]]:
    yield {role: Auth(live_server.url, email) for role, email in ROLES.items()}


FUZZ_SETTINGS = settings(
    max_examples=2, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)


def _run(strategy: Any, checks: list[Any], auth: Auth, base_url: str) -> None:
    @FUZZ_SETTINGS
    @given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=base_url, headers=auth.headers, checks=checks)

    run()


@pytest.fixture(scope="session")
def nothing_to_negate() -> set[tuple[str, str]]:
    """(method, path) of the operations found to have no input that can be made invalid, shared by the roles."""
    return set()


def fuzz(
    api_schema: schemathesis.BaseSchema, auth: Auth, base_url: str, nothing_to_negate: set[tuple[str, str]]
) -> list[str]:
    """Every operation, valid and invalid inputs; returns what failed, one line each."""
    failures: list[str] = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            checks = [not_a_server_error, response_schema_conformance]
            if mode == GenerationMode.NEGATIVE:
                checks.append(negative_data_rejection)
                if (operation.method, operation.path) in nothing_to_negate:
                    continue  # generating for the other role found none: the same inputs would be drawn here
            try:
                _run(operation.as_strategy(generation_mode=mode), checks, auth, base_url)
            except Unsatisfiable:
                # nothing in this operation's inputs can be made invalid (no body, no constrained parameter)
                if mode == GenerationMode.NEGATIVE:
                    nothing_to_negate.add((operation.method, operation.path))
                continue
            except (Exception, BaseExceptionGroup) as exc:  # this operation failed; keep fuzzing the others
                first = str(exc).strip().splitlines()[:3]
                failures.append(f"{operation.method.upper()} {operation.path} [{mode.value}]: {' | '.join(first)}")
    return failures


def test_the_api_holds_up_for_a_patient(
    api_schema: schemathesis.BaseSchema,
    auth: dict[str, Auth],
    live_server: LiveServer,
    nothing_to_negate: set[tuple[str, str]],
) -> None:
    failures = fuzz(api_schema, auth["patient"], live_server.url, nothing_to_negate)
    assert not failures, "\n".join(failures)


def test_the_api_holds_up_for_a_therapist(
    api_schema: schemathesis.BaseSchema,
    auth: dict[str, Auth],
    live_server: LiveServer,
    nothing_to_negate: set[tuple[str, str]],
) -> None:
    failures = fuzz(api_schema, auth["therapist"], live_server.url, nothing_to_negate)
    assert not failures, "\n".join(failures)
