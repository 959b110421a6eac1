"""First run: a one-time set-up link creates the clinic and its admin; the command line creates people."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from litestar import Litestar

from server.accounts.service import issue_setup_link
from server.db import Database, apply_migrations, connect_sync
from server.demo import ADMIN, DEMO_PASSWORD, OTHER_PATIENT, OTHER_THERAPIST, PATIENTS, THERAPIST
from server.security.passwords import HASHER
from server.security.tokens import token_hash
from server.settings import Settings
from tests.conftest import BASE_URL, Client, FrozenClock, People, audit_actions, cli_env, count, query, run_cli

ADMIN_FORM = {
    "clinic_name": "Riverside Integration",
    "display_name": "Robin Admin",
    "email": "Robin@Riverside.test",
    "password": "quiet harbour at noon",
}
CLI_PASSWORD = "copper kettle meadow"

# The first admin's password is hashed by the hasher the app really uses (tests/conftest.py gives most tests a
# fast one); the command line runs in a process of its own, which always does.
pytestmark = pytest.mark.production_password_hashing


def migrate(settings: Settings) -> None:
    conn = connect_sync(settings.database_path)
    try:
        apply_migrations(conn)
    finally:
        conn.close()


def issue(settings: Settings, clock: FrozenClock) -> str | None:
    """What ``afterglow serve`` does before serving: a separate Database on the same file."""

    async def run() -> str | None:
        db = Database(settings.database_path, readers=1)
        await db.open()
        try:
            return await issue_setup_link(db, clock, settings.base_url)
        finally:
            await db.close()

    return asyncio.run(run())


@pytest.fixture
def setup_link(settings: Settings, clock: FrozenClock) -> str:
    migrate(settings)
    link = issue(settings, clock)
    assert link is not None
    return link


@pytest.fixture
def fresh_client(app: Litestar, setup_link: str) -> Iterator[Client]:
    """The app on a database with no users, started after the set-up link was issued."""
    with Client(app=app, base_url=BASE_URL) as test_client:
        yield test_client


def path_of(link: str) -> str:
    assert link.startswith(BASE_URL)
    return link[len(BASE_URL) :]


# --- the set-up link --------------------------------------------------------------------------------------


def test_a_setup_link_is_issued_while_there_are_no_users(setup_link: str, settings: Settings) -> None:
    assert setup_link.startswith(f"{BASE_URL}/setup/")
    token = setup_link.rsplit("/", 1)[1]
    rows = query(settings, "SELECT token_hash, used_at FROM setup_tokens")
    assert [(r["token_hash"], r["used_at"]) for r in rows] == [(token_hash(token), None)]
    assert count(settings, "users") == 0


def test_the_setup_page_renders(fresh_client: Client, setup_link: str) -> None:
    response = fresh_client.get(path_of(setup_link))

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "Set up your clinic" in response.text
    assert 'name="clinic_name"' in response.text


def test_the_setup_form_creates_the_clinic_and_admin_and_signs_in(
    fresh_client: Client, setup_link: str, settings: Settings
) -> None:
    response = fresh_client.post(path_of(setup_link), data=ADMIN_FORM, follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/admin"
    assert [r["name"] for r in query(settings, "SELECT name FROM clinics")] == [ADMIN_FORM["clinic_name"]]
    users = query(settings, "SELECT role, email, display_name, password_hash FROM users")
    assert [(u["role"], u["email"], u["display_name"]) for u in users] == [
        ("admin", "robin@riverside.test", "Robin Admin")
    ]
    assert HASHER.verify(users[0]["password_hash"], ADMIN_FORM["password"])
    assert audit_actions(settings) == ["clinic.setup", "auth.login"]
    assert fresh_client.get("/api/v1/me").json()["user"]["role"] == "admin"
    assert fresh_client.get("/admin").status_code == 200


def test_the_setup_link_works_only_once(fresh_client: Client, setup_link: str, settings: Settings) -> None:
    assert fresh_client.post(path_of(setup_link), data=ADMIN_FORM, follow_redirects=False).status_code == 303
    fresh_client.cookies.clear()

    page = fresh_client.get(path_of(setup_link))
    again = fresh_client.post(
        path_of(setup_link), data={**ADMIN_FORM, "email": "intruder@example.test"}, follow_redirects=False
    )

    assert page.status_code == 404
    assert again.status_code == 404
    assert [r["email"] for r in query(settings, "SELECT email FROM users")] == ["robin@riverside.test"]


def test_the_setup_link_expires_after_an_hour(
    fresh_client: Client, setup_link: str, settings: Settings, clock: FrozenClock
) -> None:
    clock.advance(minutes=61)

    page = fresh_client.get(path_of(setup_link))
    post = fresh_client.post(path_of(setup_link), data=ADMIN_FORM, follow_redirects=False)

    assert page.status_code == 404
    assert post.status_code == 404
    assert count(settings, "users") == 0
    assert count(settings, "clinics") == 0


def test_an_unknown_setup_token_is_404(fresh_client: Client, settings: Settings) -> None:
    response = fresh_client.post("/setup/not-the-token", data=ADMIN_FORM, follow_redirects=False)

    assert response.status_code == 404
    assert count(settings, "users") == 0


def test_a_weak_setup_password_is_refused_and_the_link_stays_usable(
    fresh_client: Client, setup_link: str, settings: Settings
) -> None:
    refused = fresh_client.post(path_of(setup_link), data={**ADMIN_FORM, "password": "short"}, follow_redirects=False)

    assert refused.status_code == 422
    assert "at least 10 characters" in refused.text
    assert ADMIN_FORM["clinic_name"] in refused.text  # what was typed is kept (except the password)
    assert count(settings, "users") == 0
    assert fresh_client.post(path_of(setup_link), data=ADMIN_FORM, follow_redirects=False).status_code == 303


def test_no_setup_link_is_issued_once_users_exist(people: People, settings: Settings, clock: FrozenClock) -> None:
    assert issue(settings, clock) is None
    assert count(settings, "setup_tokens") == 0


# --- the command line -------------------------------------------------------------------------------------


def test_cli_create_user_reads_the_password_from_stdin(settings: Settings) -> None:
    result = run_cli(
        "create-user",
        "--role",
        "therapist",
        "--email",
        "x@y.test",
        "--name",
        "X",
        env=cli_env(settings),
        stdin=CLI_PASSWORD + "\n",
    )

    assert result.returncode == 0, result.stderr
    assert "created therapist x@y.test" in result.stdout
    users = query(settings, "SELECT role, email, display_name, password_hash FROM users")
    assert [(u["role"], u["email"], u["display_name"]) for u in users] == [("therapist", "x@y.test", "X")]
    assert HASHER.verify(users[0]["password_hash"], CLI_PASSWORD)
    assert CLI_PASSWORD not in result.stdout + result.stderr
    assert audit_actions(settings) == ["account.created"]


def test_cli_create_user_refuses_a_common_password_clearly(settings: Settings) -> None:
    result = run_cli(
        "create-user",
        "--role",
        "therapist",
        "--email",
        "x@y.test",
        "--name",
        "X",
        env=cli_env(settings),
        stdin="password123\n",
    )

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "common" in lines[0]
    assert count(settings, "users") == 0


def test_cli_create_user_refuses_an_existing_email(settings: Settings) -> None:
    args = ("create-user", "--role", "admin", "--email", "x@y.test", "--name", "X")
    assert run_cli(*args, env=cli_env(settings), stdin=CLI_PASSWORD + "\n").returncode == 0

    again = run_cli(*args, env=cli_env(settings), stdin=CLI_PASSWORD + "\n")

    assert again.returncode != 0
    assert "already exists" in again.stderr
    assert "Traceback" not in again.stderr
    assert count(settings, "users") == 1


def test_cli_demo_creates_the_demo_clinic_and_can_run_twice(settings: Settings) -> None:
    everyone = [ADMIN, THERAPIST, OTHER_THERAPIST, *PATIENTS, OTHER_PATIENT]

    first = run_cli("demo", env=cli_env(settings))
    second = run_cli("demo", env=cli_env(settings))

    for result in (first, second):
        assert result.returncode == 0, result.stderr
        assert DEMO_PASSWORD in result.stdout
        for person in everyone:
            assert person.email in result.stdout
    assert count(settings, "users") == len(everyone)
    assert count(settings, "clinics") == 1
    assert count(settings, "care_team") == len(PATIENTS) + 1
