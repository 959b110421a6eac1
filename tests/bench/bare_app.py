"""The baseline: a bare Litestar app with one route that takes the same check-in PUT body as the real one,
decodes it with msgspec (the same ``CheckinIn`` schema, so the same validation) and echoes it with 201.
No database, no sessions, no CSRF, no middleware: what one worker of the chosen ASGI server can do at best.

    granian --interface asgi --workers 1 tests.bench.bare_app:app
"""

from __future__ import annotations

from uuid import UUID

from litestar import Litestar, Response, get, put

from server.journal.schemas import CheckinIn


@put("/api/v1/checkins/{entry_id:uuid}", status_code=201)
async def put_checkin(entry_id: UUID, data: CheckinIn) -> Response[CheckinIn]:
    return Response(data, status_code=201)


@get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


app = Litestar(route_handlers=[put_checkin, healthz], debug=False, openapi_config=None)
