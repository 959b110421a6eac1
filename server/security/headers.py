"""Security headers on every response, errors and 404s included.

Applied from the app-level ``before_send`` hook because that wraps ``send`` outside Litestar's
per-route exception handling: a response made from an exception raised in a middleware (CSRF, say)
still passes through here.
"""

from __future__ import annotations

from litestar.types import Message, Scope

from server.settings import Settings

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        "worker-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


def security_headers_hook(settings: Settings):  # type: ignore[no-untyped-def]
    fixed = {
        "content-security-policy": CONTENT_SECURITY_POLICY,
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "x-frame-options": "DENY",
        "cross-origin-opener-policy": "same-origin",
        "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=()",
        # Blank rather than absent: `afterglow serve` tells uvicorn to send none, but granian (which the
        # benchmarks also run the app under) adds "server: granian" to a response that carries none, with
        # no setting to leave it out (emmett-framework/granian#594). Nothing says what serves the app.
        "server": "",
    }
    if settings.is_https:
        fixed["strict-transport-security"] = "max-age=63072000; includeSubDomains"
    # Encoded once: this runs on every response, and setting names one by one rescans the list each time.
    fixed_raw = [(name.encode(), value.encode()) for name, value in fixed.items()]
    fixed_names = {name for name, _ in fixed_raw}
    no_store = (b"cache-control", b"no-store")

    async def add_headers(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = [(name, value) for name, value in message.get("headers", ()) if name.lower() not in fixed_names]
        headers.extend(fixed_raw)
        # Anything not explicitly cacheable (static assets say so) may hold patient data: never store it.
        if not any(name.lower() == b"cache-control" for name, _ in headers):
            headers.append(no_store)
        message["headers"] = headers

    return add_headers
