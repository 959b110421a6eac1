"""CSRF: Litestar's double-submit cookie plus a check of where an unsafe request comes from."""

from __future__ import annotations

from litestar.config.csrf import CSRFConfig
from litestar.datastructures import Headers
from litestar.enums import ScopeType
from litestar.exceptions import PermissionDeniedException
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from server.settings import Settings

CSRF_COOKIE = "afterglow_csrf"
CSRF_HEADER = "X-CSRFToken"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def csrf_config(settings: Settings) -> CSRFConfig:
    # Not HttpOnly: the page's scripts read it to echo it in X-CSRFToken.
    return CSRFConfig(
        secret=settings.secret_key,
        cookie_name=CSRF_COOKIE,
        header_name=CSRF_HEADER,
        cookie_secure=settings.secure_cookies,
        cookie_samesite="lax",
        cookie_httponly=False,
    )


class OriginCheckMiddleware(ASGIMiddleware):
    """Refuse unsafe requests that a browser says come from another site.

    Browsers send ``Origin`` on every unsafe request they make, and ``Sec-Fetch-Site`` where supported.
    Clients that send neither (scripts, the test client) still need the CSRF token.
    """

    def __init__(self, settings: Settings) -> None:
        self.allowed_origin = settings.origin

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope["type"] == ScopeType.HTTP and scope.get("method", "GET") not in SAFE_METHODS:
            headers = Headers.from_scope(scope)
            fetch_site = headers.get("sec-fetch-site")
            if fetch_site is not None and fetch_site not in {"same-origin", "none"}:
                raise PermissionDeniedException("Cross-site request refused")
            # Under `Referrer-Policy: no-referrer` browsers send `Origin: null` even on same-site form
            # posts, so "null" proves nothing either way: Sec-Fetch-Site and the CSRF token decide.
            origin = headers.get("origin")
            if origin not in (None, "null"):
                own = f"{scope['scheme']}://{headers.get('host', '')}"
                if origin not in {self.allowed_origin, own}:
                    raise PermissionDeniedException("Cross-site request refused")
        await next_app(scope, receive, send)
