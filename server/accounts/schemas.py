from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from server.security.sessions import CurrentUser

Role = Literal["admin", "therapist", "patient"]
EmailText = Annotated[str, Meta(min_length=1, max_length=254)]
# Long enough for any password the rules allow; the rules themselves answer with a friendlier message.
PasswordText = Annotated[str, Meta(max_length=1024)]
DisplayName = Annotated[str, Meta(min_length=1, max_length=100)]
TokenText = Annotated[str, Meta(min_length=1, max_length=128)]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalise_email(raw: str) -> str | None:
    """Lower-cased, trimmed, NFKC-normalised; None if it does not look like an email address."""
    email = unicodedata.normalize("NFKC", raw).strip().lower()
    return email if _EMAIL.match(email) and len(email) <= 254 else None


class LoginRequest(msgspec.Struct, forbid_unknown_fields=True):
    email: EmailText
    password: PasswordText


class UserOut(msgspec.Struct):
    id: str
    role: Role
    email: str
    display_name: str
    timezone: str

    @classmethod
    def of(cls, user: CurrentUser) -> UserOut:
        return cls(
            id=user.id,
            role=user.role,  # type: ignore[arg-type]
            email=user.email,
            display_name=user.display_name,
            timezone=user.timezone,
        )


class UserResponse(msgspec.Struct):
    user: UserOut


class MfaRequired(msgspec.Struct):
    mfa_required: bool


class PasswordChange(msgspec.Struct, forbid_unknown_fields=True):
    current_password: PasswordText
    new_password: PasswordText


class InvitationCreate(msgspec.Struct, forbid_unknown_fields=True):
    email: EmailText
    display_name: DisplayName


class InvitationCreated(msgspec.Struct):
    id: str
    url: str
    expires_at: str


class InvitationOut(msgspec.Struct):
    id: str
    role: Role
    email: str
    display_name: str
    created_at: str
    expires_at: str
    status: Literal["pending", "accepted", "expired", "revoked"]


class InvitationList(msgspec.Struct):
    items: list[InvitationOut]


class InvitationAccept(msgspec.Struct, forbid_unknown_fields=True):
    token: TokenText
    password: PasswordText
    display_name: DisplayName | None = None
    timezone: Annotated[str, Meta(max_length=64)] | None = None


class SetupRequest(msgspec.Struct, forbid_unknown_fields=True):
    clinic_name: Annotated[str, Meta(min_length=1, max_length=200)]
    display_name: DisplayName
    email: EmailText
    password: PasswordText


class LoginResult(msgspec.Struct, omit_defaults=True):
    """``{"user": …}`` when signed in; ``{"mfa_required": true}`` when a code must follow (POST /auth/mfa)."""

    user: UserOut | None = None
    mfa_required: bool = False
    mfa_enrolment_required: bool = False


class CodeIn(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[str, Meta(min_length=1, max_length=32)]


class PasswordConfirm(msgspec.Struct, forbid_unknown_fields=True):
    password: PasswordText


class MfaStatusOut(msgspec.Struct):
    enabled: bool
    required: bool
    recovery_codes_left: int


class MfaSetupOut(msgspec.Struct):
    secret: str
    otpauth_uri: str
    qr_svg: str


class RecoveryCodesOut(msgspec.Struct):
    recovery_codes: list[str]


class SessionOut(msgspec.Struct):
    id: str
    created_at: str
    last_seen_at: str
    client_address: str
    user_agent: str
    current: bool


class SessionList(msgspec.Struct):
    items: list[SessionOut]


class EndedOut(msgspec.Struct):
    ended: int
