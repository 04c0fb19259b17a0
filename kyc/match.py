"""Match checks: does what a bank holds agree with the register? Yes or no per attribute, never
the stored value (issue 6, "Match checks").

**Tolerance** (what still counts as the same name), applied to both sides before comparing:

1. Unicode NFKC (compatibility forms such as full-width Latin letters become plain letters);
2. U+200B ZERO WIDTH SPACE, which Khmer text uses between words, counts as a space; the
   invisible U+200C/U+200D joiners, U+2060 and U+FEFF are removed;
3. hyphens, apostrophes, dots and commas become spaces, and runs of whitespace become one space,
   trimmed at both ends;
4. Latin script: case is folded (``str.casefold``) and diacritics are dropped (NFD, then the
   combining marks are removed: ``Sók`` = ``sok``). Khmer script: nothing of the kind, because
   Khmer vowel signs and diacritics are combining marks that change the name; Khmer is compared
   after step 1-3 and a final NFC, so differently composed but canonically equal text matches.

Not tolerated: typos, transposed given and family names, missing name parts, other
transliterations (``Sok`` against ``Sokh``). A bank that holds the name in another order should
send ``given_name`` and ``family_name`` separately.

``birthdate`` matches an ISO 8601 calendar date (``YYYY-MM-DD``) exactly; the national ID number
matches after spaces and hyphens are removed, compared in constant time.

Pure: no I/O; :func:`match_person` takes the register's person and the bank's values.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
import unicodedata
from collections.abc import Mapping

from kyc.errors import InvalidMatchRequest
from kyc.policy import MATCHABLE, Attribute
from registry.records import Person

__all__ = ["MAX_VALUE_LENGTH", "match_person", "normalise_name", "parse_match_request"]

MAX_VALUE_LENGTH = 200
_ZERO_WIDTH: dict[int, str | None] = {
    0x200B: " ",
    **dict.fromkeys(map(ord, "\u200c\u200d\u2060\ufeff")),
}
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015'\u2019.,]+")
_ID_SEPARATORS = re.compile(r"[\s\-]+")


def _is_khmer(ch: str) -> bool:
    return "\u1780" <= ch <= "\u17ff" or "\u19e0" <= ch <= "\u19ff"


def normalise_name(value: str) -> str:
    """The comparison form of a name (steps 1-4 of the module docstring)."""
    text = unicodedata.normalize("NFKC", value).translate(_ZERO_WIDTH)
    text = _SEPARATORS.sub(" ", text).strip()
    out: list[str] = []
    for word in text.split(" "):
        if any(_is_khmer(ch) for ch in word):
            out.append(unicodedata.normalize("NFC", word))
        else:
            decomposed = unicodedata.normalize("NFD", word.casefold())
            out.append("".join(c for c in decomposed if not unicodedata.combining(c)))
    return " ".join(w for w in out if w)


def _normalise_id(value: str) -> str:
    return _ID_SEPARATORS.sub("", unicodedata.normalize("NFKC", value)).upper()


def parse_match_request(values: Mapping[str, object]) -> dict[Attribute, str]:
    """The bank's values by attribute; unknown, non-matchable or malformed ones are refused
    naming the attribute only (the value is personal data and is never echoed)."""
    if not values:
        raise InvalidMatchRequest("send at least one attribute to match")
    parsed: dict[Attribute, str] = {}
    for name, value in values.items():
        try:
            attribute = Attribute(name)
        except ValueError:
            raise InvalidMatchRequest(f"{str(name)[:40]!r} is not an attribute") from None
        if attribute not in MATCHABLE:
            raise InvalidMatchRequest(f"{attribute.value} cannot be matched")
        if not isinstance(value, str) or not 0 < len(value) <= MAX_VALUE_LENGTH:
            raise InvalidMatchRequest(
                f"{attribute.value}: expected text of 1 to {MAX_VALUE_LENGTH} characters"
            )
        if attribute is Attribute.BIRTHDATE:
            try:
                dt.date.fromisoformat(value)
            except ValueError:
                raise InvalidMatchRequest("birthdate: expected YYYY-MM-DD") from None
            if len(value) != len("YYYY-MM-DD"):
                raise InvalidMatchRequest("birthdate: expected YYYY-MM-DD")
        parsed[attribute] = value
    return parsed


def _stored(person: Person, attribute: Attribute) -> str:
    return {
        Attribute.NAME: person.name_latin,
        Attribute.GIVEN_NAME: person.given_name_latin,
        Attribute.FAMILY_NAME: person.family_name_latin,
        Attribute.NAME_KM: person.name_km,
        Attribute.GIVEN_NAME_KM: person.given_name_km,
        Attribute.FAMILY_NAME_KM: person.family_name_km,
        Attribute.BIRTHDATE: person.birthdate.isoformat(),
        Attribute.NATIONAL_ID_NUMBER: person.national_id,
    }[attribute]


def _same(attribute: Attribute, held: str, stored: str) -> bool:
    if attribute is Attribute.NATIONAL_ID_NUMBER:
        return hmac.compare_digest(_normalise_id(held).encode(), _normalise_id(stored).encode())
    if attribute is Attribute.BIRTHDATE:
        return held == stored
    return normalise_name(held) == normalise_name(stored)


def match_person(person: Person | None, values: Mapping[Attribute, str]) -> dict[str, bool]:
    """Per attribute, whether the bank's value agrees with the register; for no person (an
    unknown ID number), every attribute is ``False``, so the answer looks like any mismatch."""
    return {
        attribute.value: person is not None and _same(attribute, held, _stored(person, attribute))
        for attribute, held in values.items()
    }
