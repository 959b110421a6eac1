"""Shapes of the reminders API: preferences, push subscriptions and the reminders due now."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

ReminderKind = Literal["checkin", "intention", "capture", "reflection", "questionnaire"]
LocalTime = Annotated[str, Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="Local time, HH:MM")]
Base64Url = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_-]+={0,2}$", min_length=16, max_length=128)]


class PreferencesIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Which reminders to get, and when to keep quiet. A field left out keeps its value; quiet hours are
    set with both ``quiet_start`` and ``quiet_end`` and turned off with both null."""

    checkin: bool | UnsetType = UNSET
    intention: bool | UnsetType = UNSET
    capture: bool | UnsetType = UNSET
    reflection: bool | UnsetType = UNSET
    questionnaire: bool | UnsetType = UNSET
    quiet_start: LocalTime | UnsetType | None = UNSET
    quiet_end: LocalTime | UnsetType | None = UNSET


class PreferencesOut(msgspec.Struct, kw_only=True):
    checkin: bool
    intention: bool
    capture: bool
    reflection: bool
    questionnaire: bool
    quiet_start: str | None
    quiet_end: str | None
    reminder_time: str  # the daily check-in time, set with PUT /api/v1/me/settings
    timezone: str


class SubscriptionKeys(msgspec.Struct, forbid_unknown_fields=True):
    p256dh: Base64Url
    auth: Base64Url


class SubscriptionIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A browser's PushSubscription.toJSON(), as it comes."""

    endpoint: Annotated[str, Meta(min_length=12, max_length=1000)]
    keys: SubscriptionKeys
    expiration_time: float | None = msgspec.field(default=None, name="expirationTime")


class SubscriptionOut(msgspec.Struct, kw_only=True):
    id: str
    user_agent: str
    created_at: str
    last_success_at: str | None


class SubscriptionList(msgspec.Struct):
    items: list[SubscriptionOut]


class PublicKey(msgspec.Struct):
    """The VAPID public key, for PushManager.subscribe({applicationServerKey})."""

    public_key: str


class ReminderOut(msgspec.Struct, kw_only=True, frozen=True):
    kind: ReminderKind
    occasion: str
    text: str
    link: str


class ReminderList(msgspec.Struct):
    items: list[ReminderOut]
