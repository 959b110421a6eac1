"""Tests run the real app: real migrations on a real SQLite file in a temporary folder, through
Litestar's test client. Time is a controllable clock, so expiry is tested without sleeping."""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from server.accounts import queries as account_queries
from server.app import create_app
from server.clock import iso
from server.db import Database, apply_migrations, connect_sync
from server.security.csrf import CSRF_COOKIE, CSRF_HEADER
from server.security.passwords import hash_password
from server.settings import Settings, load_settings

PASSWORD = "correct horse battery staple"
BASE_URL = "http://127.0.0.1:8000"


class FrozenClock:
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


@functools.cache
def password_hash() -> str:
    return hash_password(PASSWORD)


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
