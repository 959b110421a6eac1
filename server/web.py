"""Small helpers every feature's routes share: pages, forms, cookies, redirects."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import Cookie
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template

from server.clock import parse_iso
from server.security.sessions import ABSOLUTE_LIMIT, SESSION_COOKIE, CurrentUser
from server.settings import Settings

CLEAR_SITE_DATA = '"cache", "cookies", "storage"'
HOME_BY_ROLE = {"patient": "/home", "therapist": "/clinic", "admin": "/admin"}


def page(request: Request[Any, Any, Any], template: str, *, status: int = 200, **context: Any) -> Template:
    """Render a page with the signed-in user (or None) available to the layout."""
    return Template(
        template_name=template,
        context={"user": request.scope.get("user"), **context},
        status_code=status,
    )


def home_path(user: CurrentUser | None) -> str:
    return HOME_BY_ROLE[user.role] if user else "/login"


def safe_next(raw: str | None, fallback: str) -> str:
    """Only same-site paths, so a crafted link cannot send someone elsewhere after sign-in."""
    if raw and raw.startswith("/") and not raw.startswith("//") and "\\" not in raw:
        return raw
    return fallback


async def form_fields(request: Request[Any, Any, Any], *names: str) -> dict[str, str]:
    form = await request.form()
    values = {}
    for name in names:
        value = form.get(name)
        values[name] = value if isinstance(value, str) else ""
    return values


def session_cookie(settings: Settings, session_id: str, role: str) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value=session_id,
        max_age=int(ABSOLUTE_LIMIT[role].total_seconds()),
        path="/",
        httponly=True,
        secure=settings.secure_cookies,
        samesite="lax",
    )


def expired_session_cookie(settings: Settings) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value="",
        max_age=0,
        expires=0,
        path="/",
        httponly=True,
        secure=settings.secure_cookies,
        samesite="lax",
    )


def redirect(path: str, *, cookies: list[Cookie] | None = None, headers: dict[str, str] | None = None) -> Redirect:
    return Redirect(path=path, status_code=303, cookies=cookies, headers=headers)


def ago(moment: str, now: str) -> str:
    """'3 days ago' for a stored UTC timestamp, relative to ``now`` (also stored form)."""
    seconds = (parse_iso(now) - parse_iso(moment)).total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


def dialable(number: str) -> str:
    """A phone number as a tel:/sms: link wants it: digits and a leading +, nothing else."""
    digits = "".join(ch for ch in number if ch.isdigit())
    return ("+" + digits) if number.strip().startswith("+") else digits


def register_template_globals(engine: JinjaTemplateEngine) -> None:
    # Templates ship with the code: checking each one's mtime on every render is a stat() per template.
    engine.engine.auto_reload = False
    engine.engine.globals["ago"] = ago
    engine.engine.filters["dialable"] = dialable
