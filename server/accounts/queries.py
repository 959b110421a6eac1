"""All SQL of the accounts feature."""

from __future__ import annotations

import sqlite3

import aiosqlite

from server.db import Database, fetch_one

USER_COLUMNS = "id, clinic_id, role, email, display_name, password_hash, timezone, disabled_at"


async def user_by_email(db: Database, email: str) -> sqlite3.Row | None:
    return await db.fetch_one(f"SELECT {USER_COLUMNS} FROM users WHERE email = ?", (email,))  # noqa: S608


async def user_by_id(db: Database, user_id: str) -> sqlite3.Row | None:
    return await db.fetch_one(f"SELECT {USER_COLUMNS} FROM users WHERE id = ?", (user_id,))  # noqa: S608


async def email_taken(conn: aiosqlite.Connection, email: str) -> bool:
    return await fetch_one(conn, "SELECT 1 FROM users WHERE email = ?", (email,)) is not None


async def count_users(db: Database) -> int:
    row = await db.fetch_one("SELECT count(*) AS n FROM users")
    return int(row["n"]) if row else 0


async def insert_user(
    conn: aiosqlite.Connection,
    *,
    user_id: str,
    clinic_id: int,
    role: str,
    email: str,
    display_name: str,
    password_hash: str,
    now: str,
) -> None:
    await conn.execute(
        "INSERT INTO users (id, clinic_id, role, email, display_name, password_hash, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (user_id, clinic_id, role, email, display_name, password_hash, now, now),
    )


async def update_password_hash(conn: aiosqlite.Connection, user_id: str, password_hash: str, now: str) -> None:
    await conn.execute("UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?", (password_hash, now, user_id))


async def the_clinic(conn: aiosqlite.Connection) -> sqlite3.Row | None:
    return await fetch_one(conn, "SELECT id, name FROM clinics ORDER BY id LIMIT 1")


async def insert_clinic(conn: aiosqlite.Connection, name: str, now: str) -> int:
    cursor = await conn.execute("INSERT INTO clinics (name, created_at) VALUES (?, ?)", (name, now))
    assert cursor.lastrowid is not None
    return cursor.lastrowid


async def insert_setup_token(conn: aiosqlite.Connection, token_hash: str, now: str, expires_at: str) -> None:
    await conn.execute(
        "INSERT INTO setup_tokens (token_hash, created_at, expires_at) VALUES (?, ?, ?)",
        (token_hash, now, expires_at),
    )


async def setup_token_usable(db: Database, token_hash: str, now: str) -> bool:
    row = await db.fetch_one(
        "SELECT 1 FROM setup_tokens WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?",
        (token_hash, now),
    )
    return row is not None


async def use_setup_token(conn: aiosqlite.Connection, token_hash: str, now: str) -> bool:
    """Mark the token used; False if it was already used or has expired (so it works exactly once)."""
    cursor = await conn.execute(
        "UPDATE setup_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?",
        (now, token_hash, now),
    )
    return cursor.rowcount == 1


async def insert_invitation(
    conn: aiosqlite.Connection,
    *,
    invitation_id: str,
    token_hash: str,
    clinic_id: int,
    role: str,
    email: str,
    display_name: str,
    invited_by: str,
    now: str,
    expires_at: str,
) -> None:
    # A new invitation replaces any still-open one for the same address.
    await conn.execute(
        "UPDATE invitations SET revoked_at = ? WHERE email = ? AND accepted_at IS NULL AND revoked_at IS NULL",
        (now, email),
    )
    await conn.execute(
        "INSERT INTO invitations (id, token_hash, clinic_id, role, email, display_name, invited_by, created_at,"
        " expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (invitation_id, token_hash, clinic_id, role, email, display_name, invited_by, now, expires_at),
    )


INVITATION_COLUMNS = (
    "id, clinic_id, role, email, display_name, invited_by, created_at, expires_at, accepted_at, revoked_at"
)


async def open_invitation(db: Database, token_hash: str, now: str) -> sqlite3.Row | None:
    return await db.fetch_one(
        f"SELECT {INVITATION_COLUMNS} FROM invitations"  # noqa: S608
        " WHERE token_hash = ? AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ?",
        (token_hash, now),
    )


async def claim_invitation(conn: aiosqlite.Connection, invitation_id: str, user_id: str, now: str) -> bool:
    """Mark accepted; False if someone accepted, revoked or outlived it first (single use)."""
    cursor = await conn.execute(
        "UPDATE invitations SET accepted_at = ?, accepted_user_id = ? WHERE id = ? AND accepted_at IS NULL"
        " AND revoked_at IS NULL AND expires_at > ?",
        (now, user_id, invitation_id, now),
    )
    return cursor.rowcount == 1


