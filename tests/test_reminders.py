"""Reminders: the API for devices and preferences, what is due when, and real Web Push delivery.

The push service is the test's own HTTP server on 127.0.0.1. A "device" is a key pair and an auth secret
the test makes, as a browser would: the test receives the encrypted message, decrypts it with its
private key, and reads the text. The scheduler runs one pass at a time on the test's clock.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import stat
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import http_ece  # type: ignore[import-untyped]
import msgspec
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from litestar import Litestar
from litestar.datastructures import State

from server.app import create_app
from server.db import Database
from server.reminders import due, scheduler, vapid
from server.reminders.due import TEXTS
from server.settings import Settings, SettingsError, load_settings
from tests.conftest import Client, FrozenClock, People, count, query, seed_people

# Saturday 21 November 2026. The seeded patients live in UTC (the users table's default).
NOON = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


# --- a push service and a device, both the test's own -------------------------------------------------


class Received(msgspec.Struct):
    path: str
    headers: dict[str, str]
    body: bytes


class PushService:
    """A minimal RFC 8030 push service: records what it is sent; answers 410 for endpoints under /gone/."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                with outer.lock:
                    outer.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                status = 410 if self.path.startswith("/gone/") else 404 if self.path.startswith("/unknown/") else 201
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> PushService:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Device:
    """What a browser holds for one push subscription: an ECDH key pair and an auth secret (RFC 8291)."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)

    def subscription(self) -> dict[str, Any]:
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": b64(public), "auth": b64(self.auth)},
        }

    def decrypt(self, body: bytes) -> dict[str, Any]:
        plain = http_ece.decrypt(body, private_key=self.private_key, auth_secret=self.auth, version="aes128gcm")
        message: dict[str, Any] = json.loads(plain)
        return message


# --- fixtures ------------------------------------------------------------------------------------------


@pytest.fixture
def push_service() -> Iterator[PushService]:
    with PushService() as service:
        yield service


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # The conftest's settings, plus the test's push service as one the server may send to.
    return load_settings(
        {
            "AFTERGLOW_VAR_DIR": str(tmp_path / "var"),
            "AFTERGLOW_SECRET_KEY": "s" * 48,
            "AFTERGLOW_PUSH_SERVICES": "fcm.googleapis.com,127.0.0.1",
        }
    )


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOON)


@pytest.fixture
def app(settings: Settings, clock: FrozenClock) -> Litestar:
    return create_app(settings, clock=clock)


def subscribe(client: Client, device: Device) -> Any:
    return client.post("/api/v1/push/subscriptions", json=device.subscription())


def run_passes(settings: Settings, clock: FrozenClock, instances: int = 1) -> list[int]:
    """Run one scheduler pass in each of ``instances`` schedulers at once, each with its own database
    connections (as separate worker processes would have). Returns how many each claimed."""

    async def go() -> list[int]:
        databases = [Database(settings.database_path, readers=1) for _ in range(instances)]
        for db in databases:
            await db.open()
        try:
            return list(
                await asyncio.gather(
                    *(scheduler.run_once(db, clock, settings, instance=f"test-{i}") for i, db in enumerate(databases))
                )
            )
        finally:
            for db in databases:
                await db.close()

    return asyncio.run(go())


def add_session(settings: Settings, patient_id: str, at: datetime) -> str:
    """A ketamine session, as the therapist's workspace records it."""
    session_id = str(uuid.uuid4())
    from server.db import connect_sync

    conn = connect_sync(settings.database_path)
    try:
        stamp = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        conn.execute(
            "INSERT INTO kap_sessions (id, patient_id, scheduled_for, route, series, created_at, updated_at)"
            " VALUES (?, ?, ?, 'iv', 'induction', ?, ?)",
            (session_id, patient_id, stamp, stamp, stamp),
        )
    finally:
        conn.close()
    return session_id


