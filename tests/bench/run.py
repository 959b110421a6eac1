"""The benchmarks of issue 7: wrk (Lua scripts in tests/bench/lua/) against the real server, each figure a
ratio to a baseline measured in the same run, written to tests/bench/results.md.

    .venv/bin/python -m tests.bench.run                 # everything (make bench)
    .venv/bin/python -m tests.bench.run --only servers  # uvicorn vs granian, bare and check-in
    .venv/bin/python -m tests.bench.run --patients 100 --duration 5 --repeat 1

What it does:
1. raw ``sqlite3`` single-row commits (WAL, ``synchronous=FULL``) on the disk the databases are on;
2. (``servers``) the check-in PUT with the app under uvicorn (what ``afterglow serve`` runs, chosen by
   this comparison) and under granian, one worker each, against the same baseline;
3. for each N (100 and 10,000 patients; databases from tests/bench/datagen.py, generated on first use):
   start-up to the first answered request of ``afterglow serve`` on the migrated database, then the
   server as in production (``python -m server serve``, one worker, ``synchronous=FULL``) under wrk:
   check-in PUTs, the caseload page, the brief page and the 90/10 mix, each run right after the bare
   route with the same wrk settings; the worker's RSS is sampled throughout.

The baseline is the issue's: the bare route under granian, one worker (``--server uvicorn`` to compare
against uvicorn's instead).

wrk runs with ``-t`` equal to ``-c`` so that each connection is one signed-in device with its own session
cookie and CSRF token (sessions are inserted into the database before the server starts, as a sign-in
would, and listed in a file the Lua scripts read).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from litestar.middleware.csrf import generate_csrf_token

from server.db import connect_sync
from server.security.sessions import ABSOLUTE_LIMIT, SESSION_COOKIE
from server.security.tokens import new_token, token_hash
from tests.bench import datagen
from tests.bench.live_server import CSRF_COOKIE, HOST, REPO_ROOT, free_port

BENCH_DIR = Path(__file__).resolve().parent
LUA_DIR = BENCH_DIR / "lua"
DATA_DIR = REPO_ROOT / "var" / "bench"
RESULTS = BENCH_DIR / "results.md"
VENV_BIN = Path(sys.executable).parent
SECRET = "bench-secret-" + "x" * 40
APP_ROOT = REPO_ROOT  # --app-root: run the app from another copy of the code (the "before" of a change)
START_TIMEOUT = 120.0
BASELINE_SERVER = "granian"  # the bare route's server: one worker, as issue 7 sets the baseline


# --- data and sessions ------------------------------------------------------------------------------


def database_for(patients: int) -> Path:
    path = DATA_DIR / f"n{patients}" / "afterglow.db"
    if not path.exists():
        print(f"generating {patients} patients with a year of history into {path} ...", flush=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        datagen.generate(path, patients)
    return path


def working_copy(source: Path, run_dir: Path) -> Path:
    """Small databases are copied for each run, so every run starts from the same data; the large one is
    used in place (a run adds a few tens of thousands of check-ins to its 7 million rows, and only to
    patients that are not read by the caseload and brief benchmarks)."""
    if source.stat().st_size > 1_000_000_000:
        return source
    target = run_dir / "afterglow.db"
    shutil.copyfile(source, target)
    return target


@dataclass
class Fixture:
    therapist_id: str
    brief_patient_id: str
    writer_patient_ids: list[str]


def fixture(db: Path) -> Fixture:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        therapist = conn.execute(
            "SELECT id FROM users WHERE email = ?", (f"therapist0@{datagen.BENCH_EMAIL_DOMAIN}",)
        ).fetchone()[0]
        patient = conn.execute(
            "SELECT id FROM users WHERE email = ?", (f"patient0@{datagen.BENCH_EMAIL_DOMAIN}",)
        ).fetchone()[0]
        # Writers: patients of other care teams, so the pages being read do not grow during the run.
        writers = [
            r[0]
            for r in conn.execute(
                "SELECT c.patient_id FROM care_team c JOIN users u ON u.id = c.patient_id"
                " WHERE c.therapist_id != ? ORDER BY u.email LIMIT 512",
                (therapist,),
            )
        ]
    return Fixture(therapist, patient, writers)


def make_sessions(db: Path, user_ids: list[str], role: str) -> list[tuple[str, str]]:
    """Insert one full session per user id (as a sign-in would); returns (cookie header, csrf token)."""
    now = datetime.now(UTC)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    expires = (now + ABSOLUTE_LIMIT[role] - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    rows, out = [], []
    for user_id in user_ids:
        token = new_token()
        csrf = generate_csrf_token(SECRET)
        rows.append((token_hash(token), user_id, stamp, stamp, expires, "127.0.0.1", "wrk", "full", new_token()[:16]))
        out.append((f"{SESSION_COOKIE}={token}; {CSRF_COOKIE}={csrf}", csrf))
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as conn, conn:
        conn.executemany(
            "INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, expires_at, client_address,"
            " user_agent, stage, public_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    return out


def write_sessions_file(path: Path, lines: list[tuple[str, ...]]) -> Path:
    path.write_text("".join("\t".join(line) + "\n" for line in lines))
    return path


# --- servers ----------------------------------------------------------------------------------------


def server_env(run_dir: Path, db: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AFTERGLOW_", "GRANIAN_"))}
    env.update(
        AFTERGLOW_VAR_DIR=str(run_dir),
        AFTERGLOW_DATABASE=str(db),
        AFTERGLOW_HOST=HOST,
        AFTERGLOW_PORT=str(port),
        AFTERGLOW_SECRET_KEY=SECRET,
        # A scheduled backup of a 5 GB file in the middle of a run would measure the backup.
        AFTERGLOW_BACKUP_INTERVAL_HOURS="0",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=str(APP_ROOT),
    )
    return env


def server_command(kind: str, target: str, port: int, *, factory: bool) -> list[str]:
    if kind == "production":
        return [sys.executable, "-m", "server", "serve", "--workers", "1"]
    if kind == "uvicorn":
        return [
            str(VENV_BIN / "uvicorn"),
            *(["--factory"] if factory else []),
            target,
            "--host",
            HOST,
            "--port",
            str(port),
            "--workers",
            "1",
            "--no-access-log",
            "--log-level",
            "warning",
        ]
    if kind == "granian":
        return [
            str(VENV_BIN / "granian"),
            "--interface",
            "asgi",
            "--workers",
            "1",
            "--host",
            HOST,
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-ws",
            *(["--factory"] if factory else []),
            target,
        ]
    raise ValueError(kind)


class Server:
    def __init__(self, command: list[str], env: dict[str, str], port: int, log: Path) -> None:
        self.command, self.env, self.port, self.log = command, env, port, log
        self.cwd = REPO_ROOT if "tests.bench.bare_app:app" in command else APP_ROOT
        self.process: subprocess.Popen[bytes] | None = None
        self.started_in = 0.0

    def start(self) -> float:
        started = time.monotonic()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command, env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        while time.monotonic() - started < START_TIMEOUT:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-3000:]}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn = http.client.HTTPConnection(HOST, self.port, timeout=2)
                try:
                    conn.request("GET", "/healthz")
                    if conn.getresponse().status == 200:
                        self.started_in = time.monotonic() - started
                        return self.started_in
                finally:
                    conn.close()
            time.sleep(0.005)
        self.stop()
        raise RuntimeError(f"server did not start: {self.log.read_text()[-3000:]}")

    def pids(self) -> list[int]:
        assert self.process is not None
        found, frontier = [self.process.pid], [self.process.pid]
        while frontier:
            parent = frontier.pop()
            for child in _children(parent):
                found.append(child)
                frontier.append(child)
        return found

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self.process = None

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _is_writer(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return b"server.writer_process" in Path(f"/proc/{pid}/cmdline").read_bytes()
    return False


def _cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def wait_until_idle(server: Server, *, limit: float = 600.0) -> float:
    """Wait until the server's processes use under 5% of a core for a second (start-up work settling);
    returns how long that took."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        before = _cpu_seconds(server.pids())
        time.sleep(1.0)
        if _cpu_seconds(server.pids()) - before < 0.05:
            break
    return time.monotonic() - started


