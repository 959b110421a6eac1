"""Crash cycles: SIGKILL the real server while patients write check-ins, restart it, and check that every
write it acknowledged is there with its exact body, that nothing is duplicated, and that SQLite's
``integrity_check`` passes.

Each cycle:
1. replay the writes that were in flight at the last kill (a device's outbox does this): each must now
   answer 200 (it had committed) or 201 (it had not), and is acknowledged from then on;
2. a burst of concurrent PUTs, each to a fresh UUID, from several threads signed in as three patients;
3. SIGKILL after a random number of acknowledgements, at a random moment inside the burst, to the whole
   server at once (the server, its workers and their writer processes share a process group), and wait
   until nothing of it holds the port;
4. restart, and check the database (every acknowledged write of every cycle so far, nothing nobody wrote,
   no version created by a replay, integrity) and, through the API, this cycle's acknowledged writes.

SIGKILL ends the process, not the machine: the operating system's caches survive, so this proves the
app acknowledges only committed transactions and that recovery of the WAL works; ``synchronous=FULL``
(left on) is what covers a power cut.

Run it (500 cycles unless told otherwise; about 0.5 s per cycle on a small machine, the restarts forked
from a process that has imported the server once, see tests/bench/live_server.py):

    .venv/bin/python -m tests.bench.crash_cycles [CYCLES] [--seed N] [--writers N]

tests/test_crash_safety.py runs 20 cycles of the same code.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sqlite3
import ssl
import statistics
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from server.demo import DEMO_PASSWORD, PATIENTS
from tests.bench.live_server import CSRF_COOKIE, CSRF_HEADER, LiveServer

NOTE_PREFIX = "crash-cycle "
MAX_PUTS_PER_WRITER = 400  # per cycle: a bound, far above what a burst reaches before its kill
ACK_DEADLINE = 60.0  # seconds a burst may take to reach its kill point (generous: shared machines stall)
CHECKED_FIELDS = ("mood", "anxiety", "energy", "sleep_hours", "tags", "note")


@dataclass(frozen=True)
class Write:
    entry_id: str
    email: str
    body: dict[str, Any]
    cycle: int


@dataclass
class Ledger:
    """What the writers sent and what the server acknowledged; shared by the writer threads."""

    lock: threading.Condition = field(default_factory=threading.Condition)  # notified on every ack and problem
    attempted: dict[str, Write] = field(default_factory=dict)
    acked: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    def attempt(self, write: Write) -> None:
        with self.lock:
            self.attempted[write.entry_id] = write

    def ack(self, entry_id: str) -> None:
        with self.lock:
            self.acked.add(entry_id)
            self.lock.notify_all()

    def problem(self, text: str) -> None:
        with self.lock:
            self.problems.append(text)
            self.lock.notify_all()

    def acked_count(self) -> int:
        with self.lock:
            return len(self.acked)

    def in_flight(self) -> list[Write]:
        with self.lock:
            return [w for i, w in self.attempted.items() if i not in self.acked]


@dataclass
class Summary:
    cycles: int = 0
    attempted: int = 0
    acknowledged: int = 0
    in_flight_at_kill: int = 0
    in_flight_committed: int = 0  # in flight at the kill, found committed on replay (200): allowed
    verified_in_database: int = 0
    cycle_seconds: list[float] = field(default_factory=list)

    def text(self) -> str:
        mean = statistics.mean(self.cycle_seconds) if self.cycle_seconds else 0.0
        return (
            f"{self.cycles} SIGKILL cycles: {self.attempted} distinct writes sent, {self.acknowledged} acknowledged, "
            f"all {self.verified_in_database} present with their exact bodies, no duplicates, integrity ok; "
            f"{self.in_flight_at_kill} were in flight at a kill ({self.in_flight_committed} of them had "
            f"committed) and were replayed; {mean:.2f} s per cycle"
        )


def checkin_body(rng: random.Random, note: str) -> dict[str, Any]:
    """A valid check-in, already in the form the server stores (tags lower-case, note stripped)."""
    return {
        "mood": rng.randint(0, 10),  # low moods also raise safety flags, in the same transaction
        "anxiety": rng.randint(0, 10),
        "energy": rng.choice([None, *range(11)]),
        "sleep_hours": rng.choice([None, 0.0, 5.5, 7.0, 8.5, 12.0]),
        "tags": rng.sample(["crash", "calm", "tired", "hopeful", "restless"], rng.randint(0, 3)),
        "note": note,
    }


class CrashRun:
    def __init__(self, var_dir: Path, *, seed: int, writers: int = 6, say: Callable[[str], None] = print) -> None:
        self.var_dir = var_dir
        self.rng = random.Random(seed)
        self.seed = seed
        self.writers = writers
        self.say = say
        # Restarted every cycle: forked from a process that has imported the server once (see live_server.py).
        self.server = LiveServer(var_dir, preloaded=True)
        self.ledger = Ledger()
        # The clients speak plain HTTP; one TLS context for all of them spares each new client loading the CA
        # certificates (tens of milliseconds, a dozen clients a cycle).
        self.tls = ssl.create_default_context()
        self.summary = Summary()
        self.cookies: dict[str, dict[str, str]] = {}  # per patient email: session and CSRF cookies

    # --- set-up -----------------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Demo clinic, server up, every patient signed in once (sessions must survive the kills too)."""
        self.server.run_cli("demo")
        self.server.start()
        for person in PATIENTS:
            with httpx.Client(base_url=self.server.url, timeout=30, verify=self.tls) as client:
                client.get("/healthz")  # the CSRF cookie
                response = client.post(
                    "/api/v1/auth/login",
                    json={"email": person.email, "password": DEMO_PASSWORD},
                    headers={CSRF_HEADER: client.cookies[CSRF_COOKIE]},
                )
                response.raise_for_status()
                self.cookies[person.email] = dict(client.cookies.items())

    def client(self, email: str) -> httpx.Client:
        cookies = self.cookies[email]
        return httpx.Client(
            base_url=self.server.url,
            cookies=cookies,
            headers={CSRF_HEADER: cookies[CSRF_COOKIE]},
            timeout=30,
            verify=self.tls,
        )

    # --- one cycle --------------------------------------------------------------------------------------

    def cycle(self, number: int) -> None:
        started = time.monotonic()
        self.replay_in_flight()
        kill_after = self.ledger.acked_count() + self.rng.randint(1, 40)
        stop = threading.Event()
        threads = [
            threading.Thread(target=self.writer, args=(number, index, stop), daemon=True)
            for index in range(self.writers)
        ]
        for thread in threads:
            thread.start()
        self.wait_for_acks(kill_after)
        time.sleep(self.rng.uniform(0, 0.01))  # land somewhere inside a request, not just after one
        self.server.kill()
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        self.check_no_problems()
        self.summary.in_flight_at_kill += len(self.ledger.in_flight())
        self.server.start()
        self.verify_database()
        self.verify_through_api(number)
        self.summary.cycles += 1
        self.summary.cycle_seconds.append(time.monotonic() - started)

    def writer(self, cycle: int, index: int, stop: threading.Event) -> None:
        email = PATIENTS[index % len(PATIENTS)].email
        rng = random.Random(f"{self.seed}-{cycle}-{index}")  # its own: self.rng belongs to the main thread
        with self.client(email) as client:
            for n in range(MAX_PUTS_PER_WRITER):
                if stop.is_set():
                    return
                entry_id = str(uuid.uuid4())
                write = Write(entry_id, email, checkin_body(rng, f"{NOTE_PREFIX}{cycle}.{index}.{n}"), cycle)
                self.ledger.attempt(write)
                try:
                    response = client.put(f"/api/v1/checkins/{entry_id}", json=write.body)
                except httpx.TransportError:
                    return  # killed: this write stays in flight, to be replayed
                if not self.accepts(write, response, {201}):
                    return
                self.ledger.ack(entry_id)

    def accepts(self, write: Write, response: httpx.Response, statuses: set[int]) -> bool:
        """Whether the response acknowledges exactly this write; a problem is recorded if not."""
        if response.status_code not in statuses:
            self.ledger.problem(f"PUT {write.entry_id}: {response.status_code} {response.text[:300]}")
            return False
        echoed = {k: response.json().get(k) for k in CHECKED_FIELDS}
        if echoed != write.body:
            self.ledger.problem(f"PUT {write.entry_id} answered {echoed}, sent {write.body}")
            return False
        return True

    def wait_for_acks(self, target: int) -> None:
        with self.ledger.lock:
            reached = self.ledger.lock.wait_for(
                lambda: len(self.ledger.acked) >= target or bool(self.ledger.problems), timeout=ACK_DEADLINE
            )
        self.check_no_problems()
        if not reached:
            self.server.kill()
            raise AssertionError(f"only {self.ledger.acked_count()} of {target} writes acknowledged in time")

    def replay_in_flight(self) -> None:
        """Send again what the last kill interrupted: 200 if it had committed, 201 if not; never twice."""
        clients: dict[str, httpx.Client] = {}
        try:
            for write in self.ledger.in_flight():
                if write.email not in clients:
                    clients[write.email] = self.client(write.email)
                response = clients[write.email].put(f"/api/v1/checkins/{write.entry_id}", json=write.body)
                if not self.accepts(write, response, {200, 201}):
                    self.check_no_problems()
                self.summary.in_flight_committed += response.status_code == 200
                self.ledger.ack(write.entry_id)
        finally:
            for client in clients.values():
                client.close()

    # --- checks -----------------------------------------------------------------------------------------

    def check_no_problems(self) -> None:
        if self.ledger.problems:
            self.server.kill()
            raise AssertionError(f"seed {self.seed}: " + "\n".join(self.ledger.problems[:10]))

    def verify_database(self) -> None:
        """Read the file the restarted server recovered: every acknowledged write, exactly once, intact."""
        uri = (self.var_dir / "afterglow.db").resolve().as_uri() + "?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
            integrity = [row[0] for row in conn.execute("PRAGMA integrity_check")]
            assert integrity == ["ok"], f"seed {self.seed}: integrity_check: {integrity[:5]}"
            rows = conn.execute(
                "SELECT e.id, e.kind, e.body, e.version, u.email FROM entries e JOIN users u ON u.id = e.patient_id"
                " WHERE json_extract(e.body, '$.note') LIKE ?",
                (NOTE_PREFIX + "%",),
            ).fetchall()
            versions = conn.execute(
                "SELECT count(*) FROM entry_versions v JOIN entries e ON e.id = v.entry_id"
                " WHERE json_extract(e.body, '$.note') LIKE ?",
                (NOTE_PREFIX + "%",),
            ).fetchone()[0]
        stored = {row[0]: row for row in rows}
        notes = Counter(json.loads(row[2])["note"] for row in rows)
        duplicated = [note for note, n in notes.items() if n > 1]
        assert not duplicated, f"seed {self.seed}: stored more than once: {duplicated[:5]}"
        assert versions == 0, f"seed {self.seed}: {versions} versions created by replays of identical writes"
        strangers = set(stored) - set(self.ledger.attempted)
        assert not strangers, f"seed {self.seed}: entries nobody wrote: {sorted(strangers)[:5]}"
        with self.ledger.lock:
            acked = [self.ledger.attempted[i] for i in self.ledger.acked]
        for write in acked:
            row = stored.get(write.entry_id)
            assert row is not None, f"seed {self.seed}: acknowledged write {write.entry_id} (cycle {write.cycle}) lost"
            entry_id, kind, body, version, email = row
            assert (kind, email, version) == ("checkin", write.email, 1), (entry_id, kind, email, version)
            assert json.loads(body) == write.body, f"seed {self.seed}: {entry_id} stored {body}, sent {write.body}"
        self.summary.verified_in_database = len(acked)
        self.summary.attempted = len(self.ledger.attempted)
        self.summary.acknowledged = len(acked)

    def verify_through_api(self, cycle: int) -> None:
        """This cycle's acknowledged writes, read back by their patients from the restarted server."""
        with self.ledger.lock:
            mine = [w for i, w in self.ledger.attempted.items() if i in self.ledger.acked and w.cycle == cycle]
        for email in {w.email for w in mine}:
            with self.client(email) as client:
                for write in (w for w in mine if w.email == email):
                    response = client.get(f"/api/v1/checkins/{write.entry_id}")
                    assert response.status_code == 200, f"seed {self.seed}: GET {write.entry_id}: {response.text}"
                    assert {k: response.json()[k] for k in CHECKED_FIELDS} == write.body

    def finish(self) -> Summary:
        """Replay what the last kill interrupted, check everything once more, and stop the server."""
        try:
            self.replay_in_flight()
            self.check_no_problems()
            self.verify_database()
        finally:
            self.server.stop()
        return self.summary


def run(var_dir: Path, *, cycles: int, seed: int, writers: int = 6, say: Callable[[str], None] = print) -> Summary:
    """Set up, run ``cycles`` crash cycles, and return the summary (an AssertionError names the seed)."""
    crash = CrashRun(var_dir, seed=seed, writers=writers, say=say)
    try:
        crash.prepare()
        for number in range(1, cycles + 1):
            crash.cycle(number)
            if number % 25 == 0:
                say(f"  {number} cycles, {crash.summary.acknowledged} writes acknowledged and verified")
        return crash.finish()
    finally:
        crash.server.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("cycles", type=int, nargs="?", default=500)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--writers", type=int, default=6, help="concurrent writer threads (default 6)")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    print(f"{args.cycles} crash cycles, seed {seed}, {args.writers} writers")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="afterglow-crash-") as tmp:
        summary = run(Path(tmp) / "var", cycles=args.cycles, seed=seed, writers=args.writers)
    print(summary.text())
    print(f"total {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
