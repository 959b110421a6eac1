"""SQLite access: one writer connection behind a lock, a few reader connections, and migrations.

Every connection runs in WAL mode with ``synchronous=FULL``: a health journal acknowledges a write only
once it would survive a power cut. Write transactions start with ``BEGIN IMMEDIATE`` because a deferred
transaction that later upgrades gets SQLITE_BUSY at once, ignoring ``busy_timeout``.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
BUSY_TIMEOUT_MS = 10_000
PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
    # Deleted rows are overwritten, not just unlinked: a deleted entry or an erased patient is gone from
    # the file, not waiting in a free page for someone with a hex editor.
    "PRAGMA secure_delete=ON",
)

Params = Sequence[Any] | dict[str, Any]


class MigrationError(Exception):
    """The database and the migration files disagree; start-up must stop."""


def connect_sync(path: Path) -> sqlite3.Connection:
    """A plain connection for the command line and migrations, with the same pragmas as the server's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    for pragma in PRAGMAS:
        conn.execute(pragma)
    return conn


class Database:
    def __init__(self, path: Path, *, readers: int = 3) -> None:
        self.path = path
        self._reader_count = readers
        self._writer: aiosqlite.Connection | None = None
        self._readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._all_readers: list[aiosqlite.Connection] = []
        self._write_lock = asyncio.Lock()

    async def open(self) -> None:
        self._writer = await self._connect(read_only=False)
        for _ in range(self._reader_count):
            conn = await self._connect(read_only=True)
            self._all_readers.append(conn)
            self._readers.put_nowait(conn)

    async def close(self) -> None:
        # aiosqlite runs a non-daemon thread per connection: an unclosed one keeps the process alive.
        for conn in [*self._all_readers, *([self._writer] if self._writer else [])]:
            await conn.close()
        self._all_readers.clear()
        self._writer = None

    async def _connect(self, *, read_only: bool) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        for pragma in PRAGMAS:
            await conn.execute(pragma)
        if read_only:
            await conn.execute("PRAGMA query_only=ON")
        return conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction at a time; rolled back on any exception, cancellation included."""
        assert self._writer is not None, "database is not open"
        conn = self._writer
        async with self._write_lock:
            await conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                await asyncio.shield(conn.execute("ROLLBACK"))
                raise
            await asyncio.shield(conn.execute("COMMIT"))

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[aiosqlite.Connection]:
        conn = await self._readers.get()
        try:
            yield conn
        finally:
            self._readers.put_nowait(conn)

    async def checkpoint(self) -> None:
        """Copy the WAL into the database and truncate it, so nothing lingers in the -wal file."""
        assert self._writer is not None, "database is not open"
        async with self._write_lock:
            await self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    async def fetch_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        async with self.reader() as conn, conn.execute(sql, params) as cursor:
            row: sqlite3.Row | None = await cursor.fetchone()
            return row

    async def fetch_all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        async with self.reader() as conn, conn.execute(sql, params) as cursor:
            return list(await cursor.fetchall())


async def fetch_one(conn: aiosqlite.Connection, sql: str, params: Params = ()) -> sqlite3.Row | None:
    """Read inside an open write transaction (so the read sees the transaction's own writes)."""
    async with conn.execute(sql, params) as cursor:
        row: sqlite3.Row | None = await cursor.fetchone()
        return row


async def fetch_all(conn: aiosqlite.Connection, sql: str, params: Params = ()) -> list[sqlite3.Row]:
    async with conn.execute(sql, params) as cursor:
        return list(await cursor.fetchall())


# --- migrations -------------------------------------------------------------------------------------

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class Migration:
    def __init__(self, path: Path) -> None:
        match = _MIGRATION_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_description.sql")
        self.version = int(match.group(1))
        self.name = path.name
        self.sql = path.read_text(encoding="utf-8")
        self.checksum = hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    migrations = sorted((Migration(p) for p in directory.glob("*.sql")), key=lambda m: m.version)
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a number")
    return migrations


def _applied(conn: sqlite3.Connection) -> dict[int, sqlite3.Row]:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    rows = conn.execute("SELECT version, name, checksum FROM schema_migrations").fetchall()
    return {row["version"]: row for row in rows}


def check_migrations(conn: sqlite3.Connection, migrations: Iterable[Migration]) -> list[Migration]:
    """Return the migrations still to apply; refuse an edited file or a database newer than the code."""
    applied = _applied(conn)
    known = {m.version: m for m in migrations}
    newer = sorted(v for v in applied if v not in known)
    if newer:
        raise MigrationError(
            f"the database has migration {applied[newer[0]]['name']} which this code does not know: "
            "it was written by a newer version of Afterglow"
        )
    for version, row in applied.items():
        if row["checksum"] != known[version].checksum:
            raise MigrationError(
                f"migration {row['name']} was edited after it was applied; "
                "restore the original file and add a new migration instead"
            )
    return [m for v, m in sorted(known.items()) if v not in applied]


def apply_migrations(conn: sqlite3.Connection, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations, each in its own transaction. Returns the names applied.

    Several worker processes may start at once: each migration re-checks, inside its ``BEGIN IMMEDIATE``,
    that no other process applied it first.
    """
    pending = check_migrations(conn, load_migrations(directory))
    done = []
    for migration in pending:
        try:
            conn.execute("BEGIN IMMEDIATE")
            if migration.version in _applied(conn):
                conn.execute("ROLLBACK")
                continue
            for statement in _split_statements(migration.sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)",
                (migration.version, migration.name, migration.checksum, datetime.now(UTC).isoformat()),
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        done.append(migration.name)
    return done


def _split_statements(sql: str) -> list[str]:
    """Split a script into complete statements (trigger bodies included) using SQLite's own parser."""
    statements, current = [], ""
    for line in sql.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                statements.append(current.strip())
            current = ""
    leftover = [ln for ln in current.splitlines() if ln.strip() and not ln.strip().startswith("--")]
    if leftover:
        raise MigrationError("migration ends in the middle of a statement")
    return statements
