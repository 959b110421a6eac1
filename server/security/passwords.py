"""Password hashing (argon2id) and the password rules.

Rules follow NIST SP 800-63B: 10 to 128 characters, no composition rules, and not one of the most
common passwords. The list ships with the code (Django's common-passwords list, which comes from Royce
Williams' breach corpus; only the entries long enough to pass the length rule are kept).
"""

from __future__ import annotations

import functools
import unicodedata
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 10
MAX_LENGTH = 128
COMMON_PASSWORDS_FILE = Path(__file__).with_name("common_passwords.txt")

# argon2-cffi's default is RFC 9106's low-memory profile (t=3, m=64 MiB, p=4), above OWASP's minimum
# for argon2id (t=2, m=19 MiB, p=1). Hashes made with other parameters are upgraded at the next sign-in.
HASHER = PasswordHasher()

# Verified when the email is unknown so that the answer takes as long as for a wrong password.
_DUMMY_HASH = HASHER.hash("afterglow-timing-equaliser")


@functools.cache
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip())


def password_problem(password: str) -> str | None:
    """The reason a new password is refused, in words for the person choosing it; None when it is fine."""
    length = len(unicodedata.normalize("NFKC", password))
    if length < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters. A few unrelated words make a strong, memorable password."
    if length > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    if password.strip().lower() in common_passwords():
        return "That password is one of the most common ones and easy to guess. Please choose another."
    return None


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return HASHER.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return HASHER.check_needs_rehash(password_hash)
