"""SQLite access: one writer connection behind a lock, a few reader connections, and migrations.

Every connection runs in WAL mode with ``synchronous=FULL``: a health journal acknowledges a write only
once it would survive a power cut. Write transactions start with ``BEGIN IMMEDIATE`` because a deferred
transaction that later upgrades gets SQLITE_BUSY at once, ignoring ``busy_timeout``.

Group commit: each ``transaction()`` runs inside a savepoint of a batch transaction on the one writer
connection. Bodies still run one at a time (the lock), but while others are queued behind the lock the
batch stays open, and the last of them commits it: one ``COMMIT`` (one fsync) for all of them. No
``transaction()`` returns before the ``COMMIT`` that holds its writes has succeeded; if that fails, every
member of the batch gets the error. A body that raises rolls back to its own savepoint only, so the other
members of the batch keep their writes.

Each ``await`` on aiosqlite is a hop to the connection's thread and back: ``BEGIN``/``SAVEPOINT`` ride
along with a transaction's first statement, ``fetch_one``/``fetch_all`` are one hop each, and
``Connection.run`` runs several statements in one hop.

The hot writes (``write``: a check-in, a session touched, a clinician's read audited) are whole functions.
Under ``afterglow serve`` they run in a writer process (server/writer_process.py), whose GIL is its own;
elsewhere, and if that process ever dies, on the writer connection's thread. Either way one write lock
(``_write_lock``) keeps them and ``transaction()`` apart, so only one of them is ever in a transaction.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from server.writer_process import WriterProcess, bound_write

log = logging.getLogger("afterglow.db")
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
BUSY_TIMEOUT_MS = 10_000
INLINE_BUSY_TIMEOUT_MS = 20
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
# A stored row as read on a connection, or as it comes back from the writer process (a dict).
Row = sqlite3.Row | Mapping[str, Any]
T = TypeVar("T")


class MigrationError(Exception):
    """The database and the migration files disagree; start-up must stop."""


def _configure(conn: sqlite3.Connection, *, read_only: bool = False) -> None:
    """The pragmas every connection runs with, the server's, the inline reader's and the command line's."""
    for pragma in PRAGMAS:
        conn.execute(pragma)
    if read_only:
        conn.execute("PRAGMA query_only=ON")


def connect_sync(path: Path) -> sqlite3.Connection:
    """A plain connection for the command line and migrations, with the same pragmas as the server's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    _configure(conn)
    return conn


# Queued transactions one COMMIT may carry: past this the batch commits even while more wait, so the first
# request of a long queue is not held back without end.
MAX_BATCH = 64
_SAVEPOINT = "request"


class Connection(aiosqlite.Connection):
    """aiosqlite's connection with two additions, both to save hops to the connection's thread:

    - statements queued in ``_prefix`` run in front of the next call, in the same hop (the transaction's
      ``BEGIN IMMEDIATE`` and ``SAVEPOINT`` ride along with its first statement); each one's callback runs
      once it has succeeded, so the caller knows how far it got;
    - ``run(fn)`` calls ``fn(sqlite3_connection)`` on the connection's thread: several statements, one hop.
    """

    def __init__(self, connector: Callable[[], sqlite3.Connection], iter_chunk_size: int = 64) -> None:
        super().__init__(connector, iter_chunk_size)
        self._prefix: list[tuple[str, Callable[[], None]]] = []

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._prefix:
            return await super()._execute(fn, *args, **kwargs)  # type: ignore[no-untyped-call]
        prefix, self._prefix = self._prefix, []
        conn = self._conn

        def with_prefix() -> Any:
            for sql, succeeded in prefix:
                conn.execute(sql)
                succeeded()
            return fn(*args, **kwargs)

        return await super()._execute(with_prefix)  # type: ignore[no-untyped-call]

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn(connection)`` on this connection's thread (it must not keep the connection)."""
        result: T = await self._execute(fn, self._conn)
        return result


def fetch_row(conn: sqlite3.Connection, sql: str, params: Params = ()) -> sqlite3.Row | None:
    """One row, on the connection's own thread (a function given to ``run`` or ``Database.write``)."""
    cursor = conn.execute(sql, params)
    try:
        row: sqlite3.Row | None = cursor.fetchone()
    finally:
        cursor.close()  # resets the statement (an UPDATE … RETURNING stays "in progress" until then)
    return row


