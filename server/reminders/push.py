"""Sending one Web Push message (RFC 8030) with pywebpush: encrypted for the device (RFC 8291, aes128gcm)
and signed with our VAPID key (RFC 8292). Also the rule for which push services we agree to talk to."""

from __future__ import annotations

import enum
import ipaddress
import json
import logging
from urllib.parse import urlsplit

import aiohttp
from py_vapid import Vapid  # type: ignore[import-untyped]
from pywebpush import WebPushException, webpush_async  # type: ignore[import-untyped]

from server.reminders.vapid import VapidKeys

log = logging.getLogger("afterglow.reminders")

# Reminders are about today: a phone that is off for longer should not get a stale one.
TTL_SECONDS = 6 * 3600
TIMEOUT = aiohttp.ClientTimeout(total=15)
LOOPBACK_NAMES = {"localhost"}


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    GONE = "gone"  # 404/410: the subscription expired or was revoked; delete it
    FAILED = "failed"


def payload(title: str, body: str, tag: str) -> str:
    """What the service worker shows. Always opens the app's home, where the in-app reminders are."""
    return json.dumps({"title": title, "body": body, "tag": tag, "url": "/home"}, separators=(",", ":"))


def endpoint_allowed(endpoint: str, services: tuple[str, ...]) -> bool:
    """Only https endpoints of a known push service: the server POSTs to this URL, so an arbitrary one would
    let anyone with an account make it call any address. Plain http only for a loopback host that the
    operator listed on purpose (the tests' own push service)."""
    parts = urlsplit(endpoint)
    host = (parts.hostname or "").lower()
    if not host or parts.username or parts.password:
        return False
    known = any(host == s or host.endswith("." + s) for s in services)
    if parts.scheme == "https":
        return known
    return parts.scheme == "http" and known and _is_loopback(host)


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def send(
    http: aiohttp.ClientSession,
    *,
    endpoint: str,
    p256dh: str,
    auth: str,
    data: str,
    keys: VapidKeys,
    subject: str,
) -> Outcome:
    try:
        await webpush_async(
            subscription_info={"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}},
            data=data,
            vapid_private_key=Vapid(keys.private_key),
            vapid_claims={"sub": subject},  # a fresh dict each time: pywebpush adds aud and exp to it
            ttl=TTL_SECONDS,
            headers={"Urgency": "normal"},
            aiohttp_session=http,
            timeout=TIMEOUT,
        )
    except WebPushException as exc:
        status = exc.status_code
        if status in (404, 410):
            return Outcome.GONE
        # Never the endpoint (a capability URL) nor the message: only what kind of failure it was.
        log.warning("push refused with status %s", status)
        return Outcome.FAILED
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        log.warning("push failed: %s", type(exc).__name__)
        return Outcome.FAILED
    return Outcome.DELIVERED