async def invitations_by(db: Database, inviter_id: str) -> list[sqlite3.Row]:
    return await db.fetch_all(
        f"SELECT {INVITATION_COLUMNS} FROM invitations WHERE invited_by = ?"  # noqa: S608
        " ORDER BY created_at DESC LIMIT 200",
        (inviter_id,),
    )


async def open_invitations_by(db: Database, inviter_id: str, now: str) -> list[sqlite3.Row]:
    """The inviter's invitations still waiting to be accepted (the ones they may withdraw), newest first."""
    return await db.fetch_all(
        "SELECT id, email, display_name, role, expires_at FROM invitations WHERE invited_by = ?"
        " AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ? ORDER BY created_at DESC LIMIT 200",
        (inviter_id, now),
    )


async def revoke_invitation(conn: aiosqlite.Connection, invitation_id: str, inviter_id: str, now: str) -> bool:
    cursor = await conn.execute(
        "UPDATE invitations SET revoked_at = ? WHERE id = ? AND invited_by = ? AND accepted_at IS NULL"
        " AND revoked_at IS NULL",
        (now, invitation_id, inviter_id),
    )
    return cursor.rowcount == 1


async def add_to_care_team(
    conn: aiosqlite.Connection, patient_id: str, therapist_id: str, added_by: str | None, now: str
) -> bool:
    cursor = await conn.execute(
        "INSERT OR IGNORE INTO care_team (patient_id, therapist_id, added_at, added_by) VALUES (?, ?, ?, ?)",
        (patient_id, therapist_id, now, added_by),
    )
    return cursor.rowcount == 1


# --- second factor ----------------------------------------------------------------------------------


async def mfa_factor(db: Database, user_id: str) -> sqlite3.Row | None:
    return await db.fetch_one(
        "SELECT secret, enabled_at, last_used_step FROM mfa_factors WHERE user_id = ?", (user_id,)
    )


async def mfa_required(db: Database, user_id: str) -> bool:
    """Whether this person must use a second factor: clinicians, when their clinic requires it."""
    row = await db.fetch_one(
        "SELECT u.role, c.mfa_required_for_clinicians AS required FROM users u JOIN clinics c ON c.id = u.clinic_id"
        " WHERE u.id = ?",
        (user_id,),
    )
    return row is not None and row["role"] in ("admin", "therapist") and bool(row["required"])


async def save_pending_factor(conn: aiosqlite.Connection, user_id: str, secret: str, now: str) -> None:
    """A new secret waiting for its first code; an enabled factor is never replaced this way."""
    await conn.execute(
        "INSERT INTO mfa_factors (user_id, secret, created_at) VALUES (?, ?, ?)"
        " ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at,"
        " last_used_step = 0 WHERE mfa_factors.enabled_at IS NULL",
        (user_id, secret, now),
    )


async def enable_factor(conn: aiosqlite.Connection, user_id: str, step: int, now: str) -> bool:
    cursor = await conn.execute(
        "UPDATE mfa_factors SET enabled_at = ?, last_used_step = ? WHERE user_id = ? AND enabled_at IS NULL",
        (now, step, user_id),
    )
    return cursor.rowcount == 1


async def use_step(conn: aiosqlite.Connection, user_id: str, step: int) -> bool:
    """Record the accepted time step; False if it (or a later one) was already used: a replay."""
    cursor = await conn.execute(
        "UPDATE mfa_factors SET last_used_step = ? WHERE user_id = ? AND last_used_step < ?", (step, user_id, step)
    )
    return cursor.rowcount == 1


async def delete_factor(conn: aiosqlite.Connection, user_id: str) -> None:
    await conn.execute("DELETE FROM mfa_factors WHERE user_id = ?", (user_id,))
    await conn.execute("DELETE FROM recovery_codes WHERE user_id = ?", (user_id,))


async def replace_recovery_codes(conn: aiosqlite.Connection, user_id: str, hashes: list[str], now: str) -> None:
    await conn.execute("DELETE FROM recovery_codes WHERE user_id = ?", (user_id,))
    await conn.executemany(
        "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES (?, ?, ?)",
        [(user_id, h, now) for h in hashes],
    )


async def use_recovery_code(conn: aiosqlite.Connection, user_id: str, code_hash: str, now: str) -> bool:
    cursor = await conn.execute(
        "UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND code_hash = ? AND used_at IS NULL",
        (now, user_id, code_hash),
    )
    return cursor.rowcount == 1


async def recovery_codes_left(db: Database, user_id: str) -> int:
    row = await db.fetch_one(
        "SELECT count(*) AS n FROM recovery_codes WHERE user_id = ? AND used_at IS NULL", (user_id,)
    )
    return int(row["n"]) if row else 0
