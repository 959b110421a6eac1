"""Backups: a consistent copy of the live database, checked, restored safely, and taken on a schedule.

- ``backup_database`` copies with SQLite's online backup API, which reads one consistent snapshot while the
  server keeps writing, then runs ``PRAGMA integrity_check`` on the copy. The copy is written to a temporary
  file and hard-linked into place only once it has passed, so a file with a backup's name is always a
  complete, checked backup, and an existing file is never overwritten.
- ``restore_database`` checks a backup (integrity, that it is an Afterglow database, not from a newer
  version) in a temporary copy beside the live file, brings it up to date with the migrations, then
  replaces the live file by an atomic rename. It refuses while the database is in use.
- ``take_scheduled_backup`` is one pass of the schedule (the server runs it from ``run_scheduled``). Every
  worker process runs the schedule; a row in ``backup_runs`` claims each interval, so only one of them
  takes each backup.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import sqlite3
import stat
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from server.clock import Clock, iso
from server.db import (
    BUSY_TIMEOUT_MS,
    Database,
    MigrationError,
    apply_migrations,
    check_migrations,
    connect_sync,
    load_migrations,
)
from server.settings import Settings

if TYPE_CHECKING:  # litestar is slow to import, and the command line needs none of it
    from litestar.datastructures import State

log = logging.getLogger("afterglow.backup")

# Scheduled backups are named by their UTC time; the fixed width makes name order the same as time order.
BACKUP_NAME = re.compile(r"^afterglow-(\d{8}T\d{6}Z)\.db$")
PARTIAL_NAME = re.compile(r"^\.afterglow-\d{8}T\d{6}Z\.db\.partial-[0-9a-f]+$")
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
SQLITE_HEADER = b"SQLite format 3\x00"
# Let start-up settle before the first scheduled pass. It also means the many short-lived apps the test
# suite starts never take one.
FIRST_PASS_DELAY_SECONDS = 60.0
# Wake at least this often, so a clock that jumps (suspend, NTP) delays a backup by minutes, not hours.
MAX_SLEEP_SECONDS = 900.0
STALE_PARTIAL_SECONDS = 3600
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class BackupError(Exception):
    """A backup or restore was refused or failed; the message says why, in one line, for the operator."""


class BackupInfo(msgspec.Struct, frozen=True, kw_only=True):
    path: Path
    size_bytes: int
    schema_version: int  # the newest migration recorded in the copy
    tables: int
    seconds: float


class RestoreInfo(msgspec.Struct, frozen=True, kw_only=True):
    schema_version: int
    migrations_applied: list[str]  # migrations newer than the backup, applied to the restored copy
    replaced_kept_at: Path | None  # the database that was replaced, kept under another name


# --- taking a backup ------------------------------------------------------------------------------------


def backup_database(source: Path, target: Path) -> BackupInfo:
    """Copy the database at ``source`` to the new file ``target``, check the copy, and publish it."""
    started = time.monotonic()
    if not source.is_file():
        raise BackupError(f"there is no database at {source} (check AFTERGLOW_DATABASE)")
    if target.exists():
        raise BackupError(f"{target} already exists; choose a new file name")
    if not target.parent.is_dir():
        raise BackupError(f"the folder {target.parent} does not exist")
    temp = _new_private_file(target.parent, f".{target.name}.partial-{secrets.token_hex(4)}")
    try:
        version, tables = _copy_and_check(source, temp)
        _fsync_file(temp)
        _link_into_place(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    return BackupInfo(
        path=target,
        size_bytes=target.stat().st_size,
        schema_version=version,
        tables=tables,
        seconds=time.monotonic() - started,
    )


def _copy_and_check(source: Path, temp: Path) -> tuple[int, int]:
    try:
        with closing(_open_source(source)) as src, closing(sqlite3.connect(temp, isolation_level=None)) as copy:
            # One step (pages=-1) holds one read snapshot for the whole copy: consistent even while the
            # server writes, and WAL readers never block its writers.
            src.backup(copy)
            # The copy is in WAL mode like its source; make it one self-contained file with no -wal beside it.
            copy.execute("PRAGMA journal_mode=DELETE")
            _require_intact(copy, what=f"the copy of {source}")
            return _describe(copy)
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"cannot copy {source}: {exc}") from None


def _open_source(path: Path) -> sqlite3.Connection:
    """A connection that cannot write (query_only) but, unlike mode=ro, cleans up -wal/-shm on close."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    conn.execute("PRAGMA query_only=ON")
    return conn


