"""A request resolves its dependencies without spawning a task for each (server/dependency_order.py):
Litestar would otherwise open a task group per request for the plain providers of a check-in PUT."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from tests.conftest import Client, People


def tasks_spawned_by(client: Client, request: Callable[[], Any]) -> int:
    spawned: list[object] = []

    def counting_factory(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], **kwargs: Any) -> Any:
        spawned.append(coro)
        return asyncio.Task(coro, loop=loop, **kwargs)

    def set_factory(factory: Any) -> None:
        asyncio.get_running_loop().set_task_factory(factory)

    client.blocking_portal.call(set_factory, counting_factory)
    try:
        response = request()
    finally:
        client.blocking_portal.call(set_factory, None)
    assert response.status_code < 300, response.text
    return len(spawned)


def test_a_check_in_put_spawns_no_more_tasks_than_a_route_without_dependencies(client: Client, people: People) -> None:
    client.login(people.patient_a.email)
    without_dependencies = tasks_spawned_by(client, lambda: client.get("/healthz"))
    # Database, clock, caller and actor: four providers, one level of the dependency graph.
    check_in = tasks_spawned_by(client, lambda: client.put(f"/api/v1/checkins/{uuid.uuid4()}", json={"mood": 6}))

    assert without_dependencies > 0, "the factory saw none of the request's own tasks"
    assert check_in <= without_dependencies + 2, (check_in, without_dependencies)  # + the writer's own two
