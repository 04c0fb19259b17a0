"""The JSON wire format of the external population register's X-Road services.

NatID's register adapter (:mod:`registry.xroad`) reads persons, legal entities, civil servants
and proofing records from a national civil register published on X-Road. This module is the
pure half of that adapter: it turns the register's frozen records into JSON objects and back,
and it does no I/O (STYLE.md, "verification logic does no I/O").

Decoding is a trust boundary: the answer comes from another organisation's system. Every
record is validated with the same rules the embedded register applies on input
(:mod:`registry.schemas` for persons, entities and servants, :mod:`registry.proofing` for
proofing records), so a record that the embedded register would refuse never reaches the CA,
the IdP or KYC through the external adapter either. A failure raises
:class:`~registry.errors.RegistryUnavailable` (the remote party sent bad data; STYLE.md splits
errors by whose fault), with the field names but never the values.

The services, below the X-Road service id (PR-REST §4.2, ``/r1/{serviceId}/{path}``):

========================================  ===========================================
``GET  persons/{id}``                      a person
``POST persons/search``                    body ``{"national_id": "..."}``: a person, or 404
``GET  persons/{id}/servants``             ``{"servants": [...]}``, oldest first
``GET  persons/{id}/proofing/current``     ``{"proofing": {...} | null}``
``GET  entities/{id}``                     a legal entity
``GET  servants/{id}``                     a civil servant
========================================  ===========================================

The national ID number travels only in a POST body, never in a path or query (paths end up
in access logs of every security server on the way).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from registry.errors import InvalidRecord, RegistryUnavailable
from registry.proofing import check_proofing
from registry.records import (
    AssuranceLevel,
    CivilServant,
    LegalEntity,
    Person,
    ProofingRecord,
)
from registry.schemas import (
    EntityIn,
    PersonIn,
    ServantIn,
    canonical_id,
    free_text,
    validate_record,
)

__all__ = [
    "decode_entity",
    "decode_person",
    "decode_proofing",
    "decode_servant",
    "decode_servants",
    "encode_entity",
    "encode_person",
    "encode_proofing",
    "encode_servant",
]

_STAMPS = ("created_at", "updated_at")


def _time(value: dt.datetime) -> str:
    return value.isoformat()


def encode_person(person: Person) -> dict[str, Any]:
    return {
        "id": person.id,
        "national_id": person.national_id,
        "family_name_km": person.family_name_km,
        "given_name_km": person.given_name_km,
        "family_name_latin": person.family_name_latin,
        "given_name_latin": person.given_name_latin,
        "birthdate": person.birthdate.isoformat(),
        "sex": person.sex.value if person.sex is not None else None,
        "nationality": person.nationality,
        "address": person.address,
        "phone": person.phone,
        "email": person.email,
        "status": person.status.value,
        "created_at": _time(person.created_at),
        "updated_at": _time(person.updated_at),
    }


def encode_entity(entity: LegalEntity) -> dict[str, Any]:
    return {
        "id": entity.id,
        "register_no": entity.register_no,
        "name_km": entity.name_km,
        "name_en": entity.name_en,
        "kind": entity.kind.value,
        "status": entity.status.value,
        "created_at": _time(entity.created_at),
        "updated_at": _time(entity.updated_at),
    }


def encode_servant(servant: CivilServant) -> dict[str, Any]:
    return {
        "id": servant.id,
        "person_id": servant.person_id,
        "ministry_id": servant.ministry_id,
        "ministry_name_en": servant.ministry_name_en,
        "ministry_name_km": servant.ministry_name_km,
        "unit": servant.unit,
        "title": servant.title,
        "unit_km": servant.unit_km,
        "title_km": servant.title_km,
        "employee_number": servant.employee_number,
        "active": servant.active,
        "created_at": _time(servant.created_at),
        "updated_at": _time(servant.updated_at),
    }


def encode_proofing(record: ProofingRecord | None) -> dict[str, Any]:
    if record is None:
        return {"proofing": None}
    return {
        "proofing": {
            "id": record.id,
            "person_id": record.person_id,
            "method": record.method.value,
            "level": record.level.value,
            "evidence": record.evidence.value,
            "office": record.office,
            "officer_id": record.officer_id,
            "at": _time(record.at),
        }
    }


# --- decoding ---------------------------------------------------------------------------------


def _bad(what: str, problems: list[str] | tuple[str, ...]) -> RegistryUnavailable:
    return RegistryUnavailable(
        f"the external register sent an invalid {what} ({'; '.join(problems)})"
    )


def _object(data: object, what: str) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise _bad(what, ["expected a JSON object"])
    return dict(data)


def _aware(value: object, field: str, problems: list[str]) -> dt.datetime:
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.utcoffset() is not None:
            return parsed.astimezone(dt.UTC)
    problems.append(f"{field}: expected an ISO 8601 time with an offset")
    return dt.datetime.min.replace(tzinfo=dt.UTC)


def _uuid(value: object, field: str, problems: list[str]) -> str:
    try:
        return canonical_id(value)
    except ValueError:
        problems.append(f"{field}: not a UUID")
        return ""


def _stamps(data: dict[str, Any], problems: list[str]) -> tuple[dt.datetime, dt.datetime]:
    created, updated = (_aware(data.pop(name, None), name, problems) for name in _STAMPS)
    return created, updated


def decode_person(data: object, *, today: dt.date) -> Person:
    """A person from the register's JSON, validated like ``natid registry add person``."""
    fields = _object(data, "person")
    problems: list[str] = []
    created, updated = _stamps(fields, problems)
    if fields.get("id") is None:
        problems.append("id: required")
    try:
        record = validate_record(PersonIn, fields, today=today)
    except InvalidRecord as exc:
        raise _bad("person", problems + list(exc.problems)) from None
    if problems:
        raise _bad("person", problems)
    family_km, given_km, family_latin, given_latin = record.names
    assert record.id is not None  # checked above
    return Person(
        id=record.id,
        national_id=record.national_id,
        family_name_km=family_km,
        given_name_km=given_km,
        family_name_latin=family_latin,
        given_name_latin=given_latin,
        birthdate=record.birthdate,
        sex=record.sex,
        nationality=record.nationality,
        address=record.address,
        phone=record.phone,
        email=record.email,
        status=record.status,
        created_at=created,
        updated_at=updated,
    )