def without_questionnaires(client: Client) -> None:
    """New patients have baseline questionnaires due from day one: keep them out of tests about other kinds."""
    assert client.put("/api/v1/reminders/preferences", json={"questionnaire": False}).status_code == 200


def in_app(client: Client) -> list[str]:
    response = client.get("/api/v1/reminders")
    assert response.status_code == 200
    return [item["kind"] for item in response.json()["items"]]


# --- devices: the API ----------------------------------------------------------------------------------


def test_a_patient_registers_a_device_once_lists_it_and_removes_it(
    client: Client, people: People, push_service: PushService, settings: Settings
) -> None:
    client.login(people.patient_a.email)
    device = Device(f"{push_service.url}/push/a1")

    first = subscribe(client, device)
    again = subscribe(client, device)

    assert first.status_code == 201, first.text
    assert again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    listed = client.get("/api/v1/push/subscriptions").json()["items"]
    assert [d["id"] for d in listed] == [first.json()["id"]]
    assert "endpoint" not in listed[0] and "auth" not in listed[0]  # the device's secrets stay on the server
    assert client.delete(f"/api/v1/push/subscriptions/{first.json()['id']}").status_code == 204
    assert client.delete(f"/api/v1/push/subscriptions/{first.json()['id']}").status_code == 404
    assert count(settings, "push_subscriptions") == 0


def test_devices_are_for_signed_in_patients_only_and_need_the_csrf_token(
    client: Client, people: People, push_service: PushService
) -> None:
    device = Device(f"{push_service.url}/push/x")
    assert client.get("/api/v1/push/public-key").status_code == 401
    assert subscribe(client, device).status_code in (401, 403)
    client.login(people.therapist_a.email)
    assert client.get("/api/v1/push/public-key").status_code == 403
    assert subscribe(client, device).status_code == 403
    client.login(people.patient_a.email)
    refused = client.request("POST", "/api/v1/push/subscriptions", json=device.subscription(), csrf=False)
    assert refused.status_code == 403
    assert subscribe(client, device).status_code == 201


def test_another_patients_device_cannot_be_removed(client: Client, people: People, push_service: PushService) -> None:
    client.login(people.patient_a.email)
    device_id = subscribe(client, Device(f"{push_service.url}/push/a")).json()["id"]
    client.login(people.patient_b.email)

    assert client.delete(f"/api/v1/push/subscriptions/{device_id}").status_code == 404
    assert client.get("/api/v1/push/subscriptions").json()["items"] == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"endpoint": "https://evil.example.org/push/1"}, "endpoint"),  # not a push service we know
        ({"endpoint": "http://fcm.googleapis.com/fcm/send/1"}, "endpoint"),  # plain http to a real one
        ({"endpoint": "https://user:pw@fcm.googleapis.com/x"}, "endpoint"),
        ({"keys": {"p256dh": b64(b"\x04" + b"1" * 40), "auth": b64(b"a" * 16)}}, "keys.p256dh"),
        ({"keys": {"p256dh": b64(b"\x04" + b"1" * 64), "auth": b64(b"a" * 15)}}, "keys.auth"),
    ],
)
def test_a_device_with_a_bad_endpoint_or_keys_is_refused_with_the_field_named(
    client: Client, people: People, push_service: PushService, change: dict[str, Any], field: str
) -> None:
    client.login(people.patient_a.email)
    body = {**Device(f"{push_service.url}/push/a").subscription(), **change}

    response = client.post("/api/v1/push/subscriptions", json=body)

    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field


def test_a_device_body_with_unknown_fields_or_a_missing_key_is_a_400(
    client: Client, people: People, push_service: PushService
) -> None:
    client.login(people.patient_a.email)
    body = Device(f"{push_service.url}/push/a").subscription()

    assert client.post("/api/v1/push/subscriptions", json={**body, "extra": 1}).status_code == 400
    assert client.post("/api/v1/push/subscriptions", json={"endpoint": body["endpoint"]}).status_code == 400
    assert (
        client.post("/api/v1/push/subscriptions", json={**body, "keys": {"p256dh": "!!", "auth": "x"}}).status_code
        == 400
    )


