"""Routes of reminders (push subscriptions, reminder preferences)."""

from __future__ import annotations

from typing import Any

# Registered by server.app; a feature adds its controllers here and nowhere else.
ROUTES: list[Any] = []
