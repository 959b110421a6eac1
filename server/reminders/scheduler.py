"""The reminder scheduler, started by the app's lifespan."""

from __future__ import annotations

from litestar.datastructures import State


async def run(state: State) -> None:
    """Run until cancelled. (Sends nothing yet.)"""
    return None