def test_signing_out_forgets_the_devices_of_that_sign_in(
    client: Client, people: People, push_service: PushService, settings: Settings
) -> None:
    client.login(people.patient_a.email)
    assert subscribe(client, Device(f"{push_service.url}/push/a")).status_code == 201

    assert client.post("/api/v1/auth/logout").status_code == 204

    # A shared phone must not keep getting the previous person's reminders.
    assert count(settings, "push_subscriptions") == 0


def test_the_same_phone_signed_in_by_someone_else_moves_to_them(
    client: Client, people: People, push_service: PushService, settings: Settings
) -> None:
    device = Device(f"{push_service.url}/push/shared")
    client.login(people.patient_a.email)
    subscribe(client, device)
    client.login(people.patient_b.email)

    assert subscribe(client, device).status_code == 200
    rows = query(settings, "SELECT patient_id FROM push_subscriptions")
    assert [r["patient_id"] for r in rows] == [people.patient_b.id]


def test_the_vapid_key_is_made_once_kept_private_and_served(client: Client, people: People, settings: Settings) -> None:
    client.login(people.patient_a.email)

    served = client.get("/api/v1/push/public-key").json()["public_key"]

    path = settings.var_dir / vapid.KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    vapid.load_or_create.cache_clear()  # as after a restart
    assert vapid.load_or_create(settings.var_dir).public_key == served
    assert len(base64.urlsafe_b64decode(served + "=")) == 65


# --- preferences ---------------------------------------------------------------------------------------


def test_preferences_default_to_everything_on_and_change_one_field_at_a_time(client: Client, people: People) -> None:
    client.login(people.patient_a.email)
    defaults = client.get("/api/v1/reminders/preferences").json()
    assert defaults == {
        "checkin": True,
        "intention": True,
        "capture": True,
        "reflection": True,
        "questionnaire": True,
        "quiet_start": None,
        "quiet_end": None,
        "reminder_time": "20:00",
        "timezone": "UTC",
    }

    changed = client.put(
        "/api/v1/reminders/preferences", json={"capture": False, "quiet_start": "22:00", "quiet_end": "07:30"}
    )
    assert changed.status_code == 200
    assert changed.json() == {**defaults, "capture": False, "quiet_start": "22:00", "quiet_end": "07:30"}
    cleared = client.put("/api/v1/reminders/preferences", json={"quiet_start": None, "quiet_end": None})
    assert cleared.json() == {**defaults, "capture": False}


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"quiet_start": "22:00"}, 422, "quiet_end"),
        ({"quiet_start": "22:00", "quiet_end": "22:00"}, 422, "quiet_end"),
        ({"quiet_start": "25:00", "quiet_end": "07:00"}, 400, "quiet_start"),
        ({"checkin": "yes"}, 400, "checkin"),
        ({"sound": True}, 400, "sound"),
    ],
)
def test_bad_preferences_are_refused_with_the_field_named(
    client: Client, people: People, body: dict[str, Any], status: int, field: str
) -> None:
    client.login(people.patient_a.email)

    response = client.put("/api/v1/reminders/preferences", json=body)

    assert response.status_code == status, response.text
    assert field in json.dumps(response.json()["errors"])


def test_preferences_need_a_signed_in_patient_and_the_csrf_token(client: Client, people: People) -> None:
    assert client.get("/api/v1/reminders/preferences").status_code == 401
    client.login(people.therapist_a.email)
    assert client.get("/api/v1/reminders/preferences").status_code == 403
    client.login(people.patient_a.email)
    refused = client.request("PUT", "/api/v1/reminders/preferences", json={"checkin": False}, csrf=False)
    assert refused.status_code == 403
    assert client.get("/api/v1/reminders/preferences").json()["checkin"] is True


