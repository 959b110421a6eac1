"""Two worker processes (``afterglow serve --workers 2``) behave as one: sign-in throttling, sessions,
idempotent PUTs and reminders live in the database, so it does not matter which worker answers.

Each request goes to a chosen worker: a fresh connection is opened, and kept only if that worker's process
accepted it (tests/bench/live_server.py reads /proc to tell). So every claim below is shown with both
workers answering, not left to the kernel's luck.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from server.clock import iso
from server.demo import ADMIN, DEMO_PASSWORD, OTHER_PATIENT, PATIENTS
from tests.bench.live_server import REPO_ROOT, LiveServer, Visitor, run_cli, server_env
from tests.test_reminders import Device, PushService

LOGIN = "/api/v1/auth/login"


class Cluster:
    def __init__(self, server: LiveServer, workers: list[int]) -> None:
        self.server = server
        self.a, self.b = workers

    def send(
        self, visitor: Visitor, worker: int, method: str, path: str, body: Any = None, *, source: str = "127.0.0.1"
    ) -> tuple[int, dict[str, str], Any]:
        return visitor.send(self.server.connect_to(worker, source=source), method, path, body)

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        uri = (self.server.var_dir / "afterglow.db").resolve().as_uri() + "?mode=ro"
        with closing(sqlite3.connect(uri, uri=True)) as conn:
            return conn.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    var_dir = tmp_path_factory.mktemp("workers") / "var"
    run_cli("demo", env=server_env(var_dir, 1))
    # The reminders' push service is the test's own, on 127.0.0.1.
    server = LiveServer(var_dir, workers=2, AFTERGLOW_PUSH_SERVICES="127.0.0.1")
    with server:
        workers = server.wait_for_workers()
        assert len(workers) == 2, workers
        yield Cluster(server, workers)


def anonymous(cluster: Cluster, worker: int) -> Visitor:
    """A visitor holding only a CSRF cookie (every POST, sign-in included, needs its token)."""
    visitor = Visitor()
    status, _, _ = cluster.send(visitor, worker, "GET", "/healthz")
    assert status == 200
    return visitor


def signed_in(cluster: Cluster, worker: int, email: str) -> Visitor:
    visitor = anonymous(cluster, worker)
    status, _, body = cluster.send(visitor, worker, "POST", LOGIN, {"email": email, "password": DEMO_PASSWORD})
    assert status == 200, body
    return visitor


def test_a_session_from_one_worker_works_on_the_other_and_signing_out_ends_it_on_both(cluster: Cluster) -> None:
    for here, there in ((cluster.a, cluster.b), (cluster.b, cluster.a)):
        visitor = signed_in(cluster, here, PATIENTS[0].email)
        status, _, me = cluster.send(visitor, there, "GET", "/api/v1/me")
        assert status == 200, me
        assert me["user"]["email"] == PATIENTS[0].email
        stolen = Visitor()
        stolen.cookies = dict(visitor.cookies)  # the same cookies, kept after the sign-out

        # The CSRF token minted by one worker is accepted by the other: they share the secret key.
        status, _, _ = cluster.send(visitor, there, "POST", "/api/v1/auth/logout")
        assert status == 204

        for worker in (here, there):
            status, _, _ = cluster.send(stolen, worker, "GET", "/api/v1/me")
            assert status == 401, f"worker {worker} still accepts a session ended on worker {there}"


def test_five_failed_sign_ins_spread_over_both_workers_lock_the_account_on_both(cluster: Cluster) -> None:
    email = PATIENTS[2].email
    # A different client address for each attempt, so only the per-account count can stop the sixth.
    sources = iter(f"127.0.0.{n}" for n in range(11, 30))
    visitor = anonymous(cluster, cluster.b)
    for worker in (cluster.a, cluster.b, cluster.a, cluster.b, cluster.a):
        status, _, _ = cluster.send(
            visitor, worker, "POST", LOGIN, {"email": email, "password": "wrong-password"}, source=next(sources)
        )
        assert status == 401

    # The sixth attempt is refused whichever worker answers, even with the right password.
    for worker, password in ((cluster.b, "wrong-password"), (cluster.a, DEMO_PASSWORD), (cluster.b, DEMO_PASSWORD)):
        status, headers, _ = cluster.send(
            visitor, worker, "POST", LOGIN, {"email": email, "password": password}, source=next(sources)
        )
        assert status == 429, f"worker {worker} answered {status}"
        assert int(headers["retry-after"]) > 0


def test_five_failed_sign_ins_from_one_address_over_both_workers_stop_that_address_on_both(cluster: Cluster) -> None:
    source = "127.0.0.40"
    visitor = anonymous(cluster, cluster.a)
    for n, worker in enumerate((cluster.b, cluster.a, cluster.b, cluster.a, cluster.b)):
        status, _, _ = cluster.send(
            visitor, worker, "POST", LOGIN, {"email": f"nobody{n}@nowhere.test", "password": "guess"}, source=source
        )
        assert status == 401

    for worker in (cluster.a, cluster.b):
        status, _, _ = cluster.send(
            visitor, worker, "POST", LOGIN, {"email": ADMIN.email, "password": DEMO_PASSWORD}, source=source
        )
        assert status == 429, f"worker {worker} answered {status}"
    # Another address may still sign in to the same account.
    status, _, _ = cluster.send(
        visitor, cluster.b, "POST", LOGIN, {"email": ADMIN.email, "password": DEMO_PASSWORD}, source="127.0.0.41"
    )
    assert status == 200


def test_one_put_replayed_concurrently_on_both_workers_stores_one_entry_with_one_version(cluster: Cluster) -> None:
    visitor = signed_in(cluster, cluster.a, PATIENTS[1].email)
    entry_id = str(uuid.uuid4())
    body = {"mood": 6, "anxiety": 3, "tags": ["replayed"], "note": f"the same write, many times {entry_id}"}
    # Connections are opened (and accepted) first, half on each worker, then all send at once.
    connections = [cluster.server.connect_to(cluster.a if n % 2 else cluster.b) for n in range(16)]
    start = threading.Barrier(len(connections))
    results: list[tuple[int, Any]] = []
    lock = threading.Lock()

    def replay(conn: Any) -> None:
        device = Visitor()
        device.cookies = dict(visitor.cookies)
        start.wait(timeout=30)
        status, _, answer = device.send(conn, "PUT", f"/api/v1/checkins/{entry_id}", body)
        with lock:
            results.append((status, answer))

    threads = [threading.Thread(target=replay, args=(conn,)) for conn in connections]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    statuses = Counter(status for status, _ in results)
    assert statuses == {201: 1, 200: len(connections) - 1}, statuses
    answers = {(a["id"], a["version"], a["updated_at"], a["note"]) for _, a in results}
    assert answers == {(entry_id, 1, results[0][1]["updated_at"], body["note"])}
    assert cluster.query("SELECT count(*), max(version) FROM entries WHERE id = ?", (entry_id,)) == [(1, 1)]
    assert cluster.query("SELECT count(*) FROM entry_versions WHERE entry_id = ?", (entry_id,)) == [(0,)]


RACER = """
import asyncio, sys, time
from datetime import datetime
from pathlib import Path
from server.db import Database
from server.reminders.scheduler import run_once
from server.settings import load_settings