def _require_intact(conn: sqlite3.Connection, *, what: str) -> None:
    problems = [row[0] for row in conn.execute("PRAGMA integrity_check(5)")]
    if problems != ["ok"]:
        found = "; ".join(problems).replace("\n", "; ")  # one line for the operator
        raise BackupError(f"{what} failed its integrity check: {found}")


def _describe(conn: sqlite3.Connection) -> tuple[int, int]:
    """(newest migration version, number of tables) of an Afterglow database."""
    tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").fetchone():
        return 0, tables
    version = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]
    return int(version), int(tables)


# --- restoring ------------------------------------------------------------------------------------------


def restore_database(backup: Path, live: Path, *, force: bool) -> RestoreInfo:
    """Replace the database at ``live`` with the backup at ``backup``.

    Every check runs on a temporary copy beside ``live`` before anything is replaced, so a refused or
    failed restore leaves the live database as it was.
    """
    if not backup.is_file():
        raise BackupError(f"{backup} does not exist")
    if live.exists() and backup.resolve() == live.resolve():
        raise BackupError(f"{backup} is the live database itself")
    if live.exists() and not force:
        raise BackupError(f"{live} exists; stop the server and add --force to replace it")
    if not _has_sqlite_header(backup):
        raise BackupError(f"{backup} is not an SQLite database")
    live.parent.mkdir(parents=True, exist_ok=True)
    temp = _new_private_file(live.parent, f".{live.name}.restore-{secrets.token_hex(4)}")
    try:
        version, applied = _prepare_copy(backup, temp)
        if live.exists():
            _take_owner_and_mode(temp, live)
        _fsync_file(temp)
        kept = _retire(live) if live.exists() else None
        # Never leave the old file's -wal beside the new one: SQLite would replay it onto the restored file.
        _remove_companions(live)
        os.replace(temp, live)
        _fsync_dir(live.parent)
    finally:
        temp.unlink(missing_ok=True)
        _remove_companions(temp)
    return RestoreInfo(schema_version=version, migrations_applied=applied, replaced_kept_at=kept)


def _prepare_copy(backup: Path, temp: Path) -> tuple[int, list[str]]:
    """Copy ``backup`` into ``temp``, check it, and apply the migrations it lacks. Returns (version, applied)."""
    try:
        with (
            closing(sqlite3.connect(backup.resolve().as_uri() + "?mode=ro", uri=True)) as src,
            closing(sqlite3.connect(temp, isolation_level=None)) as copy,
        ):
            src.backup(copy)
            _require_intact(copy, what=str(backup))
            if _describe(copy)[0] == 0:
                raise BackupError(f"{backup} is not an Afterglow database (it has no schema_migrations table)")
        # Migrate the way start-up would (same connection settings), so an older backup arrives up to date.
        with closing(connect_sync(temp)) as conn:
            try:
                check_migrations(conn, load_migrations())
                applied = apply_migrations(conn)
            except MigrationError as exc:
                raise BackupError(f"{backup} cannot be restored by this version of Afterglow: {exc}") from None
            conn.execute("PRAGMA journal_mode=DELETE")  # fold the -wal into the file before it is renamed
            return _describe(conn)[0], applied
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{backup} cannot be read as a database: {exc}") from None


def _retire(live: Path) -> Path | None:
    """Make sure nothing uses the live database, fold its -wal into it, and keep it under another name.

    Leaving WAL mode needs the only connection to the file. Every running server holds connections
    open for its whole life, so "database is locked" here means a server (or a backup) is using it.
    """
    try:
        with closing(sqlite3.connect(live, isolation_level=None, timeout=0)) as conn:
            conn.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise BackupError(f"{live} is in use (is the server running?); stop it, then restore") from None
        log.warning("the database being replaced could not be read (%s); replacing it anyway", exc)
    except sqlite3.DatabaseError as exc:  # not a database at all: --force asked to replace it regardless
        log.warning("the database being replaced could not be read (%s); replacing it anyway", exc)
    kept = live.with_name(f"{live.name}.before-restore-{datetime.now(UTC).strftime(STAMP_FORMAT)}")
    try:
        os.link(live, kept)  # a second name for the old file: no copy, and never overwrites
    except FileExistsError:
        return None  # two restores within one second: the first one's kept copy stays
    return kept


def _take_owner_and_mode(path: Path, like: Path) -> None:
    """Give the restored file the replaced one's owner and mode, so the server's user can still open it
    when an operator restores as root."""
    old = like.stat()
    os.chmod(path, stat.S_IMODE(old.st_mode))
    if (old.st_uid, old.st_gid) != (os.getuid(), os.getgid()):
        try:
            os.chown(path, old.st_uid, old.st_gid)
        except PermissionError:
            log.warning("could not give %s the owner of %s; check who may open it", path, like)


