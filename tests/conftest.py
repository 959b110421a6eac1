"""Tests run the real app: real migrations on a real SQLite file in a temporary folder, through
Litestar's test client. Time is a controllable clock, so expiry is tested without sleeping."""

from __future__ import annotations

import asyncio
import functools
import os
import sqlite3
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.cookiejar import Cookie
from pathlib import Path
from typing import Any

import msgspec
import pytest
from argon2 import PasswordHasher
from litestar import Litestar
from litestar.testing import TestClient

from server.accounts import queries as account_queries
from server.app import create_app
from server.clock import Clock, iso
from server.db import Database, apply_migrations, connect_sync
from server.security import passwords
from server.security.csrf import CSRF_COOKIE, CSRF_HEADER
from server.security.sessions import SESSION_COOKIE
from server.settings import Settings, load_settings

PASSWORD = "correct horse battery staple"
BASE_URL = "http://127.0.0.1:8000"


class FrozenClock(Clock):
    def __init__(self, start: datetime | None = None) -> None:
        self.moment = start or datetime(2026, 11, 21, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)


class Person(msgspec.Struct):
    id: str
    role: str
    email: str
    name: str


class People(msgspec.Struct):
    """A clinic with two care teams: therapist A treats patient A, therapist B treats patient B."""

    admin: Person
    therapist_a: Person
    therapist_b: Person
    patient_a: Person
    patient_b: Person


# Password hashing in the app under test. The production hasher (argon2id, t=3, m=64 MiB, p=4) takes a few
# tenths of a second per hash or sign-in on the 2-core machine, and the in-process tests sign in about 500
# times (over a minute of CPU in all), so they run with a fast argon2id hasher instead; every hash and every
# verification still goes through the app's own code (server/security/passwords.py), only the cost
# parameters differ. The production hasher stays under test: by the tests marked
# ``production_password_hashing`` (tests/test_passwords.py, the rehash-on-sign-in test, the first run, the
# smoke sign-in), and by every test against a real server process (tests/e2e, tests/test_workers.py,
# tests/test_crash_safety.py, the CLI tests), which this fixture does not reach.
PRODUCTION_HASHER = passwords.HASHER
PRODUCTION_DUMMY_HASH = passwords._DUMMY_HASH
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
FAST_DUMMY_HASH = FAST_HASHER.hash("afterglow-timing-equaliser")  # the dummy's own password, as in production
assert FAST_HASHER.type is PRODUCTION_HASHER.type


