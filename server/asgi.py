"""ASGI entry point for servers that import the app (``uvicorn --factory server.asgi:app_from_env``)."""

from __future__ import annotations

import gc

from litestar import Litestar

from server.app import create_app
from server.settings import load_settings


def _freeze_start_up_objects() -> None:
    # A served process keeps what start-up made (Litestar, the routes, Jinja, the app) until it exits:
    # moved out of the collector's reach, the collector's full passes no longer walk it, and their pauses
    # leave the requests' p99. Here rather than in create_app, so that tests making an app each do not
    # keep every one of them alive.
    gc.collect()
    gc.freeze()


def app_from_env() -> Litestar:
    app = create_app(load_settings())
    app.on_startup.append(_freeze_start_up_objects)
    return app
