"""The application factory: ``create_app(settings)`` wires routes, middleware, the database and templates."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from litestar import Litestar, Request, Response, get
from litestar.config.compression import CompressionConfig
from litestar.datastructures import CacheControlHeader, State
from litestar.di import Provide
from litestar.logging import LoggingConfig
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig

from server import backup, dependency_order
from server.accounts import resets as accounts_resets
from server.accounts import routes as accounts_routes
from server.accounts.service import Client
from server.admin import erasure as admin_erasure
from server.admin import routes as admin_routes
from server.clinic import routes as clinic_routes
from server.clock import Clock, SystemClock
from server.db import Database, apply_migrations, connect_sync
from server.errors import exception_handlers
from server.exports import routes as exports_routes
from server.journal import api as journal_api
from server.journal import routes as journal_routes
from server.measures import flags
from server.pwa import routes as pwa_routes
from server.reminders import routes as reminders_routes
from server.reminders import scheduler
from server.security.auth import (
    client_address,
    provide_actor,
    provide_any_session_user,
    provide_user,
)
from server.security.gate import RequestGate
from server.security.headers import security_headers_hook
from server.settings import Settings
from server.web import register_template_globals

ROOT = Path(__file__).resolve().parent
PWA_DIR = ROOT.parent / "pwa"
MAX_BODY_BYTES = 1024 * 1024
# One entry (or other resource) by its UUID under the JSON API: a few hundred bytes, which gzip would
# barely shrink, for the cost of a compressor per request on the hottest route (the outbox's PUTs). Lists,
# exports and every page are still compressed.
ONE_API_RESOURCE = r"^/api/v1/[a-z-]+/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


@get("/healthz", include_in_schema=False)
async def healthz(state: State) -> Response[dict[str, str]]:
    try:
        await state.db.fetch_one("SELECT 1")
    except Exception:  # the point is to report, not to raise
        return Response({"status": "unavailable", "database": "unreachable"}, status_code=503)
    return Response({"status": "ok", "database": "ok"})


def _provide_db(state: State) -> Database:
    db: Database = state.db
    return db


def _provide_settings(state: State) -> Settings:
    settings: Settings = state.settings
    return settings


def _provide_clock(state: State) -> Clock:
    clock: Clock = state.clock
    return clock


def _provide_client(request: Request[Any, Any, Any]) -> Client:
    return Client(address=client_address(request), user_agent=request.headers.get("user-agent", "")[:300])


def _migrate(path: Path) -> None:
    conn = connect_sync(path)
    try:
        apply_migrations(conn)
    finally:
        conn.close()


def create_app(
    settings: Settings, *, clock: Clock | None = None, readers: int = 3, writer_process: bool = False
) -> Litestar:
    dependency_order.install()
    db = Database(settings.database_path, readers=readers, writer_process=writer_process)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        # Idempotent, and refuses an edited migration or a newer database before any request is served.
        await asyncio.to_thread(_migrate, settings.database_path)
        await db.open()
        background = [
            asyncio.create_task(task(app.state)) for task in (scheduler.run, backup.run_scheduled, flags.watch)
        ]
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            for task in background:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await db.close()

    return Litestar(
        route_handlers=[
            healthz,
            *accounts_routes.ROUTES,
            *accounts_resets.ROUTES,
            *admin_routes.ROUTES,
            *admin_erasure.ROUTES,
            *clinic_routes.ROUTES,
            *journal_api.ROUTES,
            *journal_routes.ROUTES,
            *exports_routes.ROUTES,
            *pwa_routes.ROUTES,
            *reminders_routes.ROUTES,
            create_static_files_router(
                path="/static",
                directories=[PWA_DIR],
                include_in_schema=False,
                cache_control=CacheControlHeader(no_cache=True),
            ),
        ],
        state=State({"db": db, "settings": settings, "clock": clock or SystemClock()}),
        dependencies={
            "db": Provide(_provide_db, sync_to_thread=False),
            "settings": Provide(_provide_settings, sync_to_thread=False),
            "clock": Provide(_provide_clock, sync_to_thread=False),
            "user": Provide(provide_user, sync_to_thread=False),
            "any_user": Provide(provide_any_session_user, sync_to_thread=False),
            "actor": Provide(provide_actor, sync_to_thread=False),
            "client": Provide(_provide_client, sync_to_thread=False),
        },
        lifespan=[lifespan],
        middleware=[DefineMiddleware(RequestGate, settings=settings)],
        before_send=[security_headers_hook(settings)],
        exception_handlers=exception_handlers,
        template_config=TemplateConfig(
            directory=ROOT / "templates", engine=JinjaTemplateEngine, engine_callback=register_template_globals
        ),
        openapi_config=OpenAPIConfig(
            title="Afterglow API",
            version="1.0.0",
            path="/api/v1/schema",
            render_plugins=[JsonRenderPlugin()],
        ),
        request_max_body_size=MAX_BODY_BYTES,
        # A phone on a slow network pays for every byte; level 6 is zlib's default, most of level 9's
        # saving for a fraction of its CPU. Forged requests are refused by the Origin check whatever an
        # attacker might learn about the CSRF token from compressed lengths.
        compression_config=CompressionConfig(backend="gzip", gzip_compress_level=6, exclude=ONE_API_RESOURCE),
        logging_config=LoggingConfig(log_exceptions="never"),
        debug=False,
    )
