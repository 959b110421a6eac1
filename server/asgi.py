"""ASGI entry point for servers that import the app (``uvicorn --factory server.asgi:app_from_env``)."""

from __future__ import annotations

from litestar import Litestar

from server.app import create_app
from server.settings import load_settings


def app_from_env() -> Litestar:
    return create_app(load_settings())
