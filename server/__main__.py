"""The ``afterglow`` command line (also ``python -m server``)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from server.clock import SystemClock
from server.db import Database, MigrationError, apply_migrations, connect_sync
from server.settings import Settings, SettingsError, load_settings

T = TypeVar("T")


def _fail(message: str, code: int = 1) -> None:
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


def cmd_serve(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    from server.accounts.service import issue_setup_link

    _migrate(settings)
    link = _with_db(settings, lambda db: issue_setup_link(db, SystemClock(), settings.base_url))
    if link:
        print("No accounts yet. Open this one-time link (valid for 1 hour) to create the clinic and its admin:")
        print(f"  {link}", flush=True)
    uvicorn.run(
        "server.asgi:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=args.workers,
        log_level="info",
        # Access logs would record one-time tokens in /invite/ and /setup/ URLs; the audit trail is the record.
        access_log=False,
        proxy_headers=False,
        server_header=False,
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
    target = Path(args.path)
    if target.exists():
        _fail(f"{target} already exists; choose a new file name")
    source = connect_sync(settings.database_path)
    copy = sqlite3.connect(target)
    try:
        # The online backup API copies a consistent snapshot while the server keeps writing.
        source.backup(copy)
        result = copy.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        copy.close()
        source.close()
    if result != "ok":
        _fail(f"the backup at {target} failed its integrity check: {result}")
    print(f"backup written to {target} (integrity check ok)")


def cmd_restore(settings: Settings, args: argparse.Namespace) -> None:
    source_path = Path(args.path)
    if not source_path.is_file():
        _fail(f"{source_path} does not exist")
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
    try:
        if source.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            _fail(f"{source_path} failed its integrity check; nothing was restored")
        if settings.database_path.exists() and not args.force:
            _fail(f"{settings.database_path} exists; stop the server and add --force to overwrite it")
        target = connect_sync(settings.database_path)
        try:
            source.backup(target)
        finally:
            target.close()
    finally:
        source.close()
    _migrate(settings)
    print(f"restored {source_path} into {settings.database_path}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="afterglow", description="Afterglow integration journal")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="apply migrations and serve the app (default)")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--workers", type=int, default=1)
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
