"""Group commit (server/db.py ``Database.write``): writes queued together share one COMMIT, a refused write
fails alone, and a write that fails after changing rows takes its whole batch down with it, never half."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from server.db import Database, WriteNotUndone


def _stored(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [row[0] for row in conn.execute("SELECT name FROM items ORDER BY name")]
    finally:
        conn.close()


async def _open(path: Path) -> Database:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE items (name TEXT PRIMARY KEY, size INTEGER CHECK (size >= 0))")
    conn.close()
    db = Database(path, readers=1)
    await db.open()
    return db


def _insert(name: str, size: int = 1) -> Callable[[sqlite3.Connection], str]:
    def write(conn: sqlite3.Connection) -> str:
        conn.execute("SELECT count(*) FROM items").fetchone()  # a read first, as the journal's writes do
        conn.execute("INSERT INTO items (name, size) VALUES (?, ?)", (name, size)).close()
        return name

    return write


def _insert_then_fail(name: str) -> Callable[[sqlite3.Connection], str]:
    def write(conn: sqlite3.Connection) -> str:
        conn.execute("INSERT INTO items (name, size) VALUES (?, 1)", (name,)).close()
        raise ValueError("failed after changing a row")

    return write


def test_writes_queued_together_share_a_commit_and_a_refused_one_fails_alone(tmp_path: Path) -> None:
    path = tmp_path / "g.db"

    async def scenario() -> list[object]:
        db = await _open(path)
        try:
            results = await asyncio.gather(
                db.write(_insert("a")),
                db.write(_insert("b", size=-1)),  # refused by the CHECK: the statement changes nothing
                db.write(_insert("c")),
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


def test_a_write_that_fails_after_changing_rows_fails_its_whole_batch(tmp_path: Path) -> None:
    path = tmp_path / "g.db"

    async def scenario() -> list[object]:
        db = await _open(path)
        try:
            await db.write(_insert("before"))
            results = await asyncio.gather(
                db.write(_insert("a")),
                db.write(_insert_then_fail("half")),
                db.write(_insert("c")),
                return_exceptions=True,
            )
            # The writer is usable again at once.
            assert await db.write(_insert("after")) == "after"
            return results
        finally:
            await db.close()

    results = asyncio.run(scenario())
    assert all(isinstance(r, WriteNotUndone) for r in results), results
    assert _stored(path) == ["after", "before"]


def test_a_failed_write_raises_its_own_error(tmp_path: Path) -> None:
    path = tmp_path / "g.db"

    async def scenario() -> None:
        db = await _open(path)
        try:
            await db.write(_insert("a"))
            with pytest.raises(sqlite3.IntegrityError):
                await db.write(_insert("a"))  # the primary key refuses it
        finally:
            await db.close()

    asyncio.run(scenario())
    assert _stored(path) == ["a"]