def row_dict(row: sqlite3.Row) -> dict[str, Any]:
    return dict(zip(row.keys(), row, strict=True))


def _one(sql: str, params: Params) -> Callable[[sqlite3.Connection], sqlite3.Row | None]:
    return lambda conn: fetch_row(conn, sql, params)


def _all(sql: str, params: Params) -> Callable[[sqlite3.Connection], list[sqlite3.Row]]:
    def query(conn: sqlite3.Connection) -> list[sqlite3.Row]:
        return conn.execute(sql, params).fetchall()

    return query


def _rollback_savepoint(conn: sqlite3.Connection) -> None:
    conn.execute(f"ROLLBACK TO {_SAVEPOINT}")
    conn.execute(f"RELEASE {_SAVEPOINT}")


class WriteNotUndone(sqlite3.OperationalError):
    """A write failed after it had changed rows: they cannot be undone alone, so its whole batch fails."""


def run_writes(conn: sqlite3.Connection, fns: list[Callable[[sqlite3.Connection], Any]]) -> list[tuple[bool, Any]]:
    """On the writer (thread or process): the functions as one transaction, and each one's (ok, result or
    exception). If BEGIN or the COMMIT fails, or a write that changed rows, every one gets that error."""
    try:
        return _run_writes(conn, fns)
    except BaseException as exc:
        with contextlib.suppress(Exception):
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        error = exc if isinstance(exc, Exception) else sqlite3.OperationalError(str(exc))
        return [(False, error)] * len(fns)


def _run_writes(conn: sqlite3.Connection, fns: list[Callable[[sqlite3.Connection], Any]]) -> list[tuple[bool, Any]]:
    """On the writer's thread: one transaction holding each function in turn, then its COMMIT.

    No savepoint per function: SQLite undoes a failing statement by itself, and a savepoint per write cost
    more than the write (FTS5 flushes its pending terms at each one, a new index segment per check-in). A
    function that fails having changed nothing (its reads, then a refused statement) fails alone. One that
    fails after a statement changed rows has left changes nobody can undo on their own: the batch is
    rolled back whole (``WriteNotUndone``), every member told, nothing half-written committed.
    """
    conn.execute("BEGIN IMMEDIATE")
    outcomes: list[tuple[bool, Any]] = []
    for fn in fns:
        changes = conn.total_changes
        try:
            result = fn(conn)
        except Exception as exc:
            if conn.total_changes != changes:
                raise WriteNotUndone("a write failed after changing rows; its batch is rolled back") from exc
            if not conn.in_transaction:  # SQLite rolled the whole transaction back (I/O error, full disk)
                raise
            outcomes.append((False, exc))
        else:
            outcomes.append((True, result))
    # Nothing to keep if every function failed alone: no COMMIT, and no fsync.
    conn.execute("COMMIT" if any(ok for ok, _ in outcomes) else "ROLLBACK")
    return outcomes


