"""Settings come from AFTERGLOW_* variables; anything wrong names the variable, and the CLI stops cleanly."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from server.settings import MIN_SECRET_LENGTH, SECRET_FILE_NAME, Settings, SettingsError, load_settings
from tests.conftest import cli_env, run_cli

SECRET = "k" * 48


def env_with(tmp_path: Path, **values: str) -> dict[str, str]:
    return {"AFTERGLOW_VAR_DIR": str(tmp_path / "var"), "AFTERGLOW_SECRET_KEY": SECRET, **values}


@pytest.mark.parametrize("port", ["abc", "0", "65536", "-1", "", "80.5"])
def test_an_invalid_port_names_afterglow_port(tmp_path: Path, port: str) -> None:
    with pytest.raises(SettingsError, match="AFTERGLOW_PORT"):
        load_settings(env_with(tmp_path, AFTERGLOW_PORT=port))


@pytest.mark.parametrize(
    "url",
    ["journal.example.org", "ftp://journal.example.org", "https://", "https://journal.example.org/?a=1", "https://x#y"],
)
def test_an_invalid_base_url_names_afterglow_base_url(tmp_path: Path, url: str) -> None:
    with pytest.raises(SettingsError, match="AFTERGLOW_BASE_URL"):
        load_settings(env_with(tmp_path, AFTERGLOW_BASE_URL=url))


@pytest.mark.parametrize("value", ["maybe", "", "2", "yes please"])
def test_an_invalid_secure_cookies_flag_names_afterglow_secure_cookies(tmp_path: Path, value: str) -> None:
    with pytest.raises(SettingsError, match="AFTERGLOW_SECURE_COOKIES"):
        load_settings(env_with(tmp_path, AFTERGLOW_SECURE_COOKIES=value))


def test_a_short_secret_key_names_afterglow_secret_key(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="AFTERGLOW_SECRET_KEY"):
        load_settings(env_with(tmp_path, AFTERGLOW_SECRET_KEY="x" * (MIN_SECRET_LENGTH - 1)))


def test_valid_settings_are_read(tmp_path: Path) -> None:
    settings = load_settings(
        env_with(tmp_path, AFTERGLOW_PORT="8123", AFTERGLOW_BASE_URL="https://journal.example.org/")
    )

    assert settings.port == 8123
    assert settings.base_url == "https://journal.example.org"
    assert settings.origin == "https://journal.example.org"
    assert settings.database_path == tmp_path / "var" / "afterglow.db"
    assert settings.secret_key == SECRET


def test_cli_with_a_bad_port_exits_2_with_one_line_and_no_traceback(settings: Settings) -> None:
    result = run_cli("migrate", env=cli_env(settings, AFTERGLOW_PORT="abc"))

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "AFTERGLOW_PORT" in lines[0]
    assert not settings.database_path.exists()


def test_a_missing_secret_is_generated_private_and_reused(tmp_path: Path) -> None:
    env = {"AFTERGLOW_VAR_DIR": str(tmp_path / "var")}

    first = load_settings(env)

    secret_file = tmp_path / "var" / SECRET_FILE_NAME
    assert secret_file.is_file()
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert len(first.secret_key) >= MIN_SECRET_LENGTH
    assert secret_file.read_text().strip() == first.secret_key
    assert load_settings(env).secret_key == first.secret_key


def test_a_missing_secret_is_not_created_when_creation_is_off(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="AFTERGLOW_SECRET_KEY"):
        load_settings({"AFTERGLOW_VAR_DIR": str(tmp_path / "var")}, create_secret=False)

    assert not (tmp_path / "var" / SECRET_FILE_NAME).exists()


def test_an_https_base_url_makes_cookies_secure_by_default(tmp_path: Path) -> None:
    https = load_settings(env_with(tmp_path, AFTERGLOW_BASE_URL="https://journal.example.org"))
    http = load_settings(env_with(tmp_path, AFTERGLOW_BASE_URL="http://127.0.0.1:8000"))
    overridden = load_settings(
        env_with(tmp_path, AFTERGLOW_BASE_URL="https://journal.example.org", AFTERGLOW_SECURE_COOKIES="false")
    )

    assert https.secure_cookies is True
    assert https.is_https is True
    assert http.secure_cookies is False
    assert overridden.secure_cookies is False
