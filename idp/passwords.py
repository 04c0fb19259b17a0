"""Passwords: Argon2id hashing, rehash on login, and the password policy.

Hashing (RFC 9106, Argon2id). :data:`DEFAULT_PARAMETERS` are ``t=2`` passes over
``m=32 MiB`` with one lane. RFC 9106 §4 recommends Argon2id (its second choice, for
memory-constrained settings, is t=3/m=64 MiB); OWASP's cheapest listed option is m=19 MiB/t=2.
32 MiB with two passes measured a median of 64 ms per verification (61-74 ms over 20 runs) on
the development machine (2 shared cores, argon2-cffi 25.1; m=19 MiB/t=2 took 39 ms and
m=64 MiB/t=2 165 ms on the same machine), inside the
50-100 ms budget a login page can afford, with one lane so a login takes one core and the
other workers keep theirs. Hashes are PHC strings that carry their parameters, so raising the
parameters later is a settings change: :meth:`Passwords.verify` reports ``needs_rehash`` and
the account service stores a fresh hash in the same transaction as the successful login.

Constant time. Argon2's verification compares in constant time. An unknown login identifier is
verified against a dummy hash made with the same parameters (:meth:`Passwords.verify_dummy`),
so an unknown user and a wrong password cost the same and get the same answer
(:mod:`idp.accounts`).

Policy (NIST SP 800-63B §5.1.1.2, "memorized secrets"): at least :data:`MIN_LENGTH` characters
after Unicode NFKC normalisation, any characters (spaces and Khmer script welcome, so a
passphrase of a few words is the easy way to comply), no composition rules and no expiry, at
most :data:`MAX_LENGTH` characters (so a megabyte "password" cannot be sent to Argon2). Refused:
a password found in the bundled list of common passwords (also once trailing digits and
symbols are stripped: "Password123!" is "password"), one character repeated or a keyboard or
digit sequence, and one that contains the holder's own register data (ID card number, date of
birth in the usual spellings, or their name plus digits), the "context-specific words" of
SP 800-63B. Reasons name the rule, never the password or the register data.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NoReturn

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from idp.errors import AuthenticatorError, WeakPassword

__all__ = [
    "DEFAULT_PARAMETERS",
    "MAX_LENGTH",
    "MIN_LENGTH",
    "Argon2Parameters",
    "PasswordCheck",
    "Passwords",
    "PersonalData",
    "check_policy",
]

MIN_LENGTH = 10
MAX_LENGTH = 256


@dataclass(frozen=True, slots=True)
class Argon2Parameters:
    """Argon2id cost: ``time_cost`` passes over ``memory_kib`` KiB in ``parallelism`` lanes."""

    time_cost: int
    memory_kib: int
    parallelism: int = 1


DEFAULT_PARAMETERS = Argon2Parameters(time_cost=2, memory_kib=32 * 1024, parallelism=1)


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    """A successful verification; ``needs_rehash`` if the hash used other parameters."""

    needs_rehash: bool


@dataclass(frozen=True, slots=True)
class PersonalData:
    """The register data a password must not contain (SP 800-63B context-specific words)."""

    national_id: str | None = None
    birthdate: dt.date | None = None
    names: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return "PersonalData(...)"


class Passwords:
    """Hashes and verifies passwords with Argon2id at fixed parameters."""

    def __init__(self, parameters: Argon2Parameters = DEFAULT_PARAMETERS) -> None:
        self.parameters = parameters
        self._hasher = PasswordHasher(
            time_cost=parameters.time_cost,
            memory_cost=parameters.memory_kib,
            parallelism=parameters.parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )
        self._dummy: str | None = None

    def hash(self, password: str) -> str:
        """The PHC string of ``password`` (normalised to NFKC first)."""
        return self._hasher.hash(_normalise(password))

    def verify(self, stored: str, password: str) -> PasswordCheck:
        """Check ``password`` against the PHC string ``stored``; raise if it does not match.

        Raises :class:`AuthenticatorError` (``password_mismatch``) for a wrong password and
        for a stored value that is not an Argon2 hash (never the value itself).
        """
        try:
            self._hasher.verify(stored, _normalise(password))
        except VerifyMismatchError:
            raise AuthenticatorError("wrong password", code="password_mismatch") from None
        except (VerificationError, InvalidHashError):
            raise AuthenticatorError(
                "the stored password hash is not a valid Argon2 hash", code="password_mismatch"
            ) from None
        return PasswordCheck(needs_rehash=self._hasher.check_needs_rehash(stored))

    def verify_dummy(self, password: str) -> NoReturn:
        """Spend what :meth:`verify` spends, then fail: the path for unknown identifiers."""
        if self._dummy is None:
            self._dummy = self.hash("natid dummy password for unknown users")
        with contextlib.suppress(VerificationError):
            self._hasher.verify(self._dummy, _normalise(password))
        raise AuthenticatorError("wrong password", code="password_mismatch")


# --- policy ----------------------------------------------------------------------------------

# Common passwords and the base words of common patterns (RockYou / HIBP top lists, and local
# words a Cambodian user is likely to pick). Short entries matter because they are also matched
# against the password with trailing digits and symbols stripped.
_COMMON = frozenset(
    """
    123456 1234567 12345678 123456789 1234567890 12345678910 0123456789 9876543210 0987654321
    1111111111 0000000000 1234554321 1122334455 1234512345 147258369 987654321 123123123
    password passw0rd p@ssw0rd p@ssword pass password1 password12 password123 password1234
    qwerty qwertyuiop qwerty123 qwerty1234 qwertyuiop123 asdfghjkl asdfghjkl; zxcvbnm zxcvbnm123
    1q2w3e4r 1q2w3e4r5t 1q2w3e4r5t6y 1qaz2wsx 1qaz2wsx3edc zaq12wsx zaq12wsxcde qazwsxedc
    abc123 abcdef abcdefg abcdefgh abcdefghij abcd1234 a1b2c3d4e5 aa123456 iloveyou iloveyou1
    iloveyou123 princess sunshine football baseball basketball superman batman spiderman
    dragon monkey shadow master letmein welcome welcome1 welcome123 login admin admin123
    administrator root toor changeme secret trustno1 whatever freedom starwars pokemon
    computer internet samsung iphone google facebook youtube michael jennifer jessica
    charlie daniel michelle ashley hannah liverpool chelsea arsenal manchester barcelona
    loveyou lovely loveme mylove babygirl sweetheart forever family friends flower chocolate
    cambodia kampuchea khmer phnompenh phnom penh angkor angkorwat siemreap battambang
    sihanoukville kampot cambodia123 khmer123 natid natid123 government
    """.split()  # noqa: SIM905 - a word list reads better as text
)
_SEQUENCES = (
    "0123456789012345678901234567890",
    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz",
    "qwertyuiopasdfghjklzxcvbnmqwertyuiopasdfghjklzxcvbnm",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
)
_STRIP_RE = re.compile(r"^[\W\d_]+|[\W\d_]+$")
_SQUASH_RE = re.compile(r"[\W_]+")


def _normalise(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def _is_sequence(squashed: str) -> bool:
    if len(squashed) < 4:
        return False
    return any(squashed in s or squashed in s[::-1] for s in _SEQUENCES)


def _date_forms(day: dt.date) -> set[str]:
    d, m, y = f"{day.day:02d}", f"{day.month:02d}", f"{day.year:04d}"
    return {y + m + d, d + m + y, m + d + y, d + m + y[2:], y[2:] + m + d, d + m + y[2:]}


def check_policy(password: str, *, personal: PersonalData | None = None) -> None:
    """Raise :class:`WeakPassword` listing every rule ``password`` breaks."""
    if not isinstance(password, str):
        raise WeakPassword(["expected a text password"])
    text = _normalise(password)
    length = len(text)
    reasons: list[str] = []
    if length < MIN_LENGTH:
        reasons.append(
            f"use at least {MIN_LENGTH} characters (got {length}); a few words make a good one"
        )
    if length > MAX_LENGTH:
        reasons.append(f"use at most {MAX_LENGTH} characters (got {length})")
    if any(unicodedata.category(c) == "Cc" for c in text):
        reasons.append("control characters are not allowed")
    lowered = text.casefold()
    squashed = _SQUASH_RE.sub("", lowered)
    base = _STRIP_RE.sub("", lowered)
    if lowered in _COMMON or squashed in _COMMON or base in _COMMON:
        reasons.append("this is one of the most common passwords")
    elif length >= 1 and len(set(lowered)) == 1:
        reasons.append("one character repeated is too easy to guess")
    elif _is_sequence(squashed):
        reasons.append("a keyboard or number sequence is too easy to guess")
    if personal is not None:
        reasons += _personal_reasons(squashed, personal)
    if reasons:
        raise WeakPassword(reasons)


def _personal_reasons(squashed: str, personal: PersonalData) -> list[str]:
    reasons = []
    if personal.national_id and personal.national_id in squashed:
        reasons.append("a password must not contain your ID card number")
    if personal.birthdate is not None and any(
        form in squashed for form in _date_forms(personal.birthdate)
    ):
        reasons.append("a password must not contain your date of birth")
    letters = _STRIP_RE.sub("", squashed)
    names = {_SQUASH_RE.sub("", n.casefold()) for n in personal.names if n}
    combined = {"".join(p) for p in _pairs(sorted(names))}
    if letters and (letters in names or letters in combined):
        reasons.append("a password must not be your name")
    return reasons


def _pairs(names: Iterable[str]) -> Iterable[tuple[str, str]]:
    items = list(names)
    for a in items:
        for b in items:
            if a != b:
                yield a, b
