"""Password rules (NIST SP 800-63B) and the argon2id parameters (OWASP)."""

from __future__ import annotations

import pytest
from argon2 import Type
from argon2.exceptions import InvalidHashError

from server.security.passwords import (
    HASHER,
    MAX_LENGTH,
    MIN_LENGTH,
    common_passwords,
    hash_password,
    needs_rehash,
    password_problem,
    verify_password,
)

# The hasher the app really uses (tests/conftest.py gives most tests a fast one).
pytestmark = pytest.mark.production_password_hashing


def test_the_common_passwords_list_has_at_least_a_thousand_entries() -> None:
    entries = common_passwords()

    assert len(entries) >= 1000
    assert "password123" in entries
    assert all(entry == entry.strip().lower() and entry for entry in entries)


@pytest.mark.parametrize("password", ["", "a", "nine char", "x" * (MIN_LENGTH - 1)])
def test_a_password_shorter_than_ten_characters_is_refused(password: str) -> None:
    problem = password_problem(password)

    assert problem is not None
    assert "at least 10 characters" in problem


def test_a_password_longer_than_128_characters_is_refused() -> None:
    assert password_problem("a" * MAX_LENGTH) is None
    problem = password_problem("a" * (MAX_LENGTH + 1))
    assert problem is not None
    assert "at most 128" in problem


@pytest.mark.parametrize("password", ["password123", "PASSWORD123", "PassWord123", "1234567890", " qwertyuiop "])
def test_a_common_password_is_refused_whatever_its_case(password: str) -> None:
    problem = password_problem(password)

    assert problem is not None
    assert "common" in problem


@pytest.mark.parametrize(
    "password",
    ["correct horse battery staple", "lantern orchard seventeen", "tq7 walnut", "Ünïcödé pässphrase 🌅"],
)
def test_a_long_uncommon_passphrase_is_accepted(password: str) -> None:
    assert password_problem(password) is None


def test_length_counts_characters_not_bytes() -> None:
    assert password_problem("é" * MIN_LENGTH) is None  # 10 characters, 20 bytes in UTF-8
    assert password_problem("é" * (MIN_LENGTH - 1)) is not None


def test_the_default_hasher_meets_owasps_argon2id_minimum() -> None:
    assert HASHER.type is Type.ID
    assert HASHER.memory_cost >= 19456  # KiB
    assert HASHER.time_cost >= 2
    assert HASHER.parallelism >= 1


def test_stored_hashes_are_argon2id_and_verify() -> None:
    stored = hash_password("correct horse battery staple")

    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "correct horse battery staple")
    assert not verify_password(stored, "correct horse battery stapler")
    assert not needs_rehash(stored)


def test_verifying_without_a_stored_hash_always_fails() -> None:
    assert verify_password(None, "afterglow-timing-equaliser") is False  # not even the dummy hash's own password
    assert verify_password("not a hash", "anything") is False
    with pytest.raises(InvalidHashError):
        HASHER.verify("not a hash", "anything")