@pytest.fixture(autouse=True)
def password_hasher(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> PasswordHasher:
    """The hasher the app uses in this test: the fast one, unless the test is marked to use production's."""
    if request.node.get_closest_marker("production_password_hashing"):
        hasher, dummy = PRODUCTION_HASHER, PRODUCTION_DUMMY_HASH
    else:
        hasher, dummy = FAST_HASHER, FAST_DUMMY_HASH
    monkeypatch.setattr(passwords, "HASHER", hasher)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", dummy)
    return hasher


@functools.cache
def _password_hash_with(hasher: PasswordHasher) -> str:
    return hasher.hash(PASSWORD)


def password_hash() -> str:
    """PASSWORD hashed the way the app hashes now (one hash per hasher), so signing in needs no rehash."""
    return _password_hash_with(passwords.HASHER)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings({"AFTERGLOW_VAR_DIR": str(tmp_path / "var"), "AFTERGLOW_SECRET_KEY": "s" * 48})


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def app(settings: Settings, clock: FrozenClock) -> Litestar:
    return create_app(settings, clock=clock)


class Client(TestClient[Litestar]):
    """The test client, sending the CSRF token on unsafe requests the way the app's pages do."""

    def request(self, method: str, url: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if method.upper() not in {"GET", "HEAD", "OPTIONS"} and kwargs.pop("csrf", True):
            if CSRF_COOKIE not in self.cookies:
                super().request("GET", "/healthz")
            headers = dict(kwargs.pop("headers", None) or {})
            headers.setdefault(CSRF_HEADER, self.cookies[CSRF_COOKIE])
            kwargs["headers"] = headers
        return super().request(method, url, **kwargs)

    def login(self, email: str, password: str = PASSWORD) -> Any:
        """Sign in as someone else: a fresh cookie jar, like another device."""
        self.cookies.clear()
        response = self.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        return response


@pytest.fixture
def client(app: Litestar) -> Iterator[Client]:
    with Client(app=app, base_url=BASE_URL) as test_client:
        yield test_client


def db_path(settings: Settings) -> Path:
    return settings.database_path


def query(settings: Settings, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    """Read the real database file directly, the way an auditor would."""
    conn = connect_sync(settings.database_path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def audit_actions(settings: Settings) -> list[str]:
    return [row["action"] for row in query(settings, "SELECT action FROM audit_log ORDER BY id")]


def seed_people(settings: Settings, clock: FrozenClock) -> People:
    """Insert a clinic and its people straight into the migrated database (one argon2 hash for all)."""
    conn = connect_sync(settings.database_path)
    apply_migrations(conn)
    conn.close()
    people = {
        "admin": Person(str(uuid.uuid4()), "admin", "admin@clinic.test", "Ada Admin"),
        "therapist_a": Person(str(uuid.uuid4()), "therapist", "thera.a@clinic.test", "Theo A"),
        "therapist_b": Person(str(uuid.uuid4()), "therapist", "thera.b@clinic.test", "Tess B"),
        "patient_a": Person(str(uuid.uuid4()), "patient", "pat.a@clinic.test", "Pat A"),
        "patient_b": Person(str(uuid.uuid4()), "patient", "pat.b@clinic.test", "Pam B"),
    }

    async def insert() -> None:
        db = Database(settings.database_path, readers=1)
        await db.open()
        try:
            now = iso(clock.now())
            async with db.transaction() as tx:
                clinic_id = await account_queries.insert_clinic(tx, "Test Clinic", now)
                # Two-factor sign-in has tests of its own (tests/test_mfa.py), which turn the requirement on.
                await tx.execute("UPDATE clinics SET mfa_required_for_clinicians = 0 WHERE id = ?", (clinic_id,))
                for person in people.values():
                    await account_queries.insert_user(
                        tx,
                        user_id=person.id,
                        clinic_id=clinic_id,
                        role=person.role,
                        email=person.email,
                        display_name=person.name,
                        password_hash=password_hash(),
                        now=now,
                    )
                for patient, therapist in (("patient_a", "therapist_a"), ("patient_b", "therapist_b")):
                    await account_queries.add_to_care_team(tx, people[patient].id, people[therapist].id, None, now)
        finally:
            await db.close()

    asyncio.run(insert())
    return People(**people)


@pytest.fixture
def people(settings: Settings, clock: FrozenClock) -> People:
    return seed_people(settings, clock)


# --- helpers added for the foundation's test suite (nothing above changed) ------------------------------

REPO_ROOT = Path(__file__).resolve().parent.parent
HTTPS_BASE_URL = "https://journal.example.org"


def count(settings: Settings, table: str, where: str = "1", params: tuple[Any, ...] = ()) -> int:
    """How many rows of ``table`` match ``where`` (test-controlled SQL only)."""
    return int(query(settings, f"SELECT count(*) AS n FROM {table} WHERE {where}", params)[0]["n"])


def session_of(client: Client) -> str:
    """The session cookie value the client holds now."""
    value = client.cookies.get(SESSION_COOKIE)
    assert value, "the client holds no session cookie"
    return str(value)


def get_with_session(client: Client, url: str, session_id: str) -> Any:
    """GET ``url`` sending exactly this session cookie (as a stolen or stale cookie would be sent)."""
    return client.get(url, headers={"Cookie": f"{SESSION_COOKIE}={session_id}"})


def set_cookie_header(response: Any, name: str) -> str:
    """The Set-Cookie header that sets cookie ``name`` (attributes included)."""
    matches = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    assert len(matches) == 1, response.headers.get_list("set-cookie")
    return str(matches[0])


def cli_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment for an ``afterglow`` subprocess pointed at the test's database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERGLOW_")}
    env.update(
        AFTERGLOW_VAR_DIR=str(settings.var_dir),
        AFTERGLOW_DATABASE=str(settings.database_path),
        AFTERGLOW_SECRET_KEY=settings.secret_key,
    )
    env.update(extra)
    return env


def run_cli(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m server ARGS`` (the same entry point as ``afterglow``) as a separate process."""
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        env=env,
        cwd=REPO_ROOT,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def https_settings(tmp_path: Path) -> Settings:
    return load_settings(
        {
            "AFTERGLOW_VAR_DIR": str(tmp_path / "var-https"),
            "AFTERGLOW_SECRET_KEY": "h" * 48,
            "AFTERGLOW_BASE_URL": HTTPS_BASE_URL,
        }
    )


@pytest.fixture
def https_client(tmp_path: Path, clock: FrozenClock) -> Iterator[Client]:
    """A second app, configured for https (secure cookies, HSTS), with the same people seeded."""
    secure = https_settings(tmp_path)
    seed_people(secure, clock)
    with Client(app=create_app(secure, clock=clock), base_url=HTTPS_BASE_URL) as test_client:
        yield test_client


# The files that take longest on the 2-core machine (seconds per file, measured in a full run), longest
# first. Under pytest-xdist they are handed out first, so that neither worker is left running one of them
# at the end while the other has nothing to do; every other file follows, those with the most tests
# first. A file missing here only starts later.
SLOWEST_FILES = (
    "e2e/test_accessibility.py",  # 60, with the browser tests' server and demo clinic
    "e2e/test_offline.py",  # 49, the same
    "e2e/test_api_fuzz.py",  # 32
    "test_workers.py",  # 21
    "test_crash_safety.py",  # 20
    "test_reminders.py",  # 18
    "e2e/test_sign_out.py",  # 14
    "test_first_run.py",  # 12
    "test_journal_entries.py",  # 11
    "e2e/test_phone_budget.py",  # 10
    "e2e/test_forms.py",  # 9
    "test_backup.py",  # 9
    "test_sign_in.py",  # 9
    "e2e/test_reflection.py",  # 7
    "test_authorization_matrix.py",  # 6
)


def pytest_configure(config: pytest.Config) -> None:
    # pytest-xdist hands out whole files most-tests-first unless told otherwise; the collection's order
    # below is the one wanted. (Set here rather than as --no-loadscope-reorder in addopts, an option that
    # pytest-xdist before 3.8 would refuse; those versions keep their own order.)
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """In one process: run the browser tests (tests/e2e) last, keeping the order otherwise. Under xdist
    (``--dist loadfile``, files handed out in collection order): the slowest files first.

    Playwright's sync API leaves an asyncio loop running on the main thread while it is started, and
    ``asyncio.run`` (``seed_people``, the first-run helpers) refuses to start inside one; the browser
    fixture stops it after each file (tests/e2e/conftest.py), which is what lets a worker run browser
    files before others.
    """
    tests = Path(__file__).resolve().parent
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=lambda item: item.path.resolve().is_relative_to(tests / "e2e"))
        return
    rank = {tests / name: position for position, name in enumerate(SLOWEST_FILES)}
    tests_in = Counter(item.path.resolve() for item in items)
    # A stable sort: each file's tests stay together and in their order.
    items.sort(key=lambda item: (rank.get(item.path.resolve(), len(rank)), -tests_in[item.path.resolve()]))


class Desk:
    """One sign-in per person; switching back restores that person's cookies (logins are slow)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.jars: dict[str, list[Cookie]] = {}
        self.current: str | None = None

    def __call__(self, person: Person, *, fresh: bool = False) -> Client:
        """Act as ``person``; ``fresh`` signs in anew (a session that outlived the clock is gone)."""
        if self.current is not None:
            self.jars[self.current] = list(self.client.cookies.jar)
        self.current = person.email
        if fresh or person.email not in self.jars:
            self.client.login(person.email)
        else:
            self.client.cookies.clear()
            for cookie in self.jars[person.email]:
                self.client.cookies.jar.set_cookie(cookie)
        return self.client
