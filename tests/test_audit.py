"""The audit trail: who did what to whom, append-only, hash-chained, verifiable from the command line."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from server.db import connect_sync
from server.settings import Settings
from tests.conftest import PASSWORD, Client, People, audit_actions, cli_env, query, run_cli, session_of

NEW_PASSWORD = "lantern orchard seventeen"


def audit_rows(settings: Settings, action: str) -> list[sqlite3.Row]:
    return query(settings, "SELECT * FROM audit_log WHERE action = ? ORDER BY id", (action,))


def only_row(settings: Settings, action: str) -> sqlite3.Row:
    rows = audit_rows(settings, action)
    assert len(rows) == 1, [tuple(r) for r in rows]
    return rows[0]


def raw_sql(settings: Settings, *statements: str) -> None:
    """Change the database behind the application's back, the way an attacker with file access would."""
    conn = sqlite3.connect(settings.database_path, isolation_level=None)
    try:
        for statement in statements:
            conn.execute(statement)
    finally:
        conn.close()


def invite_and_accept(client: Client, people: People) -> dict[str, Any]:
    client.login(people.therapist_a.email)
    created = client.post("/api/v1/invitations", json={"email": "river@example.test", "display_name": "River"})
    assert created.status_code == 201
    client.cookies.clear()
    token = created.json()["url"].rsplit("/", 1)[1]
    accepted = client.post("/api/v1/invitations/accept", json={"token": token, "password": NEW_PASSWORD})
    assert accepted.status_code == 201
    return {"invitation_id": created.json()["id"], "token": token, "user": accepted.json()["user"]}


# --- what is recorded -------------------------------------------------------------------------------------


def test_a_sign_in_is_recorded_with_who_and_from_where(client: Client, people: People, settings: Settings) -> None:
    client.login(people.therapist_a.email)

    row = only_row(settings, "auth.login")
    assert (row["actor_id"], row["actor_role"], row["client_address"]) == (
        people.therapist_a.id,
        "therapist",
        "testclient",
    )


def test_a_failed_sign_in_is_recorded(client: Client, people: People, settings: Settings) -> None:
    response = client.post("/api/v1/auth/login", json={"email": people.patient_a.email, "password": "nope nope!"})
    assert response.status_code == 401

    row = only_row(settings, "auth.login.failed")
    assert row["actor_id"] == people.patient_a.id
    assert row["client_address"] == "testclient"
    assert row["detail"] == '{"reason":"wrong_password"}'


def test_a_sign_out_is_recorded(client: Client, people: People, settings: Settings) -> None:
    client.login(people.patient_a.email)

    assert client.post("/api/v1/auth/logout").status_code == 204

    assert audit_actions(settings) == ["auth.login", "auth.logout"]
    assert only_row(settings, "auth.logout")["actor_id"] == people.patient_a.id


def test_invitation_created_and_accepted_are_recorded(client: Client, people: People, settings: Settings) -> None:
    outcome = invite_and_accept(client, people)

    created = only_row(settings, "invitation.created")
    assert (created["actor_id"], created["object_type"], created["object_id"]) == (
        people.therapist_a.id,
        "invitation",
        outcome["invitation_id"],
    )
    accepted = only_row(settings, "invitation.accepted")
    new_id = outcome["user"]["id"]
    assert (accepted["actor_id"], accepted["patient_id"], accepted["object_id"]) == (
        new_id,
        new_id,
        outcome["invitation_id"],
    )
    assert audit_actions(settings)[-3:] == ["invitation.created", "invitation.accepted", "auth.login"]


def test_disabling_an_account_is_recorded(client: Client, people: People, settings: Settings) -> None:
    client.login(people.admin.email)

    assert client.post(f"/api/v1/admin/users/{people.patient_b.id}/disable").status_code == 204

    row = only_row(settings, "account.disabled")
    assert (row["actor_id"], row["patient_id"], row["object_type"], row["object_id"]) == (
        people.admin.id,
        people.patient_b.id,
        "user",
        people.patient_b.id,
    )


def test_care_team_changes_are_recorded(client: Client, people: People, settings: Settings) -> None:
    client.login(people.admin.email)
    url = f"/api/v1/admin/patients/{people.patient_a.id}/care-team/{people.therapist_b.id}"

    assert client.put(url).status_code == 204
    assert client.delete(url).status_code == 204

    for action in ("care_team.added", "care_team.removed"):
        row = only_row(settings, action)
        assert (row["actor_id"], row["patient_id"], row["object_id"]) == (
            people.admin.id,
            people.patient_a.id,
            people.therapist_b.id,
        )


def test_a_clinician_reading_a_patient_is_recorded(client: Client, people: People, settings: Settings) -> None:
    client.login(people.therapist_a.email)

    assert client.get(f"/api/v1/patients/{people.patient_a.id}").status_code == 200

    row = only_row(settings, "patient.viewed")
    assert (row["actor_id"], row["actor_role"], row["patient_id"], row["client_address"]) == (
        people.therapist_a.id,
        "therapist",
        people.patient_a.id,
        "testclient",
    )


def test_a_refused_patient_read_records_no_view(client: Client, people: People, settings: Settings) -> None:
    client.login(people.therapist_a.email)

    assert client.get(f"/api/v1/patients/{people.patient_b.id}").status_code == 404

    assert audit_rows(settings, "patient.viewed") == []