class RssSampler:
    """Peak RSS sampled every 100 ms: the largest process of the server that is not its writer process (the
    worker), and the writer process (server/writer_process.py) on its own."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.peak = 0.0
        self.peak_writer = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(Exception):
                for pid in self.server.pids():
                    if _is_writer(pid):
                        self.peak_writer = max(self.peak_writer, _rss_mb(pid))
                    else:
                        self.peak = max(self.peak, _rss_mb(pid))
            time.sleep(0.1)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


# --- wrk --------------------------------------------------------------------------------------------


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    ok: int
    bad: int
    statuses: dict[str, int] = field(default_factory=dict)


def wrk(port: int, script: str, connections: int, duration: float, env: dict[str, str]) -> Load:
    command = [
        "wrk",
        f"-t{connections}",
        f"-c{connections}",
        f"-d{duration:g}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA_DIR / script),
        f"http://{HOST}:{port}",
    ]
    result = subprocess.run(
        command, env={**os.environ, "BENCH_LUA_DIR": str(LUA_DIR), **env}, capture_output=True, text=True, check=False
    )
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if result.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    statuses = {k: int(v) for k, v in data["statuses"].items()}
    ok = sum(n for code, n in statuses.items() if code.startswith("2"))
    return Load(
        rps=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        ok=ok,
        bad=sum(statuses.values()) - ok + sum(data["errors"].values()) - data["errors"]["status"],
        statuses=statuses,
    )


# --- raw SQLite -------------------------------------------------------------------------------------


def raw_commits(directory: Path, seconds: float = 3.0) -> float:
    """Single-row commits per second with WAL and synchronous=FULL on the same disk as the databases."""
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        conn = sqlite3.connect(Path(tmp) / "raw.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        body = "x" * 200
        count, started = 0, time.monotonic()
        while time.monotonic() - started < seconds:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO t (body) VALUES (?)", (body,))
            conn.execute("COMMIT")
            count += 1
        elapsed = time.monotonic() - started
        conn.close()
    return count / elapsed


# --- the runs ---------------------------------------------------------------------------------------


@dataclass
class Row:
    section: str
    name: str
    load: Load
    base: Load
    rss_mb: float = 0.0
    writer_rss_mb: float = 0.0
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.load.rps / self.base.rps if self.base.rps else 0.0

    @property
    def p99_ratio(self) -> float:
        return self.load.p99_ms / self.base.p99_ms if self.base.p99_ms else 0.0


@dataclass
class Options:
    duration: float
    connections: int
    repeat: int
    server: str


def pair(
    section: str,
    name: str,
    bare: Server,
    app: Server,
    script: str,
    env: dict[str, str],
    opts: Options,
    *,
    connections: int | None = None,
) -> Row:
    """Bare route then the app, ``repeat`` times; the pair with the median ratio is kept."""
    c = connections or opts.connections
    pairs = []
    for _ in range(opts.repeat):
        base = wrk(bare.port, "checkin.lua", c, opts.duration, env)
        with RssSampler(app) as rss:
            load = wrk(app.port, script, c, opts.duration, env)
        pairs.append(Row(section, name, load, base, rss.peak, rss.peak_writer))
    pairs.sort(key=lambda r: r.ratio)
    row = pairs[len(pairs) // 2]
    print(_row_text(row), flush=True)
    return row


def _row_text(r: Row) -> str:
    return (
        f"{r.section:<10} {r.name:<26} {r.load.rps:8.0f}/s p99 {r.load.p99_ms:7.1f} ms | bare {r.base.rps:7.0f}/s"
        f" p99 {r.base.p99_ms:6.1f} ms | ratio {r.ratio:5.3f}, p99 x{r.p99_ratio:4.1f}"
        f" | ok {r.load.ok} bad {r.load.bad} | rss {r.rss_mb:.0f} MB + writer {r.writer_rss_mb:.0f} MB"
    )


def started_bare(kind: str, run_dir: Path) -> Server:
    port = free_port()
    env = server_env(run_dir, run_dir / "unused.db", port)
    return Server(
        server_command(kind, "tests.bench.bare_app:app", port, factory=False), env, port, run_dir / "bare.log"
    )


def compare_servers(opts: Options, run_dir: Path) -> list[Row]:
    """Check-in PUTs (N=100) with the app under uvicorn and under granian, one worker each."""
    rows = []
    db = working_copy(database_for(100), run_dir)
    fx = fixture(db)
    sessions = make_sessions(db, [fx.writer_patient_ids[i % len(fx.writer_patient_ids)] for i in range(64)], "patient")
    env = {"BENCH_SESSIONS": str(write_sessions_file(run_dir / "servers.tsv", sessions))}
    runs = [
        ("uvicorn: check-in PUT", "uvicorn", "server.asgi:app_from_env"),
        ("granian: check-in PUT", "granian", "server.asgi:app_from_env"),
    ]
    for name, kind, target in runs:
        if not (VENV_BIN / kind).exists():
            print(f"{kind} is not installed: `.venv/bin/pip install {kind}` to compare it", flush=True)
            continue
        port = free_port()
        app = Server(
            server_command(kind, target, port, factory=True),
            server_env(run_dir, db, port),
            port,
            run_dir / f"{kind}.log",
        )
        with started_bare(opts.server, run_dir) as bare, app:
            wait_until_idle(app)
            rows.append(pair("servers", name, bare, app, "checkin.lua", env, opts))
    return rows


@contextlib.contextmanager
def bench_database(patients: int, run_dir: Path) -> Iterator[tuple[Path, Fixture]]:
    """The database of ``patients`` for one run (``working_copy``), and who is who in it.

    The large one is used in place, so the check-ins the run wrote are deleted when it ends. Left there,
    every run added thousands to the same writer patients, and the 90/10 mix's "my last week" read grew
    with them (1,650 entries a patient after two days of runs, a slower mix at N=10,000 every run). Every
    tool that writes takes its database here, so none of them leaves its writes behind."""
    source = database_for(patients)
    db = working_copy(source, run_dir)
    fx = fixture(db)
    if db != source:
        yield db, fx
        return
    with contextlib.closing(sqlite3.connect(db)) as conn:
        last = conn.execute("SELECT coalesce(max(rowid), 0) FROM entries").fetchone()[0]
    try:
        yield db, fx
    finally:
        marks = ",".join("?" * len(fx.writer_patient_ids))
        with contextlib.closing(connect_sync(db)) as conn:
            conn.execute(
                f"DELETE FROM entries WHERE rowid > ? AND patient_id IN ({marks})", (last, *fx.writer_patient_ids)
            )
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def bench_patients(patients: int, opts: Options, run_dir: Path) -> tuple[list[Row], dict[str, Any]]:
    # The servers stop inside, before the database forgets the run's writes.
    with bench_database(patients, run_dir) as (db, fx):
        return _bench_on(db, fx, patients, opts, run_dir)


def _bench_on(db: Path, fx: Fixture, patients: int, opts: Options, run_dir: Path) -> tuple[list[Row], dict[str, Any]]:
    extra: dict[str, Any] = {"db_mb": db.stat().st_size / 1e6}
    with contextlib.closing(sqlite3.connect(db)) as conn:
        extra["entries"] = conn.execute("SELECT count(*) FROM entries").fetchone()[0]
        extra["brief_entries"] = conn.execute(
            "SELECT count(*) FROM entries WHERE patient_id = ?", (fx.brief_patient_id,)
        ).fetchone()[0]
        extra["caseload"] = conn.execute(
            "SELECT count(*) FROM care_team WHERE therapist_id = ?", (fx.therapist_id,)
        ).fetchone()[0]
    c = opts.connections
    writers = make_sessions(db, [fx.writer_patient_ids[i % len(fx.writer_patient_ids)] for i in range(c)], "patient")
    therapist = make_sessions(db, [fx.therapist_id] * c, "therapist")
    lines = [(cookie, csrf, "", therapist[i][0]) for i, (cookie, csrf) in enumerate(writers)]
    put_env = {"BENCH_SESSIONS": str(write_sessions_file(run_dir / f"writers{patients}.tsv", lines))}
    read_env = {
        "BENCH_SESSIONS": str(write_sessions_file(run_dir / f"therapist{patients}.tsv", therapist)),
    }
    brief_path = f"/clinic/patients/{fx.brief_patient_id}"

    # Migrate first (a new index on 7 million rows takes a while): start-up is timed on a migrated database.
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "server", "migrate"],
        env=server_env(run_dir, db, free_port()),
        cwd=APP_ROOT,
        check=True,
        capture_output=True,
    )
    extra["migrate_s"] = time.monotonic() - started
    # Start-up to the first answered request: `afterglow serve` on the migrated database, three times.
    starts = []
    for _ in range(3):
        port = free_port()
        server = Server(
            server_command("production", "", port, factory=True),
            server_env(run_dir, db, port),
            port,
            run_dir / "startup.log",
        )
        starts.append(server.start())
        server.stop()
    extra["startup_s"] = statistics.median(starts)
    print(f"N={patients}: start-up to first answer {extra['startup_s']:.2f} s (median of {starts})", flush=True)

    rows = []
    port = free_port()
    app = Server(
        server_command("production", "", port, factory=True),
        server_env(run_dir, db, port),
        port,
        run_dir / f"app{patients}.log",
    )
    with started_bare(opts.server, run_dir) as bare, app:
        extra["settle_s"] = wait_until_idle(app)
        print(f"N={patients}: settled after start-up in {extra['settle_s']:.1f} s", flush=True)
        section = f"N={patients}"
        rows.append(pair(section, f"check-in PUT c={c}", bare, app, "checkin.lua", put_env, opts))
        rows.append(
            pair(section, "caseload page (50)", bare, app, "get.lua", {**read_env, "BENCH_PATH": "/clinic/"}, opts)
        )
        rows.append(
            pair(section, "brief page (a year)", bare, app, "get.lua", {**read_env, "BENCH_PATH": brief_path}, opts)
        )
        rows.append(pair(section, "90/10 mix", bare, app, "mix.lua", {**put_env, "BENCH_BRIEF_PATH": brief_path}, opts))
    # The server logs, at shutdown, how many transactions its COMMITs carried (server/db.py).
    found = re.findall(r"group commit: (\d+) transactions in (\d+) commits", app.log.read_text())
    if found:
        transactions, commits = map(int, found[-1])
        extra["per_commit"] = transactions / commits
    return rows, extra


# --- report -----------------------------------------------------------------------------------------


def report(rows: list[Row], extras: dict[int, dict[str, Any]], raw: float, opts: Options, command: str) -> str:
    out = [
        "# Benchmark results (issue 7)",
        "",
        f"Produced by `{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {os.cpu_count()} cores,"
        f" {platform.python_implementation()} {platform.python_version()}, load average at start"
        f" {os.getloadavg()[0]:.1f} (a shared machine: absolute numbers drift; compare the ratios).",
        f"wrk -t{opts.connections} -c{opts.connections} -d{opts.duration:g}s per run; every app run follows a run"
        f" of the bare route under {opts.server} (one worker, the baseline); the pair with the median ratio"
        f" of {opts.repeat} is shown. Raw sqlite3 single-row commits (WAL, synchronous=FULL, same disk):"
        f" **{raw:.0f}/s**.",
        "",
        "| section | benchmark | req/s | ratio to bare | p99 ms | p99 ÷ bare p99 | bare req/s | bare p99 ms"
        " | non-2xx/errors | worker RSS MB | its writer process's RSS MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        out.append(
            f"| {r.section} | {r.name} | {r.load.rps:.0f} | **{r.ratio:.3f}** | {r.load.p99_ms:.1f} |"
            f" {r.p99_ratio:.2f} | {r.base.rps:.0f} | {r.base.p99_ms:.1f} | {r.load.bad} | {r.rss_mb:.0f} |"
            f" {r.writer_rss_mb:.0f} |"
        )
    checkins = [r for r in rows if r.name.startswith("check-in PUT") and r.section.startswith("N=")]
    for r in checkins:
        out.append("")
        out.append(
            f"{r.section}: durable check-in PUTs/s ÷ raw single-row commits/s = {r.load.rps / raw:.2f}"
            + (
                f"; {extras[int(r.section[2:])]['per_commit']:.1f} transactions per COMMIT over the run (group commit)"
                if extras.get(int(r.section[2:]), {}).get("per_commit")
                else ""
            )
        )
    if extras:
        out += [
            "",
            "| N | entries | brief patient's entries | caseload | DB MB | start-up s | settle after start-up s |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for n, e in extras.items():
            out.append(
                f"| {n} | {e['entries']} | {e['brief_entries']} | {e['caseload']} | {e['db_mb']:.0f} |"
                f" {e['startup_s']:.2f} | {e['settle_s']:.1f} |"
            )
    by_key = {(r.section, r.name.split(" c=")[0]): r for r in rows}
    if len(extras) >= 2:
        small, large = sorted(extras)[:2]
        out += ["", f"N={large} against N={small} (ratio of the ratios; 1.0 = no slower):", ""]
        for name in ("check-in PUT", "caseload page (50)", "brief page (a year)", "90/10 mix"):
            a, b = by_key.get((f"N={small}", name)), by_key.get((f"N={large}", name))
            if a and b and b.ratio:
                out.append(f"- {name}: {a.ratio / b.ratio:.2f}x slower at N={large}")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--patients", type=int, nargs="*", default=[100, 10_000])
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per wrk run (default 8)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3, help="bare/app pairs per benchmark (median kept)")
    parser.add_argument(
        "--server",
        choices=["granian", "uvicorn"],
        default=None,
        help="ASGI server of the bare baseline (default: granian, as the issue sets it)",
    )
    parser.add_argument("--only", choices=["servers", "app"], default=None)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--app-root", type=Path, default=None, help="run the app from this copy of the code")
    args = parser.parse_args(argv)
    if args.app_root is not None:
        global APP_ROOT
        APP_ROOT = args.app_root.resolve()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk")
    opts = Options(args.duration, args.connections, args.repeat, args.server or BASELINE_SERVER)
    command = "python -m tests.bench.run " + " ".join(argv if argv is not None else sys.argv[1:])
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    extras: dict[int, dict[str, Any]] = {}
    raw = raw_commits(DATA_DIR)
    print(f"raw sqlite3 commits (WAL, synchronous=FULL): {raw:.0f}/s", flush=True)
    with tempfile.TemporaryDirectory(dir=DATA_DIR, prefix="run-") as tmp:
        run_dir = Path(tmp)
        if args.only in (None, "servers"):
            rows += compare_servers(opts, run_dir)
        if args.only in (None, "app"):
            for n in args.patients:
                n_dir = run_dir / f"n{n}"
                n_dir.mkdir()
                found, extra = bench_patients(n, opts, n_dir)
                rows += found
                extras[n] = extra
    text = report(rows, extras, raw, opts, command)
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