def decode_entity(data: object, *, today: dt.date) -> LegalEntity:
    fields = _object(data, "legal entity")
    problems: list[str] = []
    created, updated = _stamps(fields, problems)
    if fields.get("id") is None:
        problems.append("id: required")
    try:
        record = validate_record(EntityIn, fields, today=today)
    except InvalidRecord as exc:
        raise _bad("legal entity", problems + list(exc.problems)) from None
    if problems:
        raise _bad("legal entity", problems)
    assert record.id is not None  # checked above
    return LegalEntity(
        id=record.id,
        register_no=record.register_no,
        name_km=record.name_km,
        name_en=record.name_en,
        kind=record.kind,
        status=record.status,
        created_at=created,
        updated_at=updated,
    )


def decode_servant(data: object, *, today: dt.date) -> CivilServant:
    fields = _object(data, "civil servant")
    problems: list[str] = []
    created, updated = _stamps(fields, problems)
    names: list[str] = []
    for name in ("ministry_name_en", "ministry_name_km"):
        try:
            names.append(free_text(fields.pop(name, None)))
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
    if fields.get("id") is None:
        problems.append("id: required")
    try:
        record = validate_record(ServantIn, fields, today=today)
    except InvalidRecord as exc:
        raise _bad("civil servant", problems + list(exc.problems)) from None
    if problems or record.ministry_id is None:
        raise _bad("civil servant", problems or ["ministry_id: required"])
    assert record.id is not None  # checked above
    return CivilServant(
        id=record.id,
        person_id=record.person_id,
        ministry_id=record.ministry_id,
        ministry_name_en=names[0],
        ministry_name_km=names[1],
        unit=record.unit,
        title=record.title,
        unit_km=record.unit_km,
        title_km=record.title_km,
        employee_number=record.employee_number,
        active=record.active,
        created_at=created,
        updated_at=updated,
    )


def decode_servants(data: object, *, today: dt.date) -> tuple[CivilServant, ...]:
    items = _object(data, "list of civil servants").get("servants")
    if not isinstance(items, list):
        raise _bad("list of civil servants", ["servants: expected a JSON array"])
    return tuple(decode_servant(item, today=today) for item in items)


def decode_proofing(data: object, *, now: dt.datetime) -> ProofingRecord | None:
    """The current proofing record, checked with the embedded register's proofing rules."""
    body = _object(data, "proofing answer")
    if "proofing" not in body:
        raise _bad("proofing answer", ["proofing: required (an object or null)"])
    if body["proofing"] is None:
        return None
    fields = _object(body["proofing"], "proofing record")
    problems: list[str] = []
    record_id = _uuid(fields.get("id"), "id", problems)
    person_id = _uuid(fields.get("person_id"), "person_id", problems)
    officer = fields.get("officer_id")
    officer_id = _uuid(officer, "officer_id", problems) if officer is not None else None
    at = _aware(fields.get("at"), "at", problems)
    if problems:
        raise _bad("proofing record", problems)
    try:
        spec = check_proofing(
            method=str(fields.get("method")),
            level=str(fields.get("level")),
            evidence=str(fields.get("evidence")),
            office=fields.get("office"),  # type: ignore[arg-type]  # free_text checks it
            at=at,
            now=now,
        )
    except InvalidRecord as exc:
        raise _bad("proofing record", exc.problems) from None
    return ProofingRecord(
        record_id,
        person_id,
        spec.method,
        AssuranceLevel(spec.level),
        spec.evidence,
        spec.office,
        officer_id,
        spec.at,
    )
