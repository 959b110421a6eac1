"""Resolve a handler's dependencies one after another instead of concurrently.

Litestar 2 resolves each level of a handler's dependency graph with an anyio task group, a task per
dependency, whenever a level holds two or more. Every provider of this app is a plain function that reads
the app's state or the request (database, clock, caller, client address), so the tasks run nothing
concurrently: they only cost their creation and extra passes of the event loop. Under load that was the
largest single cost of a check-in PUT on the event loop (tests/bench/README.md, "what-if DI"), so
``install()`` replaces the resolution with the same levels, in the same order, in sequence.

Litestar is pinned below 3; ``install()`` refuses to run if the internals it relies on have moved, and
tests/test_dependency_order.py proves a request spawns no task for its dependencies.
"""

from __future__ import annotations

from typing import Any

from litestar._kwargs.cleanup import DependencyCleanupGroup
from litestar._kwargs.dependencies import resolve_dependency
from litestar._kwargs.kwargs_model import KwargsModel
from litestar.connection import ASGIConnection


async def _resolve_in_sequence(
    self: KwargsModel, connection: ASGIConnection[Any, Any, Any, Any], kwargs: dict[str, Any]
) -> DependencyCleanupGroup:
    cleanup_group = DependencyCleanupGroup()
    for batch in self.dependency_batches:
        for dependency in batch:
            await resolve_dependency(dependency, connection, kwargs, cleanup_group)
    return cleanup_group


def install() -> None:
    if "dependency_batches" not in KwargsModel.__slots__:
        raise RuntimeError("Litestar's KwargsModel changed: review server/dependency_order.py")
    KwargsModel.resolve_dependencies = _resolve_in_sequence  # type: ignore[method-assign]
