"""The ``afterglow`` command line (also ``python -m server``)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import signal
import socket
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn, TypeVar

from server.clock import SystemClock
from server.db import Database, MigrationError, apply_migrations, connect_sync
from server.settings import Settings, SettingsError, load_settings

T = TypeVar("T")


def _fail(message: str, code: int = 1) -> NoReturn:
    print(f"afterglow: {message}", file=sys.stderr)
    raise SystemExit(code)


def _migrate(settings: Settings) -> list[str]:
    conn = connect_sync(settings.database_path)
    try:
        return apply_migrations(conn)
    finally:
        conn.close()


def _with_db(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    async def run() -> T:
        db = Database(settings.database_path, readers=1)
        await db.open()
        try:
            return await work(db)
        finally:
            await db.close()

    return asyncio.run(run())


def cmd_migrate(settings: Settings, _: argparse.Namespace) -> None:
    applied = _migrate(settings)
    print(f"applied {len(applied)} migration(s){': ' + ', '.join(applied) if applied else ''}")
    print(f"database: {settings.database_path}")


def _check_port_free(host: str, port: int) -> None:
    """Refuse a port something already listens on, in one clear line, before migrating anything: a second
    server (another database, or an old one still running) must not start."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        _fail(f"cannot serve on {host}:{port}: {exc}")
    for family, kind, proto, _, address in infos[:1]:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server's: TIME_WAIT is fine
            try:
                probe.bind(address)
            except OSError as exc:
                _fail(f"cannot serve on {host}:{port}: {exc.strerror or exc} (is another server running?)")


def _exit_cleanly(_signum: int, _frame: object) -> NoReturn:
    raise SystemExit(0)


