"""What-ifs for the profile, not code to ship as is: the real app with one change each that lies outside
this work's files, to measure what it would buy (rows "what-if" in results.md).

``app_from_env``: Litestar resolves a handler's dependencies one after another instead of in an anyio
task group per batch.

Litestar 2 spawns a task group (a task per dependency) whenever a batch holds two or more dependencies,
even when every provider is a plain function (ours are: db, clock, user, actor, client); the profile of a
check-in PUT shows that as the largest single cost on the event loop. The fix belongs in server/app.py
(chain the providers, or give the handlers one context dependency); this measures what it would buy.

    uvicorn --factory tests.bench.whatif:app_from_env
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar._kwargs.dependencies import resolve_dependency
from litestar._kwargs.kwargs_model import KwargsModel
from litestar.connection import ASGIConnection

from server.asgi import app_from_env as real_app_from_env


async def _sequential(self: KwargsModel, connection: ASGIConnection[Any, Any, Any, Any], kwargs: dict[str, Any]) -> Any:
    from litestar._kwargs.cleanup import DependencyCleanupGroup

    cleanup_group = DependencyCleanupGroup()
    for batch in self.dependency_batches:
        for dependency in batch:
            await resolve_dependency(dependency, connection, kwargs, cleanup_group)
    return cleanup_group


def app_from_env() -> Litestar:
    KwargsModel.resolve_dependencies = _sequential  # type: ignore[method-assign]
    return real_app_from_env()


def app_with_frozen_gc() -> Litestar:
    """The real app with the objects of start-up moved out of the collector's reach (gc.freeze): the
    collector's full passes otherwise walk every object of Litestar, Jinja and the app, a pause that shows
    in the check-in PUT's p99. In production this would be one line at the end of the lifespan's start."""
    import gc

    app = real_app_from_env()
    gc.collect()
    gc.freeze()
    return app


def app_with_both() -> Litestar:
    """Both of the above."""
    import gc

    KwargsModel.resolve_dependencies = _sequential  # type: ignore[method-assign]
    app = real_app_from_env()
    gc.collect()
    gc.freeze()
    return app
