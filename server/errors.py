"""Errors: JSON ``{"detail", "errors"}`` under /api/, friendly pages elsewhere, never a traceback."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

log = logging.getLogger("afterglow")


class FieldError(HTTPException):
    """One field's value is refused; the message names the field and says how to fix it."""

    status_code = 422

    def __init__(self, field: str, message: str) -> None:
        super().__init__(detail=message, extra=[{"field": field, "message": message}])
        self.field = field

    def __reduce__(self) -> tuple[type[FieldError], tuple[str, str]]:
        # Raised in the writer process and raised again in the worker: pickled with its own arguments.
        return FieldError, (self.field, self.detail)


class ConflictError(HTTPException):
    status_code = 409


def is_api(request: Request[Any, Any, Any]) -> bool:
    return request.url.path.startswith("/api/")


def field_errors(exc: HTTPException) -> list[dict[str, str]]:
    """Normalise Litestar's validation ``extra`` ({key, message, source}) to [{field, message}]."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    errors = []
    for item in extra:
        if isinstance(item, dict):
            field = str(item.get("field") or item.get("key") or "")
            errors.append({"field": field, "message": str(item.get("message", ""))})
    return errors


FRIENDLY = {
    400: ("Something in that request was not right", "Please go back and check what you entered."),
    401: ("Please sign in", "Your session has ended. Sign in again to continue."),
    403: ("Not allowed", "This page is not available for your account, or the form was out of date."),
    404: ("Not found", "We could not find that page."),
    405: ("Not allowed", "That action is not available here."),
    409: ("Already changed", "Someone changed this at the same time. Please reload and try again."),
    413: ("Too large", "That was more than we can accept at once."),
    422: ("Please check your entry", "Something you entered needs a change."),
    429: ("Please wait a moment", "There were too many attempts. Please wait and try again."),
}


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if isinstance(exc, ValidationException) and not exc.detail:
        exc.detail = "Invalid request"
    partial = request.scope.get("partial_user")
    stage = getattr(partial, "stage", None)
    if is_api(request):
        # status_code too: it is what the OpenAPI document promises for every error response.
        body: dict[str, Any] = {"status_code": status, "detail": exc.detail, "errors": field_errors(exc)}
        if isinstance(exc, NotAuthorizedException) and stage is not None:
            # Half-way through signing in: say what is missing rather than only "sign in".
            body["mfa_required" if stage == "mfa" else "mfa_enrolment_required"] = True
        if isinstance(exc.extra, dict):
            body.update(exc.extra)  # e.g. a 409's "current": the stored copy the client should keep beside its own
        return Response(content=body, status_code=status, headers=exc.headers, media_type=MediaType.JSON)
    if isinstance(exc, NotAuthorizedException) and request.method == "GET":
        if stage is not None:
            return Redirect(path="/login/code" if stage == "mfa" else "/account/two-factor")
        return Redirect(path=f"/login?next={quote(request.url.path)}")
    title, text = FRIENDLY.get(status, ("Something went wrong", "Please try again in a moment."))
    return Template(
        template_name="error.html",
        context={"status": status, "title": title, "text": text},
        status_code=status,
        headers=exc.headers,
    )


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # Log the kind and place of the failure only: the exception's message may quote what a patient wrote.
    log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.scope.get("path_template", "?"))
    status = HTTP_500_INTERNAL_SERVER_ERROR
    if is_api(request):
        return Response(
            content={
                "detail": "Something went wrong on our side. Nothing was lost; please try again.",
                "errors": [],
            },
            status_code=status,
            media_type=MediaType.JSON,
        )
    return Template(
        template_name="error.html",
        context={
            "status": status,
            "title": "Something went wrong",
            "text": "Something went wrong on our side. Please try again in a moment.",
        },
        status_code=status,
    )


exception_handlers: dict[type[Exception] | int, Any] = {
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}
