"""The reminder scheduler, started by the app's lifespan: once a minute, push the reminders that are due.

Each worker process runs one. A reminder is sent by whichever claims it first: the claim is a row with a
unique key (patient, kind, occasion) inserted with ON CONFLICT DO NOTHING in a write transaction, so with
any number of processes each reminder goes out once. The push itself happens after the claim's
transaction, so no network wait ever holds the database's write lock.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket

import aiohttp
from litestar.datastructures import State

from server.clock import Clock, iso
from server.db import Database
from server.reminders import due, push, queries, service
from server.reminders.vapid import VapidKeys, load_or_create
from server.security import sessions
from server.settings import Settings

log = logging.getLogger("afterglow.reminders")
INTERVAL_SECONDS = 60


def instance_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


async def run(state: State) -> None:
    """Run until cancelled. The first pass waits one interval, so a starting server answers first."""
    settings: Settings = state.settings
    keys = await asyncio.to_thread(load_or_create, settings.var_dir)  # "generated on first start"
    name = instance_name()
    while True:
        await asyncio.sleep(INTERVAL_SECONDS)
        try:
            await run_once(state.db, state.clock, settings, instance=name, keys=keys)
        except Exception as exc:  # one failed pass must not stop the reminders for good
            log.error("reminder pass failed: %s", type(exc).__name__)


async def run_once(
    db: Database, clock: Clock, settings: Settings, *, instance: str | None = None, keys: VapidKeys | None = None
) -> int:
    """One pass over every patient with a device: claim what is due and push it. Returns how many
    reminders this pass claimed (and so sent); tests call it directly with their clock."""
    vapid: VapidKeys = keys if keys is not None else await asyncio.to_thread(load_or_create, settings.var_dir)
    instance = instance or instance_name()
    sent = 0
    await sessions.end_expired_sessions(db, clock.now())
    async with aiohttp.ClientSession(timeout=push.TIMEOUT) as http:
        for row in await queries.patients_with_devices(db):
            facts = await service.facts_for(db, clock, row)
            now = clock.now()
            if due.in_quiet_hours(facts.prefs, now):
                continue  # left unclaimed: it goes out after the quiet hours if it is still due
            for reminder in due.due(facts, now):
                async with db.transaction() as conn:
                    won = await queries.claim(
                        conn, row["patient_id"], reminder.kind, reminder.occasion, iso(now), instance
                    )
                if won:
                    delivered = await _deliver(
                        db, clock, settings, http, vapid, row["patient_id"], reminder.kind, reminder.text
                    )
                    async with db.transaction() as conn:
                        await queries.record_delivery(
                            conn, row["patient_id"], reminder.kind, reminder.occasion, delivered
                        )
                    sent += 1
    return sent


async def _deliver(
    db: Database,
    clock: Clock,
    settings: Settings,
    http: aiohttp.ClientSession,
    keys: VapidKeys,
    patient_id: str,
    kind: str,
    text: str,
) -> int:
    """Push one reminder to each of the patient's devices; forget devices the push service says are gone."""
    data = push.payload(due.TITLE, text, kind)
    delivered = 0
    for device in await queries.subscriptions_of(db, patient_id):
        outcome = await push.send(
            http,
            endpoint=device["endpoint"],
            p256dh=device["p256dh"],
            auth=device["auth"],
            data=data,
            keys=keys,
            subject=settings.vapid_subject,
        )
        async with db.transaction() as conn:
            if outcome is push.Outcome.GONE:
                await queries.delete_subscription(conn, device["id"])
            else:
                await queries.record_push_result(
                    conn, device["id"], ok=outcome is push.Outcome.DELIVERED, now=iso(clock.now())
                )
        delivered += outcome is push.Outcome.DELIVERED
    return delivered
