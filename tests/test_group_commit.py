"""Group commit (server/db.py ``Database.write``): writes queued together share one COMMIT, a refused write
fails alone, and a write that fails after changing rows takes its whole batch down with it, never half.

Every test runs with both writers: the writer's thread (tests, the command line) and the writer process
(``afterglow serve``, server/writer_process.py). The writes are module-level functions, as the process
needs, and hold or signal each other through files, which both a thread and a process can see."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from server.db import Database, WriteNotUndone

pytestmark = pytest.mark.parametrize("writer_process", [False, True], ids=["thread", "process"])


def _stored(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [row[0] for row in conn.execute("SELECT name FROM items ORDER BY name")]
    finally:
        conn.close()


async def _open(path: Path, writer_process: bool, *, readers: int = 1) -> Database:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE items (name TEXT PRIMARY KEY, size INTEGER CHECK (size >= 0))")
    conn.close()
    db = Database(path, readers=readers, writer_process=writer_process)
    await db.open()
    return db


def _insert(conn: sqlite3.Connection, name: str, size: int = 1) -> str:
    conn.execute("SELECT count(*) FROM items").fetchone()  # a read first, as the journal's writes do
    conn.execute("INSERT INTO items (name, size) VALUES (?, ?)", (name, size)).close()
    return name


def _insert_then_fail(conn: sqlite3.Connection, name: str) -> str:
    conn.execute("INSERT INTO items (name, size) VALUES (?, 1)", (name,)).close()
    raise ValueError("failed after changing a row")


def wait_for(path: Path, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


def _held(conn: sqlite3.Connection, name: str, running: Path, release: Path) -> str:
    """Says it is running, waits to be let go, then inserts: a write the test holds on the writer."""
    running.touch()
    wait_for(release)
    return _insert(conn, name)


def _insert_and_signal(conn: sqlite3.Connection, name: str, ran: Path) -> str:
    _insert(conn, name)
    ran.touch()
    return name


def test_writes_queued_together_share_a_commit_and_a_refused_one_fails_alone(
    tmp_path: Path, writer_process: bool
) -> None:
    path = tmp_path / "g.db"

    async def scenario() -> list[object]:
        db = await _open(path, writer_process)
        try:
            results = await asyncio.gather(
                db.write(_insert, "a"),
                db.write(_insert, "b", -1),  # refused by the CHECK: the statement changes nothing
                db.write(_insert, "c"),
                return_exceptions=True,
            )
            assert db.commits == 1 and db.committed == 2
            return results
        finally:
            await db.close()

    a, refused, c = asyncio.run(scenario())
    assert (a, c) == ("a", "c")
    assert isinstance(refused, sqlite3.IntegrityError)
    assert _stored(path) == ["a", "c"]


def test_a_write_that_fails_after_changing_rows_fails_its_whole_batch(tmp_path: Path, writer_process: bool) -> None:
    path = tmp_path / "g.db"
    running, release = tmp_path / "running", tmp_path / "release"

    async def scenario() -> list[object]:
        db = await _open(path, writer_process)
        try:
            # The three writes queue up behind a first one held on the writer, so they make one batch.
            first = asyncio.create_task(db.write(_held, "before", running, release))
            assert await asyncio.to_thread(wait_for, running)
            batch = [
                asyncio.create_task(db.write(_insert, "a")),
                asyncio.create_task(db.write(_insert_then_fail, "half")),
                asyncio.create_task(db.write(_insert, "c")),
            ]
            for _ in range(3):  # each task runs to its first wait: its write queued or sent
                await asyncio.sleep(0)
            release.touch()
            assert await first == "before"
            results = await asyncio.gather(*batch, return_exceptions=True)
            # The writer is usable again at once.
            assert await db.write(_insert, "after") == "after"
            return results
        finally:
            await db.close()

    results = asyncio.run(scenario())
    assert all(isinstance(r, WriteNotUndone) for r in results), results
    assert _stored(path) == ["after", "before"]


def test_a_failed_write_raises_its_own_error(tmp_path: Path, writer_process: bool) -> None:
    path = tmp_path / "g.db"

    async def scenario() -> None:
        db = await _open(path, writer_process)
        try:
            await db.write(_insert, "a")
            with pytest.raises(sqlite3.IntegrityError):
                await db.write(_insert, "a")  # the primary key refuses it
        finally:
            await db.close()

    asyncio.run(scenario())
    assert _stored(path) == ["a"]


def test_the_writer_takes_writes_queued_during_a_commit_without_the_event_loop(
    tmp_path: Path, writer_process: bool
) -> None:
    """The event loop is not on the path between two batches: while it is busy (here: blocked outright), the
    writer starts on the writes that queued up during the batch before."""
    path = tmp_path / "g.db"
    running, release, later_ran = tmp_path / "running", tmp_path / "release", tmp_path / "later-ran"

    async def scenario() -> tuple[str, str, bool]:
        db = await _open(path, writer_process)
        try:
            first_task = asyncio.create_task(db.write(_held, "first", running, release))
            assert await asyncio.to_thread(wait_for, running)
            later_task = asyncio.create_task(db.write(_insert_and_signal, "later", later_ran))
            for _ in range(2):  # the second write is handed over while the first batch runs (queued, or sent)
                await asyncio.sleep(0)
            release.touch()
            ran_while_loop_blocked = wait_for(later_ran)  # blocks the event loop's thread
            return await first_task, await later_task, ran_while_loop_blocked
        finally:
            await db.close()

    assert asyncio.run(scenario()) == ("first", "later", True)
    assert _stored(path) == ["first", "later"]


def test_a_transaction_waiting_for_the_writer_gets_in_between_streaming_writes(
    tmp_path: Path, writer_process: bool
) -> None:
    """Writes keep streaming in, but a transaction() queued for the writer is let in before the writes that
    came after it, not after every write that keeps coming. The writer's thread stops for it between two
    batches; the writer process answers what it was already sent, and is sent nothing more until then."""
    path = tmp_path / "g.db"
    running, release = tmp_path / "running", tmp_path / "release"

    async def in_transaction(db: Database) -> str:
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO items (name, size) VALUES ('tx', 1)")
        return "tx"

    async def scenario() -> list[object]:
        db = await _open(path, writer_process)
        try:
            first_task = asyncio.create_task(db.write(_held, "first", running, release))
            assert await asyncio.to_thread(wait_for, running)
            before = [asyncio.create_task(db.write(_insert, f"w{i:02}")) for i in range(20)]
            transaction = asyncio.create_task(in_transaction(db))
            after = [asyncio.create_task(db.write(_insert, f"w{i:02}")) for i in range(20, 40)]
            for _ in range(3):  # each task runs to its first wait: a write queued, or the lock waited for
                await asyncio.sleep(0)
            release.touch()
            return await asyncio.gather(first_task, *before, transaction, *after)
        finally:
            await db.close()

    results = asyncio.run(scenario())
    assert results == ["first", *(f"w{i:02}" for i in range(20)), "tx", *(f"w{i:02}" for i in range(20, 40))]
    conn = sqlite3.connect(path)
    try:
        in_commit_order = [name for (name,) in conn.execute("SELECT name FROM items ORDER BY rowid")]
    finally:
        conn.close()
    assert in_commit_order.index("tx") < min(in_commit_order.index(f"w{i:02}") for i in range(20, 40))
    if not writer_process:  # the thread had not started on the writes queued behind the first one
        assert in_commit_order[:2] == ["first", "tx"], in_commit_order


def test_writes_queued_when_the_database_closes_are_committed_first(tmp_path: Path, writer_process: bool) -> None:
    """A shutdown (the lifespan closing the database) lets every write already handed in reach its COMMIT:
    none is dropped, none is left waiting for an answer."""
    path = tmp_path / "g.db"
    names = [f"w{i:02}" for i in range(30)]

    async def scenario() -> list[str]:
        db = await _open(path, writer_process, readers=0)  # no reader to close first: the close comes at once
        writes = [asyncio.create_task(db.write(_insert, name)) for name in names]
        await asyncio.sleep(0)  # every write is queued; none has reached the writer yet
        await db.close()
        return list(await asyncio.wait_for(asyncio.gather(*writes), 10))

    assert asyncio.run(scenario()) == names
    assert _stored(path) == names