def test_the_reminder_settings_page_saves_without_javascript(client: Client, people: People) -> None:
    client.login(people.patient_a.email)
    page = client.get("/settings/reminders")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"

    response = client.post(
        "/settings/reminders",
        data={"checkin": "on", "intention": "on", "quiet": "on", "quiet_start": "21:30", "quiet_end": "08:00"},
        follow_redirects=False,
    )

    assert response.status_code == 303
    prefs = client.get("/api/v1/reminders/preferences").json()
    assert (prefs["checkin"], prefs["capture"], prefs["questionnaire"]) == (True, False, False)
    assert (prefs["quiet_start"], prefs["quiet_end"]) == ("21:30", "08:00")


# --- what is due, shown in the app ---------------------------------------------------------------------


def test_the_daily_check_in_is_due_from_the_chosen_time_until_the_patient_checks_in(
    client: Client, people: People, clock: FrozenClock
) -> None:
    client.login(people.patient_a.email)
    client.put("/api/v1/me/settings", json={"reminder_time": "18:30", "timezone": "America/Denver"})
    without_questionnaires(client)
    clock.moment = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)  # 18:00 on the 21st in Denver
    assert "checkin" not in in_app(client)

    clock.advance(minutes=30)  # 18:30 in Denver

    assert in_app(client) == ["checkin"]
    assert "Time for your check-in" in client.get("/home").text
    client.put(f"/api/v1/checkins/{uuid.uuid4()}", json={"mood": 6})
    assert in_app(client) == []


def test_session_reminders_come_before_right_after_and_the_day_after_until_written(
    client: Client, people: People, clock: FrozenClock, settings: Settings
) -> None:
    client.login(people.patient_a.email)
    client.put("/api/v1/reminders/preferences", json={"checkin": False, "questionnaire": False})
    session = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    session_id = add_session(settings, people.patient_a.id, session)
    timeline = [
        (session - timedelta(hours=25), []),
        (session - timedelta(hours=23), ["intention"]),
        (session + timedelta(hours=1), []),
        (session + timedelta(hours=3), ["capture"]),
        (session + timedelta(hours=13), []),
        (session + timedelta(hours=30), ["reflection"]),
        (session + timedelta(hours=73), []),
    ]
    for moment, expected in timeline:
        clock.moment = moment
        assert in_app(client) == expected, moment

    clock.moment = session + timedelta(hours=30)
    body = {"kind": "integration", "kap_session_id": session_id, "answers": [{"prompt_id": "insight", "text": "x"}]}
    assert client.put(f"/api/v1/reflections/{uuid.uuid4()}", json=body).status_code == 201
    assert in_app(client) == []


def test_a_kind_turned_off_is_neither_shown_nor_pushed(
    client: Client, people: People, clock: FrozenClock, settings: Settings, push_service: PushService
) -> None:
    client.login(people.patient_a.email)
    subscribe(client, Device(f"{push_service.url}/push/a"))
    without_questionnaires(client)
    clock.moment = NOON.replace(hour=21)
    assert in_app(client) == ["checkin"]

    client.put("/api/v1/reminders/preferences", json={"checkin": False})

    assert in_app(client) == []
    assert run_passes(settings, clock) == [0]
    assert push_service.received == []


# --- Web Push, for real ------------------------------------------------------------------------------------


def test_a_reminder_is_pushed_encrypted_for_the_device_signed_with_our_key_and_reads_generic_text(
    client: Client, people: People, clock: FrozenClock, settings: Settings, push_service: PushService
) -> None:
    client.login(people.patient_a.email)
    public_key = client.get("/api/v1/push/public-key").json()["public_key"]
    device = Device(f"{push_service.url}/push/device-1")
    assert subscribe(client, device).status_code == 201
    without_questionnaires(client)
    clock.moment = NOON.replace(hour=20, minute=5)

    assert run_passes(settings, clock) == [1]

    [message] = push_service.received
    assert message.path == "/push/device-1"
    assert message.headers["content-encoding"] == "aes128gcm"
    assert int(message.headers["ttl"]) > 0
    scheme, _, params = message.headers["authorization"].partition(" ")
    assert scheme == "vapid" and f"k={public_key}" in params  # signed with the key the browser was given
    assert device.decrypt(message.body) == {
        "title": "Afterglow",
        "body": "Time for your check-in",
        "tag": "checkin",
        "url": "/home",
    }
    assert query(settings, "SELECT delivered FROM reminders_sent")[0]["delivered"] == 1


