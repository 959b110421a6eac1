"""The audit trail: append-only (the database refuses UPDATE and DELETE) and hash-chained.

Rows are written in the same transaction as the change they describe, through the single writer, so
the chain is strictly sequential even with several worker processes (``BEGIN IMMEDIATE`` serialises
them). ``detail`` carries identifiers and counts only, never what a patient wrote.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import aiosqlite
import msgspec

from server.db import Database, fetch_one, fetch_row

GENESIS = "0" * 64


class Actor(msgspec.Struct, frozen=True):
    """Who did something, and from where."""

    user_id: str | None
    role: str | None
    client_address: str | None


SYSTEM = Actor(user_id=None, role="system", client_address=None)


def _row_hash(prev_hash: str, fields: tuple[Any, ...]) -> str:
    payload = json.dumps([prev_hash, *fields], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


LAST_HASH = "SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1"
APPEND = (
    "INSERT INTO audit_log (at, actor_id, actor_role, action, patient_id, object_type, object_id,"
    " client_address, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _chained_row(last: sqlite3.Row | None, fields: tuple[Any, ...]) -> tuple[Any, ...]:
    prev_hash = last["hash"] if last else GENESIS
    return (*fields, prev_hash, _row_hash(prev_hash, fields))


def _fields(
    at: str,
    actor: Actor,
    action: str,
    patient_id: str | None,
    object_type: str | None,
    object_id: str | None,
    detail: dict[str, Any] | None,
) -> tuple[Any, ...]:
    detail_text = json.dumps(detail or {}, separators=(",", ":"), sort_keys=True)
    return (
        at,
        actor.user_id,
        actor.role,
        action,
        patient_id,
        object_type,
        object_id,
        actor.client_address,
        detail_text,
    )


async def record(
    conn: aiosqlite.Connection,
    *,
    at: str,
    actor: Actor,
    action: str,
    patient_id: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one row. Call inside the write transaction that does the thing being recorded."""
    fields = _fields(at, actor, action, patient_id, object_type, object_id, detail)
    await conn.execute(APPEND, _chained_row(await fetch_one(conn, LAST_HASH), fields))


async def record_read(
    db: Database,
    *,
    at: str,
    actor: Actor,
    action: str,
    patient_id: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
) -> None:
    """Audit a read of people's data in a transaction of its own (who looked at what, never the content).

    One call on the writer's thread, group-committed with whatever else is queued: a read must not hold
    the write lock across hops to the writer and back, where every clinician page queued behind it.
    """
    await db.write(_append, _fields(at, actor, action, patient_id, object_type, object_id, None))


def _append(conn: sqlite3.Connection, fields: tuple[Any, ...]) -> None:
    conn.execute(APPEND, _chained_row(fetch_row(conn, LAST_HASH), fields)).close()


def verify_chain(conn: sqlite3.Connection) -> tuple[int, int | None]:
    """Walk the whole trail. Returns (rows checked, id of the first broken row or None)."""
    prev_hash = GENESIS
    checked = 0
    for row in _rows(conn):
        fields = (
            row["at"],
            row["actor_id"],
            row["actor_role"],
            row["action"],
            row["patient_id"],
            row["object_type"],
            row["object_id"],
            row["client_address"],
            row["detail"],
        )
        # Ids are consecutive from 1 (AUTOINCREMENT never reuses one), so a removed row shows as a gap.
        intact = row["id"] == checked + 1 and row["prev_hash"] == prev_hash
        if not intact or row["hash"] != _row_hash(prev_hash, fields):
            return checked, row["id"]
        prev_hash = row["hash"]
        checked += 1
    # Rows cut from the end leave no gap, but sqlite_sequence still remembers the highest id given out.
    sequence = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'").fetchone()
    if sequence and sequence["seq"] > checked:
        return checked, checked + 1
    return checked, None


def _rows(conn: sqlite3.Connection) -> Iterator[sqlite3.Row]:
    cursor = conn.execute("SELECT * FROM audit_log ORDER BY id")
    while batch := cursor.fetchmany(1000):
        yield from batch
