"""The gate every routed request passes before its handler: where it comes from, who sends it, and the
CSRF double-submit check, in one pass over the request's headers.

One plain ASGI middleware instead of three (an Origin check, a session middleware and Litestar's
CSRFMiddleware): each layer built a ``Headers`` or ``Request`` of its own, parsed the cookies again and
wrapped ``send``; on a check-in PUT they cost more than the rest of the request's framework work.

The order is the one the three layers had: a cross-site request is refused before anything is read from
the database; the session is resolved next (so an error page knows who is signed in); the CSRF token is
checked last.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from litestar._parsers import parse_cookie_string
from litestar.connection import Request
from litestar.enums import RequestEncodingType, ScopeType
from litestar.exceptions import PermissionDeniedException
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from litestar.utils.scope.state import ScopeState

from server.security.csrf import CSRF_COOKIE, CSRF_FORM_FIELD, CSRF_REFUSED, SAFE_METHODS, CsrfTokens, refuse_cross_site
from server.security.sessions import FULL, SESSION_COOKIE, load_session
from server.settings import Settings

FORM_TYPES = frozenset({RequestEncodingType.URL_ENCODED.value, RequestEncodingType.MULTI_PART.value})
# Static files carry no patient data and never need the caller: no session lookup for them.
STATIC_PREFIX = "/static/"


class RequestHeaders:
    """The few request headers the gate reads, found in one pass (ASGI names are lower-case bytes)."""

    __slots__ = ("content_type", "cookie", "csrf", "fetch_site", "host", "origin")

    def __init__(self, raw: Iterable[tuple[bytes, bytes]]) -> None:
        self.cookie = self.origin = self.fetch_site = self.csrf = self.content_type = None
        self.host = ""
        found: dict[bytes, bytes] = {}
        for name, value in raw:
            if name in _WANTED and name not in found:  # the first of repeated headers, as Litestar's Headers
                found[name] = value
        for name, value in found.items():
            setattr(self, _WANTED[name], value.decode("latin-1"))


_WANTED = {
    b"cookie": "cookie",
    b"origin": "origin",
    b"sec-fetch-site": "fetch_site",
    b"x-csrftoken": "csrf",
    b"content-type": "content_type",
    b"host": "host",
}


def media_type(content_type: str | None) -> str:
    return content_type.partition(";")[0].strip().lower() if content_type else ""


class RequestGate:
    """Refuse cross-site and CSRF-less unsafe requests; put the caller in ``scope["user"]``.

    A session half-way through two-factor sign-in is not a signed-in user: it is kept apart in
    ``scope["partial_user"]``, which only the routes that finish signing in read. Every other guard and
    route sees an anonymous caller, so no feature can forget to check the stage.

    The session is read from the database on every request (``load_session``), so signing out or
    disabling an account ends its sessions at once in every worker process.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.allowed_origin = settings.origin
        self.csrf = CsrfTokens(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        headers = RequestHeaders(scope["headers"])
        unsafe = scope["method"] not in SAFE_METHODS
        if unsafe:
            refuse_cross_site(self.allowed_origin, scope["scheme"], headers.host, headers.origin, headers.fetch_site)
        state = ScopeState.from_scope(scope)
        cookies: dict[str, str] = parse_cookie_string(headers.cookie) if headers.cookie else {}
        state.cookies = cookies  # what request.cookies returns later, not parsed a second time
        if not scope["path"].startswith(STATIC_PREFIX):
            await identify(scope, cookies.get(SESSION_COOKIE))
        cookie_token = cookies.get(CSRF_COOKIE)
        if unsafe:
            submitted = headers.csrf or await form_token(scope, receive, headers.content_type)
            if not (submitted and cookie_token and self.csrf.submitted_matches_cookie(submitted, cookie_token)):
                raise PermissionDeniedException(CSRF_REFUSED)
            state.csrf_token = cookie_token
            await self.app(scope, receive, send)
        elif cookie_token and self.csrf.is_signed(cookie_token):
            state.csrf_token = cookie_token
            await self.app(scope, receive, send)
        else:
            # No cookie yet (or one we never signed): the page gets a fresh token, and the cookie with it.
            state.csrf_token = token = self.csrf.new()
            await self.app(scope, receive, with_cookie(send, self.csrf.cookie_header(token)))


async def identify(scope: Scope, session_id: str | None) -> None:
    user = None
    if session_id:
        app_state = scope["litestar_app"].state
        user = await load_session(app_state.db, session_id, app_state.clock.now())
    full = user is not None and user.stage == FULL
    scope["user"] = user if full else None
    scope["partial_user"] = None if full else user  # type: ignore[typeddict-unknown-key]
    scope["auth"] = None


async def form_token(scope: Scope, receive: Receive, content_type: str | None) -> str | None:
    """The token an HTML form posts in its hidden field. The parsed form stays cached in the scope, so the
    handler reads it without a second parse."""
    if media_type(content_type) not in FORM_TYPES:
        return None
    request: Request[Any, Any, Any] = Request(scope, receive)
    value = (await request.form()).get(CSRF_FORM_FIELD)
    return value if isinstance(value, str) else None


def with_cookie(send: Send, set_cookie: bytes) -> Send:
    async def send_with_cookie(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), (b"set-cookie", set_cookie)]
        await send(message)

    return send_with_cookie
