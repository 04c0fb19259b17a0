"""Validation of records entering the register (JSON from ``add``, CSV rows, demo data).

This is a trust boundary, so the records are pydantic models (``frozen``, ``extra="forbid"``,
STYLE.md "Data"); everything past it works with the validated values. Validation errors
become :class:`~registry.errors.InvalidRecord` whose problems read ``"field: reason"`` and
never contain the rejected value.

Rules and the assumptions behind them:

* Text is NFC-normalised (Unicode Standard Annex #15), runs of whitespace collapse to one
  space, and control/format characters are refused, except ZERO WIDTH SPACE, ZWNJ and ZWJ,
  which Khmer text uses.
* Khmer names use only the Khmer block (U+1780-U+17FF), spaces and ZERO WIDTH SPACE, and each
  word starts with a consonant or independent vowel (U+1780-U+17B3). Latin names are Latin
  letters (any accent), with single spaces, hyphens or apostrophes between letters.
* A full name (``name_km``, ``name_latin``) is family name then given name, split on the first
  space (the Khmer order). The split fields may be given instead, or as well if they agree.
* National ID card numbers are 9 ASCII digits. This is the format of the Cambodian Khmer
  National Identity Card as printed since 2012; older cards' numbers must be re-keyed to it.
* Birthdates are ISO 8601 ``YYYY-MM-DD``, from 1900-01-01 to today in Cambodia (UTC+7, no
  daylight saving), so a child born this morning in Phnom Penh is not "in the future".
* Nationality is an ISO 3166-1 alpha-3 code (shape checked, default ``KHM``); phone numbers
  are E.164 (ITU-T E.164: ``+``, 7-15 digits; spaces and hyphens are dropped); email is a
  pragmatic ``local@domain`` check, not RFC 5322.
* Register numbers of legal entities are 4-20 of ``0-9 A-Z -`` (upper-cased on the way in),
  employee numbers 1-32 of letters, digits, ``/`` and ``-``.
* Empty strings and JSON ``null`` mean "not given" (a CSV cell cannot say null).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import uuid
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Annotated, Any, Self, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from registry.errors import InvalidRecord
from registry.records import EntityKind, EntityStatus, PersonStatus, Sex

__all__ = [
    "CAMBODIA_TZ",
    "EntityIn",
    "PersonIn",
    "ServantIn",
    "canonical_id",
    "free_text",
    "parse_national_id",
    "validate_record",
]

#: Cambodia's time zone (ICT), used for "today" in birthdate checks.
CAMBODIA_TZ = dt.timezone(dt.timedelta(hours=7), "ICT")
EARLIEST_BIRTHDATE = dt.date(1900, 1, 1)

_NATIONAL_ID = re.compile(r"[0-9]{9}")
_REGISTER_NO = re.compile(r"[0-9A-Z-]{4,20}")
_EMPLOYEE_NO = re.compile(r"[0-9A-Za-z][0-9A-Za-z/-]{0,31}")
_COUNTRY = re.compile(r"[A-Z]{3}")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(rf"[^@\s]{{1,64}}@{_LABEL}(?:\.{_LABEL})+")
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")
_KHMER_FORMAT_CHARS = frozenset("\u200b\u200c\u200d")
_ZWSP = "\u200b"

E = TypeVar("E", bound=StrEnum)


# --- text ------------------------------------------------------------------------------------


def _as_str(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("expected text")  # noqa: TRY004 - pydantic wants ValueError
    return value


def free_text(value: object, *, max_len: int = 200) -> str:
    """NFC-normalise, collapse whitespace, refuse control characters; 1..max_len characters."""
    text = unicodedata.normalize("NFC", _as_str(value))
    text = " ".join(text.split())
    if not text:
        raise ValueError("must not be empty")
    if len(text) > max_len:
        raise ValueError(f"longer than {max_len} characters")
    for ch in text:
        category = unicodedata.category(ch)
        if category[0] == "C" and ch not in _KHMER_FORMAT_CHARS:
            raise ValueError("contains a control or unassigned character")
    return text


def _is_khmer_base(ch: str) -> bool:
    return "\u1780" <= ch <= "\u17b3"


def _khmer_name(value: object) -> str:
    text = free_text(value, max_len=201).strip(_ZWSP)
    for word in text.split(" "):
        if not word or not _is_khmer_base(word[0]):
            raise ValueError("expected Khmer script (each word starting with a Khmer letter)")
        if any(not ("\u1780" <= ch <= "\u17ff" or ch == _ZWSP) for ch in word):
            raise ValueError("expected Khmer script only (U+1780-U+17FF)")
    return text


def _is_latin_letter(ch: str) -> bool:
    return ch.isalpha() and unicodedata.name(ch, "").startswith("LATIN ")


def _latin_name(value: object) -> str:
    text = free_text(value, max_len=201)
    for word in text.split(" "):
        for piece in re.split(r"[-'\u2019]", word):
            if not piece or not all(_is_latin_letter(ch) for ch in piece):
                raise ValueError(
                    "expected Latin letters, with single spaces, hyphens or apostrophes between"
                )
    return text


def _name_part(check: Callable[[object], str]) -> Callable[[object], str]:
    def part(value: object) -> str:
        text = check(value)
        if len(text) > 100:
            raise ValueError("longer than 100 characters")
        return text

    return part


def _khmer_text(value: object, *, max_len: int = 200) -> str:
    text = free_text(value, max_len=max_len)
    if not any(_is_khmer_base(ch) for ch in text):
        raise ValueError("expected text in Khmer script")
    return text


def _latin_text(value: object, *, max_len: int = 200) -> str:
    text = free_text(value, max_len=max_len)
    if not any(_is_latin_letter(ch) for ch in text):
        raise ValueError("expected text in Latin script")
    return text


# --- identifiers and codes -------------------------------------------------------------------


def canonical_id(value: object) -> str:
    """The canonical lowercase, hyphenated form of a UUID; ``ValueError`` otherwise."""
    try:
        return str(uuid.UUID(_as_str(value).strip()))
    except ValueError:
        raise ValueError("not a UUID") from None


def _national_id(value: object) -> str:
    # A number (JSON 12345678) is refused rather than converted: it would lose leading zeros.
    text = value.strip() if isinstance(value, str) else ""
    if not _NATIONAL_ID.fullmatch(text):
        raise ValueError("expected 9 digits as text")
    return text


def parse_national_id(value: object) -> str:
    """A national ID card number from a caller, or :class:`InvalidRecord` (without it)."""
    try:
        return _national_id(value)
    except ValueError as exc:
        raise InvalidRecord([f"national_id: {exc}"]) from None


def _register_no(value: object) -> str:
    text = _as_str(value).strip().upper()
    if not _REGISTER_NO.fullmatch(text):
        raise ValueError("expected 4-20 characters of 0-9, A-Z and '-'")
    return text


def _employee_no(value: object) -> str:
    text = _as_str(value).strip()
    if not _EMPLOYEE_NO.fullmatch(text):
        raise ValueError("expected 1-32 letters, digits, '/' or '-'")
    return text


def _country(value: object) -> str:
    text = _as_str(value).strip().upper()
    if not _COUNTRY.fullmatch(text):
        raise ValueError("expected an ISO 3166-1 alpha-3 code such as KHM")
    return text


def _phone(value: object) -> str:
    text = re.sub(r"[ \-]", "", _as_str(value))
    if not _E164.fullmatch(text):
        raise ValueError("expected an E.164 number such as +85512345678")
    return text


def _email(value: object) -> str:
    text = _as_str(value).strip()
    if len(text) > 254 or not _EMAIL.fullmatch(text):
        raise ValueError("expected an email address")
    return text


def _date(value: object) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _DATE.fullmatch(value.strip()):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError("not a date (expected YYYY-MM-DD)")


def _choice(enum: type[E], *, upper: bool = False) -> Callable[[object], E]:
    allowed = ", ".join(member.value for member in enum)

    def parse(value: object) -> E:
        if isinstance(value, enum):
            return value
        if isinstance(value, str):
            text = value.strip().upper() if upper else value.strip().lower()
            try:
                return enum(text)
            except ValueError:
                pass
        raise ValueError(f"expected one of {allowed}")

    return parse


Id = Annotated[str, BeforeValidator(canonical_id)]
NationalId = Annotated[str, BeforeValidator(_national_id)]
KhmerName = Annotated[str, BeforeValidator(_khmer_name)]
LatinName = Annotated[str, BeforeValidator(_latin_name)]
KhmerNamePart = Annotated[str, BeforeValidator(_name_part(_khmer_name))]
LatinNamePart = Annotated[str, BeforeValidator(_name_part(_latin_name))]
Text = Annotated[str, BeforeValidator(free_text)]
Address = Annotated[str, BeforeValidator(lambda v: free_text(v, max_len=500))]
KhmerText = Annotated[str, BeforeValidator(_khmer_text)]
LatinText = Annotated[str, BeforeValidator(_latin_text)]
BirthDate = Annotated[dt.date, BeforeValidator(_date)]


# --- records ---------------------------------------------------------------------------------


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _drop_empty(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            return {
                key: value
                for key, value in data.items()
                if value is not None and not (isinstance(value, str) and not value.strip())
            }
        return data


class PersonIn(_Record):
    """A natural person as the outside world describes one."""

    id: Id | None = None
    # Personal data stays out of repr() (a validated record may end up in a log line).
    national_id: NationalId = Field(repr=False)
    name_km: KhmerName | None = None
    name_latin: LatinName | None = None
    family_name_km: KhmerNamePart | None = None
    given_name_km: KhmerNamePart | None = None
    family_name_latin: LatinNamePart | None = None
    given_name_latin: LatinNamePart | None = None
    birthdate: BirthDate = Field(repr=False)
    sex: Annotated[Sex | None, BeforeValidator(_choice(Sex, upper=True))] = None
    nationality: Annotated[str, BeforeValidator(_country)] = "KHM"
    address: Address | None = Field(default=None, repr=False)
    phone: Annotated[str | None, BeforeValidator(_phone)] = Field(default=None, repr=False)
    email: Annotated[str | None, BeforeValidator(_email)] = Field(default=None, repr=False)
    status: Annotated[PersonStatus, BeforeValidator(_choice(PersonStatus))] = PersonStatus.ACTIVE

    @field_validator("birthdate")
    @classmethod
    def _birthdate_in_range(cls, value: dt.date, info: ValidationInfo) -> dt.date:
        today = (info.context or {}).get("today")
        if value < EARLIEST_BIRTHDATE:
            raise ValueError("before 1900-01-01")
        if isinstance(today, dt.date) and value > today:
            raise ValueError("in the future")
        return value

    def _parts(self, script: str) -> tuple[str, str] | str:
        """``(family, given)`` for ``script`` ("km" or "latin"), or the problem as a string."""
        full: str | None = getattr(self, f"name_{script}")
        family: str | None = getattr(self, f"family_name_{script}")
        given: str | None = getattr(self, f"given_name_{script}")
        if full is None:
            if family is None or given is None:
                return f"name_{script}: required (or family_name_{script} and given_name_{script})"
            return family, given
        split_family, sep, split_given = full.partition(" ")
        if not sep:
            return f"name_{script}: expected family name and given name separated by a space"
        if family is not None or given is not None:
            if (family, given) != (split_family, split_given):
                return f"name_{script}: does not match family_name_{script} and given_name_{script}"
        elif len(split_family) > 100 or len(split_given) > 100:
            return f"name_{script}: family or given name longer than 100 characters"
        return split_family, split_given

    @model_validator(mode="after")
    def _names_complete(self) -> Self:
        parts = (self._parts("km"), self._parts("latin"))
        problems = [part for part in parts if isinstance(part, str)]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def names(self) -> tuple[str, str, str, str]:
        """``(family_km, given_km, family_latin, given_latin)``, whichever way they were given."""
        km, latin = self._parts("km"), self._parts("latin")
        assert not isinstance(km, str) and not isinstance(latin, str)  # checked on validation
        return km[0], km[1], latin[0], latin[1]


class EntityIn(_Record):
    """A legal entity (company, bank, ministry, ...)."""

    id: Id | None = None
    register_no: Annotated[str, BeforeValidator(_register_no)]
    name_km: KhmerText
    name_en: LatinText
    kind: Annotated[EntityKind, BeforeValidator(_choice(EntityKind))]
    status: Annotated[EntityStatus, BeforeValidator(_choice(EntityStatus))] = EntityStatus.ACTIVE


class ServantIn(_Record):
    """A civil servant: a person's position in a ministry.

    ``ministry`` names the ministry by entity id, register number, or exact English or Khmer
    name (the service resolves it among entities of kind ``ministry``); ``ministry_id`` is
    accepted as the explicit form.
    """

    id: Id | None = None
    person_id: Id
    ministry: Text | None = None
    ministry_id: Id | None = None
    unit: Text
    title: Text
    unit_km: KhmerText | None = None
    title_km: KhmerText | None = None
    employee_number: Annotated[str | None, BeforeValidator(_employee_no)] = None
    active: bool = True

    @model_validator(mode="after")
    def _one_ministry(self) -> Self:
        if self.ministry is None and self.ministry_id is None:
            raise ValueError("ministry: required (the ministry's id, register number or name)")
        if self.ministry is not None and self.ministry_id is not None:
            raise ValueError("ministry: give either ministry or ministry_id, not both")
        return self


# --- errors ----------------------------------------------------------------------------------


def _problem(error: Mapping[str, Any]) -> str:
    loc = [str(part) for part in error["loc"]]
    kind = error["type"]
    if kind == "extra_forbidden" and loc and not _FIELD_NAME.fullmatch(loc[-1]):
        # A header or key that is not a field name may be data (a row without a header).
        return "a field whose name is not a known field"
    field = ".".join(loc)
    if kind == "missing":
        reason = "required"
    elif kind == "extra_forbidden":
        reason = "unknown field"
    elif kind in {"model_type", "dict_type", "model_attributes_type"}:
        reason = "expected an object with named fields"
    elif kind in {"bool_parsing", "bool_type"}:
        reason = "expected true or false"
    else:
        reason = str(error["msg"]).removeprefix("Value error, ")
    return f"{field}: {reason}" if field else reason


_R = TypeVar("_R", bound=BaseModel)


def validate_record(model: type[_R], data: object, *, today: dt.date) -> _R:
    """Validate ``data`` as ``model``; raise :class:`InvalidRecord` listing every problem.

    ``today`` (a date in Cambodia, see :data:`CAMBODIA_TZ`) bounds birthdates.
    """
    try:
        return model.model_validate(data, context={"today": today})
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        # ``from None``: str(ValidationError) quotes every rejected input value, and a chained
        # exception is printed with tracebacks and by log formatters.
        raise InvalidRecord([_problem(err) for err in errors]) from None