def cmd_serve(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    from server.accounts.service import issue_setup_link
    from server.http_protocol import HttpToolsHeadWithBody

    _check_port_free(settings.host, settings.port)
    _migrate(settings)
    link = _with_db(settings, lambda db: issue_setup_link(db, SystemClock(), settings.base_url))
    if link:
        print("No accounts yet. Open this one-time link (valid for 1 hour) to create the clinic and its admin:")
        print(f"  {link}", flush=True)
    # uvicorn (measured faster than granian for this app once the writer runs in a process of its own:
    # tests/bench/README.md). One worker: this process serves. --workers N: this process binds the port and
    # supervises N worker processes that share its socket, replacing one that dies. Each worker runs the ASGI
    # lifespan (it opens the database, starts its writer process and the background tasks). SIGTERM or
    # SIGINT: each worker finishes its requests and runs the lifespan's shutdown (the database closed
    # cleanly), then the server exits 0.
    # After a clean shutdown uvicorn raises the stop signal again, for an exit status of "killed by SIGTERM";
    # ours says a clean stop is a success (exit 0). The same for a signal that comes before uvicorn's own
    # handlers are in place: nothing has started yet.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _exit_cleanly)
    uvicorn.run(
        "server.asgi:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=args.workers,
        lifespan="on",
        # httptools (uvicorn's C parser), each answer's head and body sent in one write: server/http_protocol.py.
        http=HttpToolsHeadWithBody,
        # No route speaks WebSocket, and the protocol's transport is made for HTTP answers only: an upgrade
        # request is answered as plain HTTP even if a WebSocket library is ever installed alongside.
        ws="none",
        log_level="info",
        # Access logs would record one-time tokens in /invite/ and /setup/ URLs; the audit trail is the record.
        access_log=False,
        proxy_headers=False,
        server_header=False,
        # An idle connection stays open this long (uvicorn's default is 5 s): a phone coming back to the app
        # reuses it, and a browser is less likely to send a request down a connection just being closed.
        timeout_keep_alive=75,
        # A worker that has not finished its shutdown after this long stops waiting for open connections
        # (every acknowledged write is already durable).
        timeout_graceful_shutdown=30,
    )


def _read_password() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("Password: ")
    return sys.stdin.readline().rstrip("\r\n")


def cmd_create_user(settings: Settings, args: argparse.Namespace) -> None:
    from litestar.exceptions import HTTPException

    from server.accounts.service import create_account
    from server.errors import field_errors
    from server.security.audit import SYSTEM

    _migrate(settings)
    password = _read_password()
    try:
        user_id = _with_db(
            settings,
            lambda db: create_account(
                db,
                SystemClock(),
                SYSTEM,
                role=args.role,
                email=args.email,
                display_name=args.name,
                password=password,
            ),
        )
    except HTTPException as exc:
        errors = field_errors(exc)
        _fail(errors[0]["message"] if errors else str(exc.detail))
    print(f"created {args.role} {args.email} ({user_id})")


def cmd_demo(settings: Settings, _: argparse.Namespace) -> None:
    from server.demo import DEMO_PASSWORD, create_demo

    _migrate(settings)
    people = _with_db(settings, lambda db: create_demo(db, SystemClock()))
    print(f"Demo clinic ready. Every demo account's password is: {DEMO_PASSWORD}")
    print("Two-factor sign-in is off in the demo clinic so you can look around at once.")
    for person in people:
        print(f"  {person.role:<9} {person.email:<34} {person.name}")
    print(f"Sign in at {settings.base_url}/login")


def cmd_audit_verify(settings: Settings, _: argparse.Namespace) -> None:
    from server.security.audit import verify_chain

    # connect_sync would create an empty database, and the missing table would end in a traceback.
    if not settings.database_path.is_file():
        _fail(f"there is no database at {settings.database_path} (check AFTERGLOW_DATABASE)")
    conn = connect_sync(settings.database_path)
    try:
        checked, broken_at = verify_chain(conn)
    except sqlite3.Error as exc:
        _fail(f"cannot read the audit trail in {settings.database_path}: {exc}")
    finally:
        conn.close()
    if broken_at is not None:
        _fail(f"audit trail broken at row {broken_at} (rows before it are intact: {checked})")
    print(f"audit trail intact: {checked} rows")


def cmd_backup(settings: Settings, args: argparse.Namespace) -> None:
    from server.backup import BackupError, backup_database, backup_file_name

    target = Path(args.path)
    if target.is_dir():  # a folder: name the file by the time, like the scheduled backups
        target = target / backup_file_name(datetime.now(UTC))
    try:
        info = backup_database(settings.database_path, target)
    except BackupError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot write the backup: {exc}")
    print(
        f"backup written to {info.path}: {info.size_bytes / 1024:.0f} KiB, {info.tables} tables, "
        f"schema version {info.schema_version}, integrity check ok ({info.seconds:.2f} s)"
    )


def cmd_restore(settings: Settings, args: argparse.Namespace) -> None:
    from server.backup import BackupError, restore_database

    source = Path(args.path)
    try:
        info = restore_database(source, settings.database_path, force=args.force)
    except BackupError as exc:
        _fail(f"{exc}; nothing was changed")
    except OSError as exc:
        _fail(f"cannot restore: {exc}")
    print(f"restored {source} into {settings.database_path} (schema version {info.schema_version}, integrity ok)")
    if info.migrations_applied:
        print(f"brought up to date with: {', '.join(info.migrations_applied)}")
    if info.replaced_kept_at:
        print(f"the database it replaced is kept at {info.replaced_kept_at}; delete it once you no longer need it")


MAX_WORKERS = 64


def _worker_count(raw: str) -> int:
    """Every worker shares the one database (state, throttling, sessions and schedules live there)."""
    try:
        count = int(raw)
    except ValueError:
        count = 0
    if not 1 <= count <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {MAX_WORKERS} (got {raw!r})")
    return count


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="afterglow", description="Afterglow integration journal")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="apply migrations and serve the app (default)")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--workers", type=_worker_count, default=1, help="worker processes (default 1)")
    serve.set_defaults(func=cmd_serve)
    sub.add_parser("migrate", help="apply pending migrations").set_defaults(func=cmd_migrate)
    create = sub.add_parser("create-user", help="create an admin or therapist (password on standard input)")
    create.add_argument("--role", choices=["admin", "therapist"], required=True)
    create.add_argument("--email", required=True)
    create.add_argument("--name", required=True)
    create.set_defaults(func=cmd_create_user)
    sub.add_parser("demo", help="create a demo clinic and print its sign-in details").set_defaults(func=cmd_demo)
    audit = sub.add_parser("audit", help="audit trail tools")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    audit_sub.add_parser("verify", help="check the audit trail's hash chain").set_defaults(func=cmd_audit_verify)
    backup = sub.add_parser("backup", help="write a consistent copy of the database to PATH")
    backup.add_argument("path")
    backup.set_defaults(func=cmd_backup)
    restore = sub.add_parser("restore", help="replace the database with the backup at PATH")
    restore.add_argument("path")
    restore.add_argument("--force", action="store_true", help="overwrite an existing database")
    restore.set_defaults(func=cmd_restore)
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["serve", *(argv or [])])
    # Flags override the environment (and so reach worker processes, which read the environment too).
    for flag, variable in (("host", "AFTERGLOW_HOST"), ("port", "AFTERGLOW_PORT")):
        if getattr(args, flag, None) is not None:
            os.environ[variable] = str(getattr(args, flag))
    try:
        settings = load_settings()
        args.func(settings, args)
    except SettingsError as exc:
        _fail(str(exc), code=2)
    except MigrationError as exc:
        _fail(f"cannot start: {exc}")


if __name__ == "__main__":
    main()
