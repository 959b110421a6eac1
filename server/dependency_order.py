"""Resolve a handler's dependencies one after another instead of concurrently, and call the plain ones
directly.

Litestar 2 resolves each level of a handler's dependency graph with an anyio task group, a task per
dependency, whenever a level holds two or more. Every provider of this app is a plain function that reads
the app's state or the request (database, clock, caller, client address), so the tasks run nothing
concurrently: they only cost their creation and extra passes of the event loop. Under load that was the
largest single cost of a check-in PUT on the event loop (tests/bench/README.md, "what-if DI"), so
``install()`` replaces the resolution with the same levels, in the same order, in sequence.

Litestar also validates each provider's arguments against a signature model (a ``msgspec.convert`` of all
the request's keyword arguments, per provider, per request). For a provider whose only parameters are
``state`` and ``request`` there is nothing to validate: they are the app's ``State`` and the request
itself, which is what the conversion would hand over. Those are called with them directly.

Litestar is pinned below 3; ``install()`` refuses to run if the internals it relies on have moved, and
tests/test_dependency_order.py proves a request spawns no task for its dependencies.
"""

from __future__ import annotations

from typing import Any

from litestar._kwargs.cleanup import DependencyCleanupGroup
from litestar._kwargs.dependencies import resolve_dependency
from litestar._kwargs.kwargs_model import KwargsModel
from litestar.connection import ASGIConnection
from litestar.di import Provide

PLAIN_PARAMETERS = frozenset({"state", "request"})


def is_plain(provide: Provide) -> bool:
    """A synchronous, uncached, non-generator provider that takes only ``state`` and/or ``request``."""
    return (
        provide.has_sync_callable
        and not provide.use_cache
        and not provide.has_sync_generator_dependency
        and not provide.has_async_generator_dependency
        and PLAIN_PARAMETERS.issuperset(provide.signature_model._fields)
    )


def plain_arguments(provide: Provide, connection: ASGIConnection[Any, Any, Any, Any]) -> dict[str, Any]:
    fields = provide.signature_model._fields
    arguments: dict[str, Any] = {}
    if "state" in fields:
        arguments["state"] = connection.app.state
    if "request" in fields:
        arguments["request"] = connection
    return arguments


async def _resolve_in_sequence(
    self: KwargsModel, connection: ASGIConnection[Any, Any, Any, Any], kwargs: dict[str, Any]
) -> DependencyCleanupGroup:
    cleanup_group = DependencyCleanupGroup()
    for batch in self.dependency_batches:
        for dependency in batch:
            provide = dependency.provide
            if is_plain(provide):
                kwargs[dependency.key] = provide.dependency(**plain_arguments(provide, connection))
            else:
                await resolve_dependency(dependency, connection, kwargs, cleanup_group)
    return cleanup_group


def install() -> None:
    if "dependency_batches" not in KwargsModel.__slots__:
        raise RuntimeError("Litestar's KwargsModel changed: review server/dependency_order.py")
    if not {"has_sync_callable", "use_cache", "signature_model", "dependency"} <= set(Provide.__slots__):
        raise RuntimeError("Litestar's Provide changed: review server/dependency_order.py")
    KwargsModel.resolve_dependencies = _resolve_in_sequence  # type: ignore[method-assign]
