"""Backups: ``afterglow backup`` (a checked copy, safe while the server writes), ``afterglow restore`` (checks
first, refuses to clobber, replaces safely), and scheduled backups with retention, one per interval however
many worker processes run the schedule."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import sqlite3
import stat
import subprocess
import sys
import threading
import time
import uuid
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.datastructures import State

from server.backup import (
    BACKUP_NAME,
    BackupError,
    backup_database,
    restore_database,
    run_scheduled,
    take_scheduled_backup,
)
from server.db import Database, apply_migrations, connect_sync
from server.demo import DEMO_PASSWORD, PATIENTS
from server.settings import Settings, SettingsError, load_settings
from tests.bench.live_server import CSRF_COOKIE, CSRF_HEADER, LiveServer, server_env
from tests.conftest import REPO_ROOT, FrozenClock, run_cli

SECRET = "b" * 48


# --- helpers --------------------------------------------------------------------------------------------


def env_for(var_dir: Path, **extra: str) -> dict[str, str]:
    return server_env(var_dir, 8000, AFTERGLOW_SECRET_KEY=SECRET, **extra)


def cli(var_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env=env_for(var_dir))


def live_db(var_dir: Path) -> Path:
    return var_dir / "afterglow.db"


def snapshot(path: Path) -> dict[str, Any]:
    """Every table's rows (tables found in sqlite_master, so new ones are covered) and the whole schema."""
    uri = path.resolve().as_uri() + "?mode=ro"
    with closing(sqlite3.connect(uri, uri=True)) as conn:
        schema = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").fetchall()
        tables = [name for kind, name, _, _ in schema if kind == "table"]
        rows = {}
        for table in tables:
            width = len(conn.execute(f'SELECT * FROM "{table}" LIMIT 0').description)
            order = ", ".join(str(n) for n in range(1, width + 1))
            rows[table] = conn.execute(f'SELECT * FROM "{table}" ORDER BY {order}').fetchall()
    return {"schema": schema, "rows": rows}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sql(path: Path, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """One statement on a plain connection (which leaves the file's journal mode as it is)."""
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        return conn.execute(statement, params).fetchall()


@pytest.fixture(scope="module")
def demo_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo clinic, made once by ``afterglow demo`` (several thousand rows over most tables)."""
    var_dir = tmp_path_factory.mktemp("demo") / "var"
    result = cli(var_dir, "demo")
    assert result.returncode == 0, result.stderr
    path = live_db(var_dir)
    assert not path.with_name(path.name + "-wal").exists()  # closed cleanly: the file is complete on its own
    return path


@pytest.fixture
def var_dir(tmp_path: Path, demo_database: Path) -> Path:
    """A var folder holding a copy of the demo database."""
    var = tmp_path / "var"
    var.mkdir()
    shutil.copyfile(demo_database, live_db(var))
    return var


# --- backup and restore ---------------------------------------------------------------------------------


def test_a_backup_restored_elsewhere_has_every_table_row_for_row(var_dir: Path, tmp_path: Path) -> None:
    backup = tmp_path / "nightly.db"

    made = cli(var_dir, "backup", str(backup))

    assert made.returncode == 0, made.stderr
    assert "integrity check ok" in made.stdout
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600  # it holds patients' records
    assert not backup.with_name("nightly.db-wal").exists()  # one self-contained file
    original = snapshot(live_db(var_dir))
    elsewhere = tmp_path / "elsewhere"

    restored = cli(elsewhere, "restore", str(backup))

    assert restored.returncode == 0, restored.stderr
    copy = snapshot(live_db(elsewhere))
    assert copy["schema"] == original["schema"]
    assert list(copy["rows"]) == list(original["rows"])
    for table, rows in original["rows"].items():
        assert copy["rows"][table] == rows, f"table {table} differs after restore"
    filled = [table for table, rows in original["rows"].items() if rows]
    assert len(filled) >= 12, f"the comparison should cover real data, only {filled} have rows"
    assert sum(len(rows) for rows in original["rows"].values()) > 1000


def test_restore_with_force_replaces_the_database_and_keeps_the_old_one_aside(var_dir: Path, tmp_path: Path) -> None:
    backup = backup_database(live_db(var_dir), tmp_path / "before.db").path
    before = snapshot(live_db(var_dir))
    sql(live_db(var_dir), "DELETE FROM entries WHERE rowid IN (SELECT rowid FROM entries LIMIT 10)")

    info = restore_database(backup, live_db(var_dir), force=True)

    assert snapshot(live_db(var_dir)) == before
    assert info.migrations_applied == []
    kept = [p for p in var_dir.iterdir() if ".before-restore-" in p.name]
    assert kept == [info.replaced_kept_at]
    assert len(snapshot(kept[0])["rows"]["entries"]) == len(before["rows"]["entries"]) - 10


def test_restore_never_replays_the_old_databases_wal_onto_the_backup(var_dir: Path, tmp_path: Path) -> None:
    backup = backup_database(live_db(var_dir), tmp_path / "clean.db").path
    # A process that committed and then died: its last transaction lives only in the -wal file.
    marker = f"only-in-the-wal-{uuid.uuid4()}"
    crash = (
        "import os, sqlite3, sys\n"
        "conn = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "conn.execute('PRAGMA journal_mode=WAL'); conn.execute('PRAGMA wal_autocheckpoint=0')\n"
        "conn.execute('UPDATE clinics SET name = ?', (sys.argv[2],))\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", crash, str(live_db(var_dir)), marker], check=True, timeout=60)
    wal = live_db(var_dir).with_name("afterglow.db-wal")
    assert wal.stat().st_size > 0

    restore_database(backup, live_db(var_dir), force=True)

    assert snapshot(live_db(var_dir)) == snapshot(backup)
    assert sql(live_db(var_dir), "SELECT count(*) FROM clinics WHERE name = ?", (marker,))[0][0] == 0
    # The replaced database kept its last transaction: its WAL was folded in before it was set aside.
    kept = next(p for p in var_dir.iterdir() if ".before-restore-" in p.name)
    assert sql(kept, "SELECT count(*) FROM clinics WHERE name = ?", (marker,))[0][0] == 1


def test_backup_refuses_to_overwrite_a_file_and_to_invent_a_database(var_dir: Path, tmp_path: Path) -> None:
    existing = tmp_path / "precious.db"
    existing.write_bytes(b"not to be overwritten")

    result = cli(var_dir, "backup", str(existing))

    assert result.returncode == 1
    assert "already exists" in result.stderr and "Traceback" not in result.stderr
    assert existing.read_bytes() == b"not to be overwritten"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".precious")] == []  # no temporary left

    empty_var = tmp_path / "nothing-here"
    with pytest.raises(BackupError, match="there is no database"):
        backup_database(live_db(empty_var), tmp_path / "new.db")
    assert not live_db(empty_var).exists() and not (tmp_path / "new.db").exists()


def test_backup_into_a_folder_names_the_file_by_the_utc_time(var_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()

    result = cli(var_dir, "backup", str(folder))

    assert result.returncode == 0, result.stderr
    [made] = list(folder.iterdir())
    assert BACKUP_NAME.match(made.name), made.name


def test_restore_refuses_to_overwrite_a_database_without_force(var_dir: Path, tmp_path: Path) -> None:
    backup = tmp_path / "b.db"
    assert cli(var_dir, "backup", str(backup)).returncode == 0
    before = digest(live_db(var_dir))

    result = cli(var_dir, "restore", str(backup))

    assert result.returncode == 1
    assert "--force" in result.stderr and "nothing was changed" in result.stderr
    assert digest(live_db(var_dir)) == before


def corrupt(path: Path) -> None:
    """Scribble over a few pages in the middle of the file (page 1, the header, stays intact)."""
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    for n in range(3, min(len(data) // page, 12)):
        data[n * page + 8 : n * page + 64] = b"\xa5" * 56
    path.write_bytes(bytes(data))


def from_the_future(path: Path) -> None:
    sql(path, "INSERT INTO schema_migrations VALUES (9999, '9999_from_the_future.sql', 'x', 'y')")


def foreign(path: Path) -> None:
    sql(path, "DROP TABLE schema_migrations")


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (corrupt, "integrity"),
        (from_the_future, "newer version"),
        (foreign, "not an Afterglow database"),
        (lambda p: p.write_bytes(b"a spreadsheet, say"), "not an SQLite database"),
    ],
    ids=["corrupt", "newer-schema", "not-afterglow", "not-sqlite"],
)
def test_restore_refuses_a_bad_backup_and_changes_nothing(
    var_dir: Path, tmp_path: Path, spoil: Any, message: str
) -> None:
    backup = backup_database(live_db(var_dir), tmp_path / "bad.db").path
    spoil(backup)
    before = digest(live_db(var_dir))

    with pytest.raises(BackupError, match=message):
        restore_database(backup, live_db(var_dir), force=True)

    assert digest(live_db(var_dir)) == before
    assert sorted(p.name for p in var_dir.iterdir()) == ["afterglow.db"]  # no temporary file left behind


def test_backup_while_the_server_writes_is_consistent_and_restore_refuses_a_running_server(
    var_dir: Path, tmp_path: Path
) -> None:
    with LiveServer(var_dir, AFTERGLOW_SECRET_KEY=SECRET) as server:
        writer = CheckinWriter(server.url, PATIENTS[0].email)
        with writer.running():
            backups = []
            for n in range(3):
                writer.wait_for(5 * (n + 1))
                acknowledged_before = set(writer.acknowledged)
                backup = tmp_path / f"busy-{n}.db"
                result = cli(var_dir, "backup", str(backup))
                assert result.returncode == 0, result.stderr
                backups.append((backup, acknowledged_before))
        before = digest(live_db(var_dir))

        refused = cli(var_dir, "restore", str(backups[0][0]), "--force")

        assert refused.returncode == 1
        assert "in use" in refused.stderr
        assert digest(live_db(var_dir)) == before
        assert server.process is not None and server.process.poll() is None

    previous: set[str] = set()
    for backup, acknowledged_before in backups:
        stored = {row[0]: row[1] for row in sql(backup, "SELECT id, body FROM entries")}
        assert acknowledged_before <= set(stored), "a write acknowledged before the backup began is missing"
        for entry_id in acknowledged_before:
            assert json.loads(stored[entry_id]) == writer.sent[entry_id]
        assert previous <= set(stored)  # each backup is a later snapshot of the same history
        previous = set(stored)


@dataclass
class CheckinWriter:
    """A patient writing check-ins through the live server from a thread, recording what was acknowledged."""

    url: str
    email: str

    def __post_init__(self) -> None:
        self.sent: dict[str, dict[str, Any]] = {}  # id -> the body the server should store
        self.acknowledged: list[str] = []
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with httpx.Client(base_url=self.url, timeout=30) as client:
                client.get("/healthz")
                client.headers[CSRF_HEADER] = client.cookies[CSRF_COOKIE]
                login = client.post("/api/v1/auth/login", json={"email": self.email, "password": DEMO_PASSWORD})
                login.raise_for_status()
                for n in range(5000):  # bounded; stopped long before
                    if self.stop.is_set():
                        return
                    entry_id, note = str(uuid.uuid4()), f"written during a backup {n}"
                    response = client.put(f"/api/v1/checkins/{entry_id}", json={"mood": 7, "anxiety": 2, "note": note})
                    response.raise_for_status()
                    self.sent[entry_id] = {
                        "mood": 7,
                        "anxiety": 2,
                        "energy": None,
                        "sleep_hours": None,
                        "tags": [],
                        "note": note,
                    }
                    self.acknowledged.append(entry_id)
        except BaseException as exc:
            self.error = exc

    def running(self) -> Any:
        writer = self

        class Running:
            def __enter__(self) -> None:
                self.thread = threading.Thread(target=writer.run, daemon=True)
                self.thread.start()

            def __exit__(self, *_: object) -> None:
                writer.stop.set()
                self.thread.join(timeout=60)
                if writer.error:
                    raise writer.error

        return Running()

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + 30
        while len(self.acknowledged) < count:
            assert self.error is None, self.error
            assert time.monotonic() < deadline, f"only {len(self.acknowledged)} writes acknowledged"
            time.sleep(0.005)


# --- scheduled backups ----------------------------------------------------------------------------------


def scheduled_settings(tmp_path: Path, **env: str) -> Settings:
    return load_settings({"AFTERGLOW_VAR_DIR": str(tmp_path / "var"), "AFTERGLOW_SECRET_KEY": SECRET, **env})


@pytest.fixture
def migrated(tmp_path: Path) -> Path:
    path = tmp_path / "var" / "afterglow.db"
    with closing(connect_sync(path)) as conn:
        apply_migrations(conn)
    return path


def run_passes(settings: Settings, clock: FrozenClock, steps: list[timedelta]) -> list[Path | None]:
    """One pass of the schedule after each clock step, through the server's own Database."""

    async def passes() -> list[Path | None]:
        db = Database(settings.database_path, readers=1)
        await db.open()
        try:
            taken = []
            for step in steps:
                clock.moment += step
                taken.append(await take_scheduled_backup(db, settings, clock))
            return taken
        finally:
            await db.close()

    return asyncio.run(passes())


def test_one_scheduled_backup_per_interval_and_only_the_newest_are_kept(tmp_path: Path, migrated: Path) -> None:
    settings = scheduled_settings(tmp_path, AFTERGLOW_BACKUP_KEEP="3")
    clock = FrozenClock(datetime(2026, 11, 21, 3, 0, tzinfo=UTC))
    settings.backup_dir.mkdir(parents=True)
    bystanders = [settings.backup_dir / "afterglow-manual.db", settings.backup_dir / "README.txt"]
    for path in bystanders:
        path.write_text("the operator's own")

    zero, hour, day = timedelta(0), timedelta(hours=1), timedelta(days=1)
    taken = run_passes(settings, clock, [zero, zero, hour, day, day, 5 * hour, day, day])

    assert [p.name if p else None for p in taken] == [
        "afterglow-20261121T030000Z.db",
        None,  # the same moment again
        None,  # later the same day: the same interval
        "afterglow-20261122T040000Z.db",
        "afterglow-20261123T040000Z.db",
        None,
        "afterglow-20261124T090000Z.db",
        "afterglow-20261125T090000Z.db",
    ]
    assert sorted(p.name for p in settings.backup_dir.iterdir() if p not in bystanders) == [
        "afterglow-20261123T040000Z.db",
        "afterglow-20261124T090000Z.db",
        "afterglow-20261125T090000Z.db",
    ]
    assert all(p.read_text() == "the operator's own" for p in bystanders)
    newest = settings.backup_dir / "afterglow-20261125T090000Z.db"
    assert sql(newest, "PRAGMA integrity_check") == [("ok",)]
    runs = sql(migrated, "SELECT slot, file_name, size_bytes, error FROM backup_runs ORDER BY slot")
    assert [(r[0], r[1], r[3]) for r in runs] == [
        ("2026-11-21T00:00:00.000000Z", "afterglow-20261121T030000Z.db", None),
        ("2026-11-22T00:00:00.000000Z", "afterglow-20261122T040000Z.db", None),
        ("2026-11-23T00:00:00.000000Z", "afterglow-20261123T040000Z.db", None),
        ("2026-11-24T00:00:00.000000Z", "afterglow-20261124T090000Z.db", None),
        ("2026-11-25T00:00:00.000000Z", "afterglow-20261125T090000Z.db", None),
    ]
    assert runs[-1][2] == newest.stat().st_size


def test_an_interval_of_zero_turns_scheduled_backups_off(tmp_path: Path, migrated: Path) -> None:
    settings = scheduled_settings(tmp_path, AFTERGLOW_BACKUP_INTERVAL_HOURS="0")

    assert run_passes(settings, FrozenClock(), [timedelta(0), timedelta(days=1)]) == [None, None]
    assert not settings.backup_dir.exists()
    assert sql(migrated, "SELECT count(*) FROM backup_runs") == [(0,)]

    # The server's task returns at once instead of looping until shutdown.
    state = State({"settings": settings, "db": None, "clock": FrozenClock()})
    asyncio.run(asyncio.wait_for(run_scheduled(state), timeout=10))


RACER = """
import asyncio, sys, time
from datetime import datetime, timedelta, UTC
from pathlib import Path
from server.backup import take_scheduled_backup
from server.db import Database
from server.settings import load_settings

var_dir, go = Path(sys.argv[1]), Path(sys.argv[2])

class At:
    def __init__(self, moment): self.moment = moment
    def now(self): return self.moment

async def main():
    settings = load_settings({"AFTERGLOW_VAR_DIR": str(var_dir), "AFTERGLOW_SECRET_KEY": "b" * 48,
                              "AFTERGLOW_BACKUP_KEEP": "1000"})
    db = Database(settings.database_path, readers=1)
    await db.open()
    deadline = time.monotonic() + 60
    while not go.exists() and time.monotonic() < deadline:  # start together
        await asyncio.sleep(0.005)
    start = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)
    for day in range(int(sys.argv[3])):
        # Both processes see the same moments, as two workers on one machine would.
        taken = await take_scheduled_backup(db, settings, At(start + timedelta(days=day)))
        if taken:
            print(taken.name, flush=True)
    await db.close()

asyncio.run(main())
"""


def test_two_processes_running_the_schedule_take_each_backup_once(tmp_path: Path, migrated: Path) -> None:
    days = 12
    go = tmp_path / "go"
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(tmp_path / "var"), str(go), str(days)],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    go.touch()  # both racers poll for this file, so they start their passes together
    outputs = [racer.communicate(timeout=120) for racer in racers]

    for racer, (_, err) in zip(racers, outputs, strict=True):
        assert racer.returncode == 0, err
    taken = [name for out, _ in outputs for name in out.split()]
    assert sorted(taken) == [taken_name(day) for day in range(days)]  # each day once, whoever took it
    assert sorted(p.name for p in (tmp_path / "var" / "backups").iterdir()) == sorted(taken)
    assert sql(migrated, "SELECT count(*) FROM backup_runs WHERE finished_at IS NOT NULL") == [(days,)]