def test_no_push_ever_carries_entry_text_scores_or_the_word_ketamine(
    client: Client, people: People, clock: FrozenClock, settings: Settings, push_service: PushService
) -> None:
    client.login(people.patient_a.email)
    device = Device(f"{push_service.url}/push/d")
    subscribe(client, device)
    session = NOON + timedelta(hours=20)
    session_id = add_session(settings, people.patient_a.id, session)
    canary = "canary-words-9d2c"
    client.put(f"/api/v1/questionnaires/{uuid.uuid4()}", json={"instrument": "gad7", "answers": [3, 3, 3, 2, 2, 1, 1]})
    reflection = {"kind": "free", "answers": [{"prompt_id": "free", "text": canary}]}
    client.put(f"/api/v1/reflections/{uuid.uuid4()}", json=reflection)
    # Every kind of reminder, each at its moment: intention, check-in and questionnaires, capture, reflection.
    for moment in (NOON, NOON.replace(hour=20, minute=30), session + timedelta(hours=3), session + timedelta(hours=26)):
        clock.moment = moment
        run_passes(settings, clock)

    texts = [device.decrypt(m.body) for m in push_service.received]
    kinds = {t["tag"] for t in texts}
    assert {"intention", "checkin", "questionnaire", "capture", "reflection"} <= kinds
    for text in texts:
        words = json.dumps(text).lower()
        assert "ketamine" not in words
        assert canary not in words
        assert not any(ch.isdigit() for ch in text["body"] + text["title"])  # no score, no number at all
        assert text["body"] == TEXTS[text["tag"]]
        assert session_id not in words
    for text in TEXTS.values():
        assert "ketamine" not in text.lower()


def test_two_schedulers_at_once_send_each_due_reminder_once(
    client: Client, people: People, clock: FrozenClock, settings: Settings, push_service: PushService
) -> None:
    client.login(people.patient_a.email)
    subscribe(client, Device(f"{push_service.url}/push/a-phone"))
    subscribe(client, Device(f"{push_service.url}/push/a-tablet"))
    without_questionnaires(client)
    client.login(people.patient_b.email)
    subscribe(client, Device(f"{push_service.url}/push/b-phone"))
    without_questionnaires(client)
    add_session(settings, people.patient_b.id, NOON.replace(hour=20) + timedelta(hours=10))
    clock.moment = NOON.replace(hour=20, minute=1)  # B: check-in and intention due; A: check-in due

    claimed = run_passes(settings, clock, instances=2)

    assert sum(claimed) == 3
    paths = sorted(r.path for r in push_service.received)
    assert paths == ["/push/a-phone", "/push/a-tablet", "/push/b-phone", "/push/b-phone"]
    assert run_passes(settings, clock, instances=2) == [0, 0]  # and never again
    assert len(push_service.received) == 4


def test_a_device_the_push_service_says_is_gone_is_deleted(
    client: Client, people: People, clock: FrozenClock, settings: Settings, push_service: PushService
) -> None:
    client.login(people.patient_a.email)
    subscribe(client, Device(f"{push_service.url}/gone/1"))
    subscribe(client, Device(f"{push_service.url}/unknown/2"))
    kept = subscribe(client, Device(f"{push_service.url}/push/3")).json()["id"]
    without_questionnaires(client)
    clock.moment = NOON.replace(hour=20, minute=1)

    run_passes(settings, clock)

    assert len(push_service.received) == 3
    assert [d["id"] for d in client.get("/api/v1/push/subscriptions").json()["items"]] == [kept]


