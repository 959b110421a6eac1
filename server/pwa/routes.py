"""Routes of the installable web app (manifest, service worker, offline shell)."""

from __future__ import annotations

from typing import Any

# Registered by server.app; a feature adds its controllers here and nowhere else.
ROUTES: list[Any] = []