def taken_name(day: int) -> str:
    moment = datetime(2026, 11, 21, 6, 0, tzinfo=UTC) + timedelta(days=day)
    return f"afterglow-{moment.strftime('%Y%m%dT%H%M%SZ')}.db"


# --- settings -------------------------------------------------------------------------------------------


def test_backup_settings_have_defaults(tmp_path: Path) -> None:
    settings = scheduled_settings(tmp_path)

    assert settings.backup_dir == tmp_path / "var" / "backups"
    assert settings.backup_interval_hours == 24
    assert settings.backup_keep == 14


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AFTERGLOW_BACKUP_INTERVAL_HOURS", "daily"),
        ("AFTERGLOW_BACKUP_INTERVAL_HOURS", "-1"),
        ("AFTERGLOW_BACKUP_INTERVAL_HOURS", "nan"),
        ("AFTERGLOW_BACKUP_INTERVAL_HOURS", "inf"),
        ("AFTERGLOW_BACKUP_INTERVAL_HOURS", "0.001"),
        ("AFTERGLOW_BACKUP_KEEP", "0"),
        ("AFTERGLOW_BACKUP_KEEP", "two"),
        ("AFTERGLOW_BACKUP_KEEP", "1.5"),
        ("AFTERGLOW_BACKUP_DIR", ""),
    ],
)
def test_an_invalid_backup_setting_names_its_variable(tmp_path: Path, variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        scheduled_settings(tmp_path, **{variable: value})