var_dir, go, moment = Path(sys.argv[1]), Path(sys.argv[2]), datetime.fromisoformat(sys.argv[3])

class At:
    def now(self): return moment

async def main():
    settings = load_settings({"AFTERGLOW_VAR_DIR": str(var_dir), "AFTERGLOW_PUSH_SERVICES": "127.0.0.1"})
    db = Database(settings.database_path, readers=1)
    await db.open()
    for n in range(2):  # each pass starts when the test creates go-N, so both processes start it together
        deadline = time.monotonic() + 60
        while not Path(f"{go}-{n}").exists() and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        print(await run_once(db, At(), settings, instance=sys.argv[4]), flush=True)
    await db.close()

asyncio.run(main())
"""


class Schedulers:
    """Two processes running the reminder scheduler's pass together, as the two workers' schedulers do
    (theirs wake once a minute; these run when told, on a fixed clock)."""

    def __init__(self, cluster: Cluster, moment: datetime, tmp_path: Path) -> None:
        self.go = tmp_path / "go"
        self.passes = 0
        self.racers = [
            subprocess.Popen(
                [sys.executable, "-c", RACER, str(cluster.server.var_dir), str(self.go), moment.isoformat(), f"s{n}"],
                cwd=REPO_ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for n in range(2)
        ]

    def run_pass(self) -> list[int]:
        """How many reminders each process claimed (and pushed) in this pass."""
        Path(f"{self.go}-{self.passes}").touch()
        self.passes += 1
        claimed = []
        for racer in self.racers:
            assert racer.stdout is not None
            line = racer.stdout.readline()  # the racer gives up after 60 s, so this ends
            assert line, racer.communicate(timeout=60)[1]
            claimed.append(int(line))
        return claimed

    def __enter__(self) -> Schedulers:
        return self

    def __exit__(self, failure: type[BaseException] | None, *_: object) -> None:
        for racer in self.racers:
            if failure is not None and racer.poll() is None:
                racer.kill()  # the test failed between passes: do not leave it waiting for the next one
            _, err = racer.communicate(timeout=60)
            assert failure is not None or racer.returncode == 0, err


def test_two_workers_push_each_due_reminder_once(cluster: Cluster, tmp_path: Path) -> None:
    # Devices registered through both workers; the daily check-in due all day, on a day nobody wrote yet.
    devices: dict[str, list[str]] = {}
    with PushService() as push_service:
        for person, workers in ((OTHER_PATIENT, [cluster.a]), (PATIENTS[1], [cluster.a, cluster.b])):
            visitor = signed_in(cluster, workers[-1], person.email)
            settings = {"timezone": "UTC", "reminder_time": "00:00"}
            assert cluster.send(visitor, workers[0], "PUT", "/api/v1/me/settings", settings)[0] == 200
            for n, worker in enumerate(workers):
                path = f"/push/{person.email}/{n}"
                device = Device(push_service.url + path)
                status, _, body = cluster.send(
                    visitor, worker, "POST", "/api/v1/push/subscriptions", device.subscription()
                )
                assert status in (200, 201), body
                devices.setdefault(person.email, []).append(path)
        # Later than any demo entry, and within the patients' 30-day idle limit (a lapsed sign-in's phone
        # gets no reminders).
        moment = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) + timedelta(days=20)
        with Schedulers(cluster, moment, tmp_path) as schedulers:
            claimed = schedulers.run_pass()
            rows = cluster.query(
                "SELECT u.email, r.kind, r.occasion FROM reminders_sent r JOIN users u ON u.id = r.patient_id"
                " WHERE r.claimed_at = ?",
                (iso(moment),),
            )
            per_patient = Counter(email for email, _, _ in rows)
            assert {(email, kind) for email, kind, _ in rows} >= {(p, "checkin") for p in devices}
            assert sum(claimed) == len(rows)  # each due reminder claimed by exactly one of the two
            with push_service.lock:
                pushed = Counter(r.path for r in push_service.received)
            assert pushed == {path: per_patient[email] for email, paths in devices.items() for path in paths}

            assert schedulers.run_pass() == [0, 0]  # and never again
            with push_service.lock:
                assert len(push_service.received) == sum(pushed.values())
