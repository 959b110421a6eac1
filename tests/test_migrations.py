"""Migrations: applied once, in order, with checksums; an edited file or a newer database stops start-up."""

from __future__ import annotations

import hashlib
import re
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


def test_the_caseload_summaries_of_0011_start_from_the_entries_already_written(tmp_path: Path) -> None:
    """0011, 0012, 0014 and 0015 fill patient_summaries and daily_moods from a database with history; from then on
    their triggers keep them."""
    before = tmp_path / "before_0011"
    before.mkdir()
    for file in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if file.name < "0011":
            shutil.copy(file, before / file.name)
    db = tmp_path / "history.db"
    apply(db, before)
    conn = connect_sync(db)
    try:
        at = "2026-11-01T09:00:00.000000Z"
        conn.execute("INSERT INTO clinics (id, name, created_at) VALUES (1, 'Clinic', ?)", (at,))
        for n, patient in enumerate(("p1", "p2")):
            conn.execute(
                "INSERT INTO users (id, clinic_id, role, email, display_name, password_hash, created_at, updated_at)"
                " VALUES (?, 1, 'patient', ?, ?, 'x', ?, ?)",
                (patient, f"{patient}@clinic.test", patient, at, at),
            )
            entries = [  # (kind, subkind, sharing, status, local date, score)
                ("checkin", None, "shared", "final", "2026-11-02", None),
                ("checkin", None, "private", "final", "2026-11-03", None),
                ("reflection", "free", "discuss", "final", "2026-11-03", None),
                ("reflection", "free", "shared", "draft", "2026-11-04", None),
                ("questionnaire", "phq9", "shared", "final", "2026-11-02", 12 + n),
                ("questionnaire", "phq9", "shared", "final", "2026-11-09", 6 + n),
                ("questionnaire", "gad7", "private", "final", "2026-11-09", 9),
            ]
            for i, (kind, subkind, sharing, status, day, score) in enumerate(entries):
                conn.execute(
                    "INSERT INTO entries (id, patient_id, kind, subkind, sharing, status, local_date, timezone, body,"
                    " body_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'UTC', ?, 'h', ?, ?)",
                    (
                        f"{patient}-{i}",
                        patient,
                        kind,
                        subkind,
                        sharing,
                        status,
                        day,
                        f'{{"score": {score or 0}, "mood": {5 + n}}}',
                        f"{day}T09:00:00.000000Z",
                        f"{day}T09:00:00.000000Z",
                    ),
                )
        # Flags (0012 counts the open ones): p1 one acknowledged; p3, who has written nothing, one open.
        conn.execute(
            "INSERT INTO users (id, clinic_id, role, email, display_name, password_hash, created_at, updated_at)"
            " VALUES ('p3', 1, 'patient', 'p3@clinic.test', 'p3', 'x', ?, ?)",
            (at, at),
        )
        for flag_id, patient, acknowledged in (("f1", "p1", at), ("f3", "p3", None)):
            conn.execute(
                "INSERT INTO flags (id, patient_id, kind, severity, reason, created_at, acknowledged_at)"
                " VALUES (?, ?, 'not_safe', 'high', 'r', ?, ?)",
                (flag_id, patient, at, acknowledged),
            )
        # Appointments and sessions (0015 keeps each patient's next ones): p1 a past, a cancelled and a coming
        # integration appointment; p2 a coming ketamine session.
        for event_id, patient, kind, starts, cancelled in (
            ("a1", "p1", "integration", "2020-01-06T15:00:00.000000Z", None),
            ("a2", "p1", "integration", "2098-01-05T15:00:00.000000Z", at),
            ("a3", "p1", "integration", "2099-01-05T15:00:00.000000Z", None),
            ("a4", "p1", "intake", "2097-01-05T15:00:00.000000Z", None),
        ):
            conn.execute(
                "INSERT INTO appointments (id, patient_id, kind, starts_at, created_at, updated_at, cancelled_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (event_id, patient, kind, starts, at, at, cancelled),
            )
        conn.execute(
            "INSERT INTO kap_sessions (id, patient_id, scheduled_for, route, series, created_at, updated_at)"
            " VALUES ('k1', 'p2', '2099-02-02T16:00:00.000000Z', 'im', 'induction', ?, ?)",
            (at, at),
        )
    finally:
        conn.close()

    assert apply(db) == [f.name for f in sorted(MIGRATIONS_DIR.glob("*.sql")) if f.name >= "0011"]

    conn = connect_sync(db)
    try:
        rows = conn.execute(
            "SELECT patient_id, visible_entries, last_checkin_at, phq9_first, phq9_latest, phq9_latest_date,"
            " gad7_first, gad7_latest, gad7_latest_date, open_flags, open_high_flags FROM patient_summaries"
            " ORDER BY patient_id"
        ).fetchall()
        moods = conn.execute("SELECT * FROM daily_moods ORDER BY patient_id, local_date").fetchall()
        next_events = conn.execute(
            "SELECT patient_id, next_integration, next_session, next_integration_as_of, next_session_as_of"
            " FROM patient_summaries ORDER BY patient_id"
        ).fetchall()
    finally:
        conn.close()
    assert [tuple(r) for r in rows] == [
        ("p1", 4, "2026-11-02T09:00:00.000000Z", 12.0, 6.0, "2026-11-09", None, None, None, 0, 0),
        ("p2", 4, "2026-11-02T09:00:00.000000Z", 13.0, 7.0, "2026-11-09", None, None, None, 0, 0),
        ("p3", 0, None, None, None, None, None, None, None, 1, 1),
    ]
    # Only the shared, finished check-ins count: p1's private one of 2026-11-03 does not.
    assert [tuple(r) for r in moods] == [("p1", "2026-11-02", 1, 5, 1, 0, 0), ("p2", "2026-11-02", 1, 6, 1, 0, 0)]
    assert [tuple(r)[:3] for r in next_events] == [
        ("p1", "2099-01-05T15:00:00.000000Z", None),
        ("p2", None, "2099-02-02T16:00:00.000000Z"),
        ("p3", None, None),
    ]
    # Taken at the migration's moment, in clock.iso's shape (so it compares with the app's times as text).
    as_of = {value for r in next_events for value in tuple(r)[3:]}
    assert len(as_of) == 1 and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", as_of.pop())


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
