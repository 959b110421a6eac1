"""Random tokens for sessions, invitations and set-up links. Only their hashes are ever stored."""

from __future__ import annotations

import hashlib
import secrets


def new_token() -> str:
    """256 bits from the OS's CSPRNG, URL-safe."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
