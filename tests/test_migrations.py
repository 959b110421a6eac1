"""Migrations: applied once, in order, with checksums; an edited file or a newer database stops start-up."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from server.db import MIGRATIONS_DIR, MigrationError, apply_migrations, connect_sync
from server.settings import Settings
from tests.conftest import cli_env, query, run_cli

EXPECTED_TABLES = {
    "clinics",
    "users",
    "sessions",
    "login_failures",
    "setup_tokens",
    "invitations",
    "care_team",
    "audit_log",
    "schema_migrations",
}


def table_names(path: Path) -> set[str]:
    conn = connect_sync(path)
    try:
        return {row["name"] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()


def migration_rows(path: Path) -> list[tuple[int, str, str, str]]:
    conn = connect_sync(path)
    try:
        rows = conn.execute("SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version")
        return [(r["version"], r["name"], r["checksum"], r["applied_at"]) for r in rows]
    finally:
        conn.close()


def apply(path: Path, directory: Path = MIGRATIONS_DIR) -> list[str]:
    conn = connect_sync(path)
    try:
        return apply_migrations(conn, directory)
    finally:
        conn.close()


def test_migrations_apply_to_an_empty_database_and_record_checksums(tmp_path: Path) -> None:
    db = tmp_path / "fresh.db"
    files = sorted(MIGRATIONS_DIR.glob("*.sql"))
    assert files, "no migration files found"

    applied = apply(db)

    assert applied == [f.name for f in files]
    assert table_names(db) >= EXPECTED_TABLES
    rows = migration_rows(db)
    assert [(version, name) for version, name, _, _ in rows] == [(int(f.name[:4]), f.name) for f in files]
    for (_, _, checksum, _), file in zip(rows, files, strict=True):
        assert checksum == hashlib.sha256(file.read_text(encoding="utf-8").encode()).hexdigest()


def test_applying_migrations_again_is_a_no_op(tmp_path: Path) -> None:
    db = tmp_path / "again.db"
    apply(db)
    before = migration_rows(db)

    assert apply(db) == []

    assert migration_rows(db) == before


def test_an_edited_migration_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, directory)
    db = tmp_path / "edited.db"
    apply(db, directory)
    first = sorted(directory.glob("*.sql"))[0]
    first.write_text(first.read_text(encoding="utf-8") + "\n-- a harmless-looking edit\n", encoding="utf-8")

    with pytest.raises(MigrationError, match="edited") as refused:
        apply(db, directory)

    assert first.name in str(refused.value)
    assert len(migration_rows(db)) == len(list(directory.glob("*.sql")))


def test_a_database_with_an_unknown_newer_migration_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "newer.db"
    apply(db)
    conn = connect_sync(db)
    try:
        conn.execute(
            "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)",
            (9999, "9999_from_the_future.sql", "0" * 64, "2030-01-01T00:00:00.000000Z"),
        )
    finally:
        conn.close()

    with pytest.raises(MigrationError, match="newer") as refused:
        apply(db)

    assert "9999_from_the_future.sql" in str(refused.value)


def test_cli_migrate_applies_then_reports_nothing_to_do(settings: Settings) -> None:
    env = cli_env(settings)

    first = run_cli("migrate", env=env)
    second = run_cli("migrate", env=env)

    names = sorted(f.name for f in MIGRATIONS_DIR.glob("*.sql"))
    assert first.returncode == 0, first.stderr
    assert f"applied {len(names)} migration(s): {', '.join(names)}" in first.stdout
    assert second.returncode == 0, second.stderr
    assert "applied 0 migration(s)" in second.stdout
    assert table_names(settings.database_path) >= EXPECTED_TABLES


def test_cli_migrate_refuses_an_edited_migration_with_one_clear_line(settings: Settings) -> None:
    env = cli_env(settings)
    assert run_cli("migrate", env=env).returncode == 0
    conn = connect_sync(settings.database_path)
    try:
        conn.execute("UPDATE schema_migrations SET checksum = ? WHERE version = 1", ("f" * 64,))
    finally:
        conn.close()

    result = run_cli("migrate", env=env)

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "0001_initial.sql" in lines[0]
    assert "edited" in lines[0]
    assert query(settings, "SELECT checksum FROM schema_migrations WHERE version = 1")[0]["checksum"] == "f" * 64
