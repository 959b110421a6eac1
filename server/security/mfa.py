"""Time-based one-time passwords (RFC 6238, via pyotp), recovery codes, and the enrolment QR code."""

from __future__ import annotations

import hashlib
import io
import secrets
from datetime import datetime

import pyotp
import segno
from markupsafe import Markup

ISSUER = "Afterglow"
RECOVERY_CODE_COUNT = 10
# One step either side absorbs a phone clock that is up to 30 s off, and the moment a code rolls over.
VALID_WINDOW = 1


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def qr_svg(uri: str) -> Markup:
    """The QR code as inline SVG made on the server (no third-party image service ever sees the secret)."""
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(
        buffer, kind="svg", xmldecl=False, svgns=True, scale=5, border=2, dark="#000", light="#fff", title="QR code"
    )
    return Markup(buffer.getvalue().decode())  # noqa: S704 - segno's own markup, no user text inside


def matching_step(secret: str, code: str, now: datetime, last_used_step: int) -> int | None:
    """The time step this code belongs to, if it is valid now and newer than the last one used."""
    digits = "".join(ch for ch in code if ch.isdigit())
    if len(digits) != 6:
        return None
    totp = pyotp.TOTP(secret)
    step_now = int(now.timestamp()) // totp.interval
    for step in range(step_now - VALID_WINDOW, step_now + VALID_WINDOW + 1):
        if step > last_used_step and secrets.compare_digest(totp.generate_otp(step), digits):
            return step
    return None


def new_recovery_codes() -> list[str]:
    """Ten codes like 'k7q2-m9xw-3fpd' (60 bits each): random enough that a plain hash protects them."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return [
        "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(3))
        for _ in range(RECOVERY_CODE_COUNT)
    ]


def recovery_code_hash(code: str) -> str:
    normalised = "".join(ch for ch in code.lower() if ch.isalnum())
    return hashlib.sha256(normalised.encode()).hexdigest()