class _Batch:
    """One write transaction on the writer connection, shared by the ``transaction()``s queued together."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.began = False  # BEGIN IMMEDIATE has succeeded (set on the writer's thread)
        self.members = 0  # transactions whose writes it holds, each waiting for the COMMIT
        self.done: asyncio.Future[None] = loop.create_future()

    def mark_began(self) -> None:
        self.began = True

    def settle(self, error: BaseException | None) -> None:
        if self.done.done():
            return
        if error is None:
            self.done.set_result(None)
            return
        if not isinstance(error, Exception):  # a Future cannot carry CancelledError and friends
            error = sqlite3.OperationalError(f"the commit was interrupted ({type(error).__name__})")
        self.done.set_exception(error)
        if self.members == 0:
            self.done.exception()  # nobody waits for it: mark it seen


class Database:
    def __init__(self, path: Path, *, readers: int = 3, writer_process: bool = False) -> None:
        self.path = path
        self._process = WriterProcess(path, self._count_commit) if writer_process else None
        self._streaming = False
        self._reader_count = readers
        self._writer: Connection | None = None
        self._readers: asyncio.Queue[Connection] = asyncio.Queue()
        self._all_readers: list[Connection] = []
        self._write_lock = asyncio.Lock()
        self._queued = 0  # tasks waiting for the write lock
        self._batch: _Batch | None = None
        # Set on the writer's thread as the prefix statements succeed.
        self._savepoint_open = False
        self._release_pending = False
        self._orphans: set[asyncio.Task[None]] = set()
        # Appended on the event loop, taken on the writer's thread (deque's append and popleft are atomic).
        self._pending: collections.deque[tuple[Callable[..., Any], tuple[Any, ...], asyncio.Future[Any]]] = (
            collections.deque()
        )
        self._inline: sqlite3.Connection | None = None
        self._drainer: asyncio.Task[None] | None = None
        # Group commit at work: transactions committed, and the COMMITs that carried them.
        self.committed = 0
        self.commits = 0

    @property
    def writer_pid(self) -> int | None:
        """The writer process's id, while there is one."""
        return self._process.pid if self._process is not None and self._process.alive else None

    async def open(self) -> None:
        if self._process is not None:
            await self._process.start()
        self._writer = await self._connect(read_only=False)
        self._inline = self._connect_inline()
        for _ in range(self._reader_count):
            conn = await self._connect(read_only=True)
            self._all_readers.append(conn)
            self._readers.put_nowait(conn)

    async def close(self) -> None:
        # Every write already handed in reaches its COMMIT before the connections go (the drainer starts
        # another of itself while writes remain).
        while self._drainer is not None and not self._drainer.done():
            with contextlib.suppress(Exception):  # its writes have their error; the connections must still close
                await self._drainer
        if self._writer is not None and self._batch is not None:
            await self._acquire()
            try:
                await self._end_batch()
            finally:
                self._write_lock.release()
        if self._process is not None:
            await self._process.close()
        # aiosqlite runs a non-daemon thread per connection: an unclosed one keeps the process alive.
        for conn in [*self._all_readers, *([self._writer] if self._writer else [])]:
            await conn.close()
        self._all_readers.clear()
        self._writer = None
        if self._inline is not None:
            self._inline.close()
            self._inline = None
        if self.commits:
            log.info("group commit: %d transactions in %d commits", self.committed, self.commits)

    async def _connect(self, *, read_only: bool) -> Connection:
        path = str(self.path)

        def connector() -> sqlite3.Connection:
            return sqlite3.connect(path, isolation_level=None)

        conn = Connection(connector)
        await conn  # starts its thread and connects
        conn.row_factory = sqlite3.Row

        await conn.run(lambda raw: _configure(raw, read_only=read_only))
        return conn

    # --- the writer: group commit ---------------------------------------------------------------------

    async def _acquire(self) -> None:
        self._queued += 1
        try:
            await self._write_lock.acquire()
        except BaseException:
            # A batch left open for us (we were queued) must still be committed by someone.
            if self._batch is not None and self._queued == 1 and not self._write_lock.locked():
                task = asyncio.get_running_loop().create_task(self._commit_orphan())
                self._orphans.add(task)
                task.add_done_callback(self._orphans.discard)
            raise
        finally:
            self._queued -= 1

    async def _commit_orphan(self) -> None:
        await self._acquire()
        try:
            await self._end_batch()
        finally:
            self._write_lock.release()

    def _mark_savepoint(self) -> None:
        self._savepoint_open = True

    def _mark_released(self) -> None:
        self._release_pending = False

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """A write transaction: rolled back on any exception, cancellation included, and committed (with
        the others queued behind the same lock) before this returns."""
        assert self._writer is not None, "database is not open"
        conn = self._writer
        await self._acquire()
        batch = self._batch
        if batch is None:
            batch = self._batch = _Batch(asyncio.get_running_loop())
        self._savepoint_open = False
        prefix = [] if batch.began else [("BEGIN IMMEDIATE", batch.mark_began)]
        if self._release_pending:
            prefix.append((f"RELEASE {_SAVEPOINT}", self._mark_released))
        conn._prefix = [*prefix, (f"SAVEPOINT {_SAVEPOINT}", self._mark_savepoint)]
        failed = True
        try:
            yield conn
            failed = False
        finally:
            # One shielded step: a cancellation cannot leave the lock held or the batch half-handled.
            joined = await asyncio.shield(self._leave(batch, failed=failed))
        if joined:
            await asyncio.shield(batch.done)  # raises if the COMMIT failed

    async def _leave(self, batch: _Batch, *, failed: bool) -> bool:
        """After a body: roll back its savepoint if it failed, commit the batch if nobody else is queued,
        release the lock. Returns whether the body's writes are in the batch (so it waits for the commit)."""
        assert self._writer is not None
        conn = self._writer
        joined = False
        try:
            conn._prefix = []
            if self._savepoint_open:
                self._savepoint_open = False
                if failed:
                    try:
                        await conn.run(_rollback_savepoint)
                    except BaseException as exc:
                        await self._abort(batch, exc)  # the batch is in an unknown state: nobody keeps it
                        return False
                else:
                    batch.members += 1
                    self._release_pending = True  # released in front of the next SAVEPOINT, or by COMMIT
                    joined = True
            if self._batch is batch and (self._queued == 0 or batch.members >= MAX_BATCH):
                await self._end_batch()
        finally:
            self._write_lock.release()
        return joined

    async def _end_batch(self) -> None:
        """Commit the open batch (the lock is held): every member learns the outcome through ``done``."""
        batch, self._batch = self._batch, None
        if batch is None:
            return
        self._release_pending = False
        assert self._writer is not None
        if not batch.began:
            batch.settle(None)
            return
        try:
            # Nothing to keep if every member rolled back: no COMMIT (and no fsync) for an empty batch.
            await self._writer.run(lambda c: c.execute("COMMIT" if batch.members else "ROLLBACK"))
        except BaseException as exc:
            await self._abort(batch, exc)
        else:
            self._count_commit(batch.members)
            batch.settle(None)

    def _count_commit(self, members: int) -> None:
        if members:  # a batch with nothing to keep was rolled back, not committed
            self.commits += 1
            self.committed += members

    async def _abort(self, batch: _Batch, error: BaseException) -> None:
        assert self._writer is not None
        if self._batch is batch:
            self._batch = None
        self._release_pending = False
        with contextlib.suppress(Exception):
            await self._writer.run(lambda c: c.execute("ROLLBACK") if c.in_transaction else None)
        batch.settle(error)

    # --- the writer: whole transactions in one hop ------------------------------------------------------

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(connection, *args)`` as one transaction on the writer, group-committed.

        For hot paths whose statements need no ``await`` between them. ``fn`` should change data in its
        last statement only (reads first): if it raises having changed nothing, it fails alone and its
        exception is raised here; if it raises after changing rows, its whole batch fails (``run_writes``).
        Its result is returned once the ``COMMIT`` that holds its writes has succeeded. ``fn`` must not keep
        the connection or await.

        With a writer process (``server.writer_process``), ``fn`` must be a module-level function, and its
        arguments and result must pickle (rows come back as dicts). While writes stream to the process the
        drainer holds the write lock, so a ``transaction()`` on our own connection never meets its open
        transaction; a ``transaction()`` that queues stops the stream, and gets in once the process has
        answered what it has.

        Without one, the writer's thread drains the queue itself (``_drain_on_writer``): while one batch
        commits, the writes that arrive queue up, and the thread starts on them the moment the COMMIT
        returns, without a round trip through the event loop in between.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if self._streaming and not self._queued and self._process is not None and self._process.alive:
            self._process.submit(fn, args, future)
        else:
            self._pending.append((fn, args, future))
            if self._drainer is None or self._drainer.done():
                self._drainer = loop.create_task(self._drain())
        result: T = await future  # cancelled before its turn: it never runs
        return result

    async def _drain(self) -> None:
        assert self._writer is not None, "database is not open"
        loop = asyncio.get_running_loop()
        await self._acquire()
        try:
            # A batch left open by transaction()s that were queued behind each other: commit it first, so
            # every batch the writer's thread starts below is its own.
            if self._batch is not None:
                await asyncio.shield(self._end_batch())
            while self._pending and not self._queued:
                if self._process is not None and self._process.alive:
                    await asyncio.shield(self._stream(self._process))
                else:
                    await asyncio.shield(self._writer.run(lambda conn: self._drain_on_writer(conn, loop)))
        finally:
            self._write_lock.release()
        if self._pending:  # left for transaction()s queued behind the lock: after them, the rest
            self._drainer = loop.create_task(self._drain())

    async def _stream(self, process: WriterProcess) -> None:
        """Send the queued writes to the writer process, and any that come while it works, until it has
        answered them all and nothing is queued (or a ``transaction()`` waits for the writer)."""
        self._streaming = True
        try:
            while True:
                while self._pending and not self._queued and process.alive:
                    fn, args, future = self._pending.popleft()
                    if not future.cancelled():
                        process.submit(fn, args, future)
                await process.idle()
                if not self._pending or self._queued or not process.alive:
                    return
        finally:
            self._streaming = False

    def _drain_on_writer(self, conn: sqlite3.Connection, loop: asyncio.AbstractEventLoop) -> None:
        """On the writer's thread: batch after batch of the queued writes, each committed, until the queue is
        empty or a ``transaction()`` waits for the writer (it is let in between two batches)."""
        while self._pending and not self._queued:
            items: list[tuple[Callable[..., Any], tuple[Any, ...], asyncio.Future[Any]]] = []
            while self._pending and len(items) < MAX_BATCH:
                fn, args, future = self._pending.popleft()
                if not future.cancelled():
                    items.append((fn, args, future))
            if not items:
                continue
            outcomes = run_writes(conn, [bound_write(fn, args) for fn, args, _ in items])
            loop.call_soon_threadsafe(self._settle_writes, [future for _, _, future in items], outcomes)

    def _settle_writes(self, futures: list[asyncio.Future[Any]], outcomes: list[tuple[bool, Any]]) -> None:
        """On the event loop, once a batch's COMMIT has returned: each write's result, or its error."""
        self._count_commit(sum(ok for ok, _ in outcomes))
        for future, (ok, value) in zip(futures, outcomes, strict=True):
            if future.done():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    # --- readers --------------------------------------------------------------------------------------

    def _connect_inline(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        _configure(conn, read_only=True)
        # Never wait on the event loop's thread: a busy database sends the lookup to a reader thread.
        conn.execute(f"PRAGMA busy_timeout={INLINE_BUSY_TIMEOUT_MS}")
        return conn

    async def lookup(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """One row by key, read on the event loop's own thread: for indexed point queries only.

        Such a query takes microseconds; a hop to a reader thread and back costs more than the query, twice
        the context switches, and a wait for the GIL. The session check of every request is one. If the
        database is busy (WAL recovery, a checkpoint resetting the log), the lookup goes to a reader thread.
        """
        if self._inline is None:
            return await self.fetch_one(sql, params)
        try:
            return _one(sql, params)(self._inline)
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            return await self.fetch_one(sql, params)

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[Connection]:
        conn = await self._readers.get()
        try:
            yield conn
        finally:
            self._readers.put_nowait(conn)

    async def checkpoint(self) -> None:
        """Copy the WAL into the database and truncate it, so nothing lingers in the -wal file."""
        assert self._writer is not None, "database is not open"
        await self._acquire()
        try:
            await asyncio.shield(self._end_batch())
            # Read to the end: a statement left in progress would stop the next SAVEPOINT.
            await self._writer.run(lambda c: c.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall())
        finally:
            self._write_lock.release()

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn(connection)`` on a reader's thread, in one read transaction: one hop for several queries
        (each hop is a thread switch and a wait for the GIL), and all of them see the same moment."""

        def in_transaction(conn: sqlite3.Connection) -> T:
            conn.execute("BEGIN")
            try:
                return fn(conn)
            finally:
                conn.execute("COMMIT")

        async with self.reader() as conn:
            return await conn.run(in_transaction)

    async def fetch_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        async with self.reader() as conn:
            return await conn.run(_one(sql, params))

    async def fetch_all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        async with self.reader() as conn:
            return await conn.run(_all(sql, params))


async def fetch_one(conn: aiosqlite.Connection, sql: str, params: Params = ()) -> sqlite3.Row | None:
    """Read inside an open write transaction (so the read sees the transaction's own writes)."""
    if isinstance(conn, Connection):
        return await conn.run(_one(sql, params))
    async with conn.execute(sql, params) as cursor:
        row: sqlite3.Row | None = await cursor.fetchone()
        return row


async def fetch_all(conn: aiosqlite.Connection, sql: str, params: Params = ()) -> list[sqlite3.Row]:
    if isinstance(conn, Connection):
        return await conn.run(_all(sql, params))
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
