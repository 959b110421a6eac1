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
    # Web Push (reminders): the contact push services see in our VAPID claims, and the push services we
    # agree to POST to (host names; a subscription naming any other endpoint is refused).
    vapid_subject: str = "mailto:afterglow@localhost"
    push_services: tuple[str, ...] = ()
    # Scheduled backups (server/backup.py): where, how often (0 = never), how many files to keep.
    backup_dir: Path
    backup_interval_hours: float
    backup_keep: int

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
# The browsers' push services (a host, or a parent domain of it). Tests add 127.0.0.1.
PUSH_SERVICES = "fcm.googleapis.com,push.services.mozilla.com,push.apple.com,notify.windows.com"
MAX_BACKUP_INTERVAL_HOURS = 24 * 366
MAX_BACKUP_KEEP = 10_000


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
    backup_dir_text = env.get("AFTERGLOW_BACKUP_DIR", str(var_dir / "backups"))
    if not backup_dir_text.strip():
        raise SettingsError("AFTERGLOW_BACKUP_DIR must not be empty")
    backup_dir = Path(backup_dir_text)
    vapid_subject = env.get("AFTERGLOW_VAPID_SUBJECT", "mailto:afterglow@localhost").strip()
    if not vapid_subject.startswith(("mailto:", "https://")):
        raise SettingsError("AFTERGLOW_VAPID_SUBJECT must be a mailto: or https:// address")
    push_services = tuple(h.strip().lower() for h in env.get("AFTERGLOW_PUSH_SERVICES", PUSH_SERVICES).split(","))
    return Settings(
        var_dir=var_dir,
        database_path=database_path,
        host=host,
        port=port,
        base_url=base_url,
        secret_key=secret_key,
        secure_cookies=secure_cookies,
        backup_dir=backup_dir,
        backup_interval_hours=_parse_interval(env.get("AFTERGLOW_BACKUP_INTERVAL_HOURS", "24")),
        backup_keep=_parse_keep(env.get("AFTERGLOW_BACKUP_KEEP", "14")),
        vapid_subject=vapid_subject,
        push_services=tuple(h for h in push_services if h),
    )


def _parse_port(raw: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise SettingsError(f"AFTERGLOW_PORT must be a whole number from 1 to 65535 (got {raw!r})")
    return port


def _parse_interval(raw: str) -> float:
    """Hours between scheduled backups; 0 turns them off. Fractions are allowed (0.5 = every 30 minutes)."""
    try:
        hours = float(raw)
    except ValueError:
        hours = -1.0
    # float() also accepts "nan" and "inf"; neither is a schedule.
    if not 0 <= hours <= MAX_BACKUP_INTERVAL_HOURS:
        raise SettingsError(
            f"AFTERGLOW_BACKUP_INTERVAL_HOURS must be a number of hours from 0 (off) to "
            f"{MAX_BACKUP_INTERVAL_HOURS} (got {raw!r})"
        )
    if 0 < hours * 3600 < 60:
        raise SettingsError(f"AFTERGLOW_BACKUP_INTERVAL_HOURS must be at least one minute (got {raw!r})")
    return hours


def _parse_keep(raw: str) -> int:
    try:
        keep = int(raw)
    except ValueError:
        keep = 0
    if not 1 <= keep <= MAX_BACKUP_KEEP:
        raise SettingsError(
            f"AFTERGLOW_BACKUP_KEEP must be a whole number of backups from 1 to {MAX_BACKUP_KEEP} (got {raw!r})"
        )
    return keep


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
        try:
            secret = _publish_new_secret(path)
        except OSError as exc:
            raise SettingsError(f"AFTERGLOW_VAR_DIR: cannot create {path} ({exc.strerror})") from None
    except OSError as exc:
        raise SettingsError(f"AFTERGLOW_VAR_DIR: cannot read {path} ({exc.strerror})") from None
    if len(secret) < MIN_SECRET_LENGTH:
        raise SettingsError(f"AFTERGLOW_SECRET_KEY: {path} holds a secret shorter than {MIN_SECRET_LENGTH}")
    return secret


def _publish_new_secret(path: Path) -> str:
    """Write a new secret to ``path`` unless another process got there first; return the one in force.

    Several processes may start at once on a fresh ./var/ (two ``afterglow`` commands, or workers). The
    secret is written and synced in a private temporary file and then hard-linked into place, which is
    atomic and never overwrites: a reader sees either no file or the whole secret, never an empty file
    that another process has created but not yet written (which would give the workers different keys).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(secret + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(temp, path)
        except FileExistsError:
            return path.read_text().strip()  # another process won the race: use theirs
    finally:
        temp.unlink(missing_ok=True)
    return secret