def test_the_audit_trail_never_holds_passwords_cookies_or_tokens(
    client: Client, people: People, settings: Settings
) -> None:
    client.post("/api/v1/auth/login", json={"email": people.patient_a.email, "password": "wrong-but-secret-42"})
    client.login(people.patient_a.email)
    secrets = ["wrong-but-secret-42", PASSWORD, session_of(client)]
    outcome = invite_and_accept(client, people)
    secrets += [NEW_PASSWORD, outcome["token"], session_of(client)]
    client.post("/api/v1/auth/logout")

    dump = "\n".join(repr(tuple(row)) for row in query(settings, "SELECT * FROM audit_log"))

    assert len(audit_actions(settings)) >= 6
    for secret in secrets:
        assert secret not in dump


# --- append-only ------------------------------------------------------------------------------------------


def test_the_database_refuses_to_update_audit_rows(client: Client, people: People, settings: Settings) -> None:
    client.login(people.patient_a.email)
    conn = connect_sync(settings.database_path)
    try:
        with pytest.raises((sqlite3.IntegrityError, sqlite3.OperationalError), match="append-only"):
            conn.execute("UPDATE audit_log SET action = 'nothing.happened'")
    finally:
        conn.close()
    assert audit_actions(settings) == ["auth.login"]


def test_the_database_refuses_to_delete_audit_rows(client: Client, people: People, settings: Settings) -> None:
    client.login(people.patient_a.email)
    conn = connect_sync(settings.database_path)
    try:
        with pytest.raises((sqlite3.IntegrityError, sqlite3.OperationalError), match="append-only"):
            conn.execute("DELETE FROM audit_log")
    finally:
        conn.close()
    assert audit_actions(settings) == ["auth.login"]


# --- afterglow audit verify -------------------------------------------------------------------------------


def make_some_history(client: Client, people: People, settings: Settings) -> int:
    client.login(people.therapist_a.email)
    client.get(f"/api/v1/patients/{people.patient_a.id}")
    client.post("/api/v1/auth/logout")
    client.login(people.patient_a.email)
    rows = len(audit_actions(settings))
    assert rows == 4
    return rows


def test_audit_verify_passes_an_intact_trail_and_prints_the_row_count(
    client: Client, people: People, settings: Settings
) -> None:
    rows = make_some_history(client, people, settings)

    result = run_cli("audit", "verify", env=cli_env(settings))

    assert result.returncode == 0, result.stderr
    assert f"audit trail intact: {rows} rows" in result.stdout


def test_audit_verify_finds_a_changed_row(client: Client, people: People, settings: Settings) -> None:
    make_some_history(client, people, settings)
    raw_sql(
        settings,
        "DROP TRIGGER audit_log_no_update",
        "UPDATE audit_log SET action = 'nothing.to.see' WHERE id = 2",
    )

    result = run_cli("audit", "verify", env=cli_env(settings))

    assert result.returncode != 0
    assert "row 2" in result.stderr
    assert "Traceback" not in result.stderr


def test_audit_verify_finds_a_removed_last_row(client: Client, people: People, settings: Settings) -> None:
    rows = make_some_history(client, people, settings)
    raw_sql(settings, "DROP TRIGGER audit_log_no_delete", f"DELETE FROM audit_log WHERE id = {rows}")

    result = run_cli("audit", "verify", env=cli_env(settings))

    assert result.returncode != 0
    assert f"row {rows}" in result.stderr


def test_audit_verify_finds_a_removed_middle_row(client: Client, people: People, settings: Settings) -> None:
    make_some_history(client, people, settings)
    raw_sql(settings, "DROP TRIGGER audit_log_no_delete", "DELETE FROM audit_log WHERE id = 2")

    result = run_cli("audit", "verify", env=cli_env(settings))

    assert result.returncode != 0
    assert "row 3" in result.stderr  # the first row whose predecessor is missing


def test_the_admin_audit_page_shows_a_broken_chain(client: Client, people: People, settings: Settings) -> None:
    make_some_history(client, people, settings)
    client.login(people.admin.email)
    assert "Hash chain verified" in client.get("/admin/audit").text
    raw_sql(settings, "DROP TRIGGER audit_log_no_update", "UPDATE audit_log SET actor_id = NULL WHERE id = 1")

    page = client.get("/admin/audit")

    assert page.status_code == 200
    assert "hash chain is broken at row 1" in page.text


def test_audit_verify_on_a_missing_database_says_so_without_creating_one(settings: Settings) -> None:
    missing = settings.var_dir / "typo.db"

    result = run_cli("audit", "verify", env=cli_env(settings, AFTERGLOW_DATABASE=str(missing)))

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(missing) in lines[0]
    assert not missing.exists()


def test_audit_verify_on_a_database_without_an_audit_trail_says_so(settings: Settings) -> None:
    other = settings.var_dir / "not-afterglow.db"
    other.parent.mkdir(parents=True, exist_ok=True)
    sqlite3.connect(other).execute("CREATE TABLE something_else (x)").connection.close()

    result = run_cli("audit", "verify", env=cli_env(settings, AFTERGLOW_DATABASE=str(other)))

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "cannot read the audit trail" in result.stderr