def _remove_companions(path: Path) -> None:
    for suffix in ("-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def _has_sqlite_header(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(len(SQLITE_HEADER)) == SQLITE_HEADER


# --- files ----------------------------------------------------------------------------------------------


def _new_private_file(directory: Path, name: str) -> Path:
    """An empty file readable only by us: backups hold patients' records. (An empty file is an empty database.)"""
    path = directory / name
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return path


def _link_into_place(temp: Path, target: Path) -> None:
    try:
        os.link(temp, target)  # atomic, and fails rather than overwrite
    except FileExistsError:
        raise BackupError(f"{target} already exists; choose a new file name") from None
    _fsync_dir(target.parent)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    """Make a rename or a new name itself durable (the directory entry, not only the file's data)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- scheduled backups ----------------------------------------------------------------------------------


def backup_file_name(moment: datetime) -> str:
    return f"afterglow-{moment.astimezone(UTC).strftime(STAMP_FORMAT)}.db"


def slot_start(now: datetime, interval: timedelta) -> datetime:
    """The start of the interval ``now`` falls in, counted from the Unix epoch (so daily = UTC midnight)."""
    return EPOCH + ((now - EPOCH) // interval) * interval


async def take_scheduled_backup(db: Database, settings: Settings, clock: Clock) -> Path | None:
    """One pass of the schedule: take this interval's backup unless another process already has.

    Returns the new file, or None when backups are off or this interval's backup is already taken.
    """
    if settings.backup_interval_hours <= 0:
        return None
    now = clock.now()
    slot = iso(slot_start(now, timedelta(hours=settings.backup_interval_hours)))
    if not await _claim(db, slot, iso(now)):
        return None
    target = settings.backup_dir / backup_file_name(now)
    try:
        info = await asyncio.to_thread(_scheduled_copy, settings, target)
    except Exception as exc:
        await _finish(db, slot, clock, file_name=None, size=None, error=str(exc)[:500])
        raise
    await _finish(db, slot, clock, file_name=target.name, size=info.size_bytes, error=None)
    await asyncio.to_thread(prune, settings.backup_dir, settings.backup_keep)
    return target


async def _claim(db: Database, slot: str, now: str) -> bool:
    # Worker processes race here; BEGIN IMMEDIATE serialises them and the primary key lets one row in.
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "INSERT INTO backup_runs (slot, started_at) VALUES (?, ?) ON CONFLICT (slot) DO NOTHING", (slot, now)
        )
        return cursor.rowcount == 1


async def _finish(
    db: Database, slot: str, clock: Clock, *, file_name: str | None, size: int | None, error: str | None
) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE backup_runs SET finished_at = ?, file_name = ?, size_bytes = ?, error = ? WHERE slot = ?",
            (iso(clock.now()), file_name, size, error, slot),
        )


def _scheduled_copy(settings: Settings, target: Path) -> BackupInfo:
    settings.backup_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    return backup_database(settings.database_path, target)


def prune(directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` scheduled backups, and temporary files left by a crash.

    Only names this module writes are touched: anything else an operator puts in the folder stays.
    """
    backups = sorted(p for p in directory.iterdir() if BACKUP_NAME.match(p.name))
    doomed = backups[:-keep] if keep > 0 else backups
    # A temporary file untouched for an hour and older than the newest finished backup belongs to a pass
    # that died part-way (a live one is being written, or is younger than the backup that just finished).
    cutoff = min(backups[-1].stat().st_mtime, time.time() - STALE_PARTIAL_SECONDS) if backups else None
    doomed += [p for p in directory.iterdir() if PARTIAL_NAME.match(p.name) and cutoff and p.stat().st_mtime < cutoff]
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


def _seconds_to_next_slot(now: datetime, interval: timedelta) -> float:
    wait = (slot_start(now, interval) + interval - now).total_seconds()
    return min(max(wait, 1.0), MAX_SLEEP_SECONDS)


async def run_scheduled(state: State) -> None:
    """Run until cancelled (by the app's lifespan), taking one backup per interval across all workers."""
    settings: Settings = state.settings
    if settings.backup_interval_hours <= 0:
        return
    interval = timedelta(hours=settings.backup_interval_hours)
    await asyncio.sleep(FIRST_PASS_DELAY_SECONDS)
    while True:
        try:
            path = await take_scheduled_backup(state.db, settings, state.clock)
            if path is not None:
                log.info("scheduled backup written to %s", path)
        except Exception:
            # A failed backup must not take the journal down with it; the next interval tries again.
            log.exception("scheduled backup failed")
        await asyncio.sleep(_seconds_to_next_slot(state.clock.now(), interval))
