"""Settings, read once from the environment (``AFTERGLOW_*``).

Anything wrong raises ``SettingsError`` whose message names the variable, so the command line can stop
with one clear line instead of a traceback.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import msgspec


class SettingsError(Exception):
    """A setting is invalid; the message names the environment variable."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    var_dir: Path
    database_path: Path
    host: str
    port: int
    base_url: str
    secret_key: str
    secure_cookies: bool

    @property
    def origin(self) -> str:
        """The scheme://host[:port] browsers send in the Origin header."""
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def is_https(self) -> bool:
        return self.base_url.startswith("https://")


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
SECRET_FILE_NAME = "secret_key"  # noqa: S105 - a file name, not a secret
MIN_SECRET_LENGTH = 32


def load_settings(env: Mapping[str, str] | None = None, *, create_secret: bool = True) -> Settings:
    env = os.environ if env is None else env
    var_dir = Path(env.get("AFTERGLOW_VAR_DIR", "var"))
    database_path = Path(env.get("AFTERGLOW_DATABASE", str(var_dir / "afterglow.db")))
    host = env.get("AFTERGLOW_HOST", "127.0.0.1").strip()
    if not host:
        raise SettingsError("AFTERGLOW_HOST must not be empty")
    port = _parse_port(env.get("AFTERGLOW_PORT", "8000"))
    base_url = _parse_base_url(env.get("AFTERGLOW_BASE_URL", f"http://{host}:{port}"))
    secure_default = "true" if base_url.startswith("https://") else "false"
    secure_cookies = _parse_bool("AFTERGLOW_SECURE_COOKIES", env.get("AFTERGLOW_SECURE_COOKIES", secure_default))
    if "AFTERGLOW_SECRET_KEY" in env:
        secret_key = env["AFTERGLOW_SECRET_KEY"]
        if len(secret_key) < MIN_SECRET_LENGTH:
            raise SettingsError(f"AFTERGLOW_SECRET_KEY must be at least {MIN_SECRET_LENGTH} characters long")
    else:
        secret_key = _read_or_create_secret(var_dir / SECRET_FILE_NAME, create=create_secret)
    return Settings(
        var_dir=var_dir,
        database_path=database_path,
        host=host,
        port=port,
        base_url=base_url,
        secret_key=secret_key,
        secure_cookies=secure_cookies,
    )


def _parse_port(raw: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise SettingsError(f"AFTERGLOW_PORT must be a whole number from 1 to 65535 (got {raw!r})")
    return port


def _parse_base_url(raw: str) -> str:
    url = raw.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc or parts.query or parts.fragment:
        raise SettingsError(f"AFTERGLOW_BASE_URL must look like https://journal.example.org (got {raw!r})")
    return url


def _parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingsError(f"{name} must be true or false (got {raw!r})")


def _read_or_create_secret(path: Path, *, create: bool) -> str:
    """Keep one random secret under ./var/ so sessions and CSRF tokens survive restarts."""
    try:
        secret = path.read_text().strip()
    except FileNotFoundError:
        if not create:
            raise SettingsError(f"AFTERGLOW_SECRET_KEY is not set and {path} does not exist") from None
        secret = secrets.token_urlsafe(48)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            # Another process created it between our read and our create: use theirs.
            return path.read_text().strip()
        except OSError as exc:
            raise SettingsError(f"AFTERGLOW_VAR_DIR: cannot create {path} ({exc.strerror})") from None
        with os.fdopen(fd, "w") as f:
            f.write(secret + "\n")
        return secret
    except OSError as exc:
        raise SettingsError(f"AFTERGLOW_VAR_DIR: cannot read {path} ({exc.strerror})") from None
    if len(secret) < MIN_SECRET_LENGTH:
        raise SettingsError(f"AFTERGLOW_SECRET_KEY: {path} holds a secret shorter than {MIN_SECRET_LENGTH}")
    return secret
