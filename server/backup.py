"""Backups: a consistent copy of the live database, checked, with scheduled runs and retention."""

from __future__ import annotations

from litestar.datastructures import State


async def run_scheduled(state: State) -> None:
    """Run until cancelled, taking backups on the configured schedule. (Takes none yet.)"""
    return None
