"""Who is calling: the ``user`` dependency and role guards (the session itself is read in gate.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar.connection import ASGIConnection, Request
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from server.security.audit import Actor
from server.security.sessions import CurrentUser


def provide_user(request: Request[Any, Any, Any]) -> CurrentUser:
    user: CurrentUser | None = request.scope.get("user")
    if user is None:
        raise NotAuthorizedException("Please sign in.")
    return user


def _caller(connection: ASGIConnection[Any, Any, Any, Any]) -> CurrentUser | None:
    scope: dict[str, Any] = connection.scope  # type: ignore[assignment]
    found: CurrentUser | None = scope.get("user") or scope.get("partial_user")
    return found


def provide_any_session_user(request: Request[Any, Any, Any]) -> CurrentUser:
    """The caller, signed in fully or still finishing a second factor (for those routes only)."""
    user = _caller(request)
    if user is None:
        raise NotAuthorizedException("Please sign in.")
    return user


def provide_actor(request: Request[Any, Any, Any]) -> Actor:
    user = _caller(request)
    return Actor(
        user_id=user.id if user else None,
        role=user.role if user else None,
        client_address=client_address(request),
    )


def client_address(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    return connection.client.host if connection.client else "unknown"


Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]


def require_roles(*roles: str) -> Guard:
    """A guard: signed in with one of ``roles``. A wrong role is 403: it reveals no patient's existence.

    A coroutine function on purpose: Litestar runs a plain function guard in a worker thread, a thread hop
    on every request for what is a dictionary lookup.
    """

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        user: CurrentUser | None = connection.scope.get("user")
        if user is None:
            raise NotAuthorizedException("Please sign in.")
        if user.role not in roles:
            raise PermissionDeniedException("This is not available for your account.")

    return guard


signed_in = require_roles("admin", "therapist", "patient")
clinicians_only = require_roles("admin", "therapist")
therapists_only = require_roles("therapist")
admins_only = require_roles("admin")
patients_only = require_roles("patient")
