"""Passwords: Argon2id at the documented parameters, rehash when they change, the policy."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from idp.errors import AuthenticatorError, WeakPassword
from idp.passwords import (
    DEFAULT_PARAMETERS,
    Argon2Parameters,
    Passwords,
    PersonalData,
    check_policy,
)

FAST = Argon2Parameters(time_cost=1, memory_kib=1024)
ME = PersonalData(
    national_id="000123456", birthdate=dt.date(1990, 4, 17), names=("Sok", "Dara", "Sok Dara")
)


def reasons(password: str, personal: PersonalData | None = None) -> str:
    with pytest.raises(WeakPassword) as caught:
        check_policy(password, personal=personal)
    return " / ".join(caught.value.reasons)


def test_default_hash_is_argon2id_with_documented_parameters_and_costs_tens_of_ms() -> None:
    passwords = Passwords()
    stored = passwords.hash("correct horse battery")
    assert stored.startswith("$argon2id$v=19$m=32768,t=2,p=1$")
    assert Argon2Parameters(time_cost=2, memory_kib=32768, parallelism=1) == DEFAULT_PARAMETERS
    started = time.perf_counter()
    assert passwords.verify(stored, "correct horse battery").needs_rehash is False
    # Loose bounds (shared CI cores): a real memory-hard hash, not a fast digest.
    assert 0.01 < time.perf_counter() - started < 2.0


def test_wrong_password_raises_and_right_one_passes() -> None:
    passwords = Passwords(FAST)
    stored = passwords.hash("correct horse battery")
    with pytest.raises(AuthenticatorError) as caught:
        passwords.verify(stored, "correct horse batterY")
    assert caught.value.code == "password_mismatch"
    assert "correct" not in str(caught.value)
    passwords.verify(stored, "correct horse battery")


def test_two_hashes_of_one_password_differ_by_salt() -> None:
    passwords = Passwords(FAST)
    assert passwords.hash("correct horse battery") != passwords.hash("correct horse battery")


def test_unicode_forms_of_one_password_match() -> None:
    # NFKC: a Khmer passphrase typed on two keyboards, or full-width digits, is the same secret.
    passwords = Passwords(FAST)
    stored = passwords.hash("ＡＢＣ pass phrase 12")
    passwords.verify(stored, "ABC pass phrase 12")


def test_changed_parameters_ask_for_rehash() -> None:
    old = Passwords(FAST).hash("correct horse battery")
    stronger = Passwords(Argon2Parameters(time_cost=2, memory_kib=2048))
    assert stronger.verify(old, "correct horse battery").needs_rehash is True


def test_garbage_stored_hash_is_a_mismatch_not_a_crash() -> None:
    with pytest.raises(AuthenticatorError):
        Passwords(FAST).verify("not-a-hash", "whatever you like")


def test_dummy_verification_always_fails() -> None:
    passwords = Passwords(FAST)
    with pytest.raises(AuthenticatorError):
        passwords.verify_dummy("natid dummy password for unknown users")


def test_short_password_refused_with_the_rule_not_the_value() -> None:
    text = reasons("Sh0rt!pw")
    assert "at least 10 characters" in text
    assert "Sh0rt" not in text


@pytest.mark.parametrize(
    "password",
    ["password123", "Password123!", "qwertyuiop", "1234567890", "iloveyou123", "PhnomPenh2024"],
)
def test_common_passwords_refused(password: str) -> None:
    assert "common" in reasons(password)


@pytest.mark.parametrize("password", ["aaaaaaaaaaaa", "abcdefghijkl", "9876543210987"])
def test_repeats_and_sequences_refused(password: str) -> None:
    assert "easy to guess" in reasons(password) or "common" in reasons(password)


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("my id 000123456 ok", "ID card number"),
        ("born 17041990 here", "date of birth"),
        ("born 1990-04-17 !!", "date of birth"),
        ("SokDara2024!", "your name"),
    ],
)
def test_own_register_data_refused(password: str, rule: str) -> None:
    text = reasons(password, ME)
    assert rule in text
    assert "000123456" not in text
    assert "1990" not in text


@pytest.mark.parametrize(
    "password",
    ["river mango lantern", "ផ្កាឈូក ពណ៌ស្វាយ ស្អាត", "tuk-tuk at 7 in the rain", "Z7#kq!20vB"],
)
def test_passphrases_and_random_passwords_accepted(password: str) -> None:
    check_policy(password, personal=ME)


def test_over_long_password_refused() -> None:
    assert "at most 256" in reasons("word " * 60)