def test_quiet_hours_hold_a_push_until_they_end_but_not_the_in_app_reminder(
    client: Client, people: People, clock: FrozenClock, settings: Settings, push_service: PushService
) -> None:
    client.login(people.patient_a.email)
    subscribe(client, Device(f"{push_service.url}/push/a"))
    client.put("/api/v1/reminders/preferences", json={"quiet_start": "19:00", "quiet_end": "20:30"})
    without_questionnaires(client)
    clock.moment = NOON.replace(hour=20, minute=10)

    assert run_passes(settings, clock) == [0]
    assert in_app(client) == ["checkin"]

    clock.moment = NOON.replace(hour=20, minute=31)
    assert run_passes(settings, clock) == [1]
    assert len(push_service.received) == 1


def test_quiet_hours_may_wrap_midnight() -> None:
    prefs = due.Preferences(
        timezone="Europe/Berlin",
        reminder_time=due.hhmm("20:00"),
        enabled=frozenset(),
        quiet_start=due.hhmm("22:00"),
        quiet_end=due.hhmm("07:00"),
    )
    berlin = [
        (datetime(2026, 11, 21, h, 0, tzinfo=UTC), quiet)
        for h, quiet in ((20, False), (21, True), (5, True), (6, False))
    ]
    for moment, quiet in berlin:
        assert due.in_quiet_hours(prefs, moment) is quiet, moment


def test_the_scheduler_task_stops_at_once_when_cancelled(settings: Settings, clock: FrozenClock) -> None:
    seed_people(settings, clock)

    async def go() -> None:
        db = Database(settings.database_path, readers=1)
        await db.open()
        try:
            task = asyncio.create_task(scheduler.run(State({"db": db, "settings": settings, "clock": clock})))
            await asyncio.sleep(0)  # let it start
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=10)
        finally:
            await db.close()

    asyncio.run(go())
    assert (settings.var_dir / vapid.KEY_FILE_NAME).exists()  # the keys are made on first start


def test_the_push_settings_are_read_from_the_environment(tmp_path: Path) -> None:
    base = {"AFTERGLOW_VAR_DIR": str(tmp_path), "AFTERGLOW_SECRET_KEY": "k" * 48}

    defaults = load_settings(base)
    custom = load_settings(
        {
            **base,
            "AFTERGLOW_VAPID_SUBJECT": "https://clinic.example.org",
            "AFTERGLOW_PUSH_SERVICES": " Push.Example.org ,",
        }
    )

    assert defaults.vapid_subject.startswith("mailto:")
    assert "fcm.googleapis.com" in defaults.push_services and "127.0.0.1" not in defaults.push_services
    assert (custom.vapid_subject, custom.push_services) == ("https://clinic.example.org", ("push.example.org",))
    with pytest.raises(SettingsError, match="AFTERGLOW_VAPID_SUBJECT"):
        load_settings({**base, "AFTERGLOW_VAPID_SUBJECT": "clinic.example.org"})


def test_a_phone_whose_sign_in_lapsed_gets_no_more_reminders(
    client: Client, people: People, clock: FrozenClock, settings: Settings, push_service: PushService
) -> None:
    client.login(people.patient_a.email)
    assert subscribe(client, Device(f"{push_service.url}/push/device-1")).status_code == 201
    without_questionnaires(client)
    # Never opened again: past the patient's 30-day idle limit, at the hour the check-in reminder is due.
    clock.moment = NOON.replace(hour=20, minute=5) + timedelta(days=31)

    assert run_passes(settings, clock) == [0]

    assert push_service.received == []
    assert query(settings, "SELECT count(*) AS n FROM push_subscriptions")[0]["n"] == 0
    assert query(settings, "SELECT count(*) AS n FROM sessions WHERE user_id = ?", (people.patient_a.id,))[0]["n"] == 0
