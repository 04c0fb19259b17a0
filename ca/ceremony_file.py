"""The key-ceremony file: a declarative YAML description, parsed and checked strictly.

Issue 3, "Hierarchy and ceremonies": ``natid ceremony run FILE.yaml`` runs a production key
ceremony from a file that names the keys to generate, the certificates to make and the officers
who attend; at least M of the N named officers must confirm (docs/ceremonies.md). This module
turns the file's bytes into a :class:`CeremonyFile` or raises :class:`InvalidCeremonyFile`
naming the path of the offending key (``certificates[2].subject.organisation``). It does no
I/O and touches no key backend: :mod:`ca.ceremony` checks the file against the backend and the
database, and runs it.

Decisions (each explained in docs/ceremonies.md):

* YAML is read with ``yaml.safe_load`` semantics only (no Python tags), at most
  :data:`MAX_FILE_BYTES`, and a key given twice in one mapping is refused: PyYAML would keep the
  last one silently, and two officers reading the same file must not see two meanings.
* Unknown keys are refused everywhere, so a misspelt ``validty_days`` cannot be ignored.
  Scalars must have the expected YAML type (``country: NO`` is the boolean false in YAML 1.1;
  quote it).
* Passphrases are never in the file: ``passphrase_hash`` must be an Argon2id hash (RFC 9106)
  with at least the OWASP minimum cost (19 MiB, 2 passes), as ``natid ceremony hash-passphrase``
  prints. Anything else - a plaintext passphrase above all - is refused.
* ``quorum.required`` is M, ``len(officers)`` is N, ``1 <= M <= N``. A file marked
  ``production: true`` needs ``M >= 2`` with no override: one person alone is not dual control
  (a rehearsal uses a copy marked ``production: false``).
* A ceremony makes CA and trust-service certificates only (``root-ca``, ``issuing-ca``,
  ``ocsp-responder``, ``tsa``), and this version makes a whole hierarchy: one ``root-ca``
  certificate named ``root`` (self-signed, ``issuer: self``), issuing CAs under it, at most one
  OCSP responder per issuing CA, and one TSA certified by the ``government`` CA - the shape that
  :class:`ca.authorities.Authorities` stores and ``natid serve`` loads.
* Every key is certified exactly once, and every certificate's key is declared under ``keys``.
  Certificates come back in issuance order (issuers first).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

import argon2
import yaml
from cryptography import x509

from ca.errors import CAError, InvalidCertificateRequest
from ca.hierarchy import ROOT_CA, TSA_ISSUER
from ca.names import service_name
from ca.profiles import ProfileName, get_profile
from ca.urls import CA_NAME_PATTERN
from core.errors import Conflict, InvalidInput, PermissionDenied
from hsm_adapters.base import LABEL_PATTERN, KeyAlgorithm

__all__ = [
    "CEREMONY_PROFILES",
    "MAX_FILE_BYTES",
    "CeremonyConflict",
    "CeremonyError",
    "CeremonyFile",
    "CertificateSpec",
    "InvalidCeremonyFile",
    "KeySpec",
    "Officer",
    "OfficerRole",
    "QuorumNotMet",
    "SubjectSpec",
    "hash_passphrase",
    "parse_ceremony_file",
]

MAX_FILE_BYTES = 256 * 1024
#: The shortest passphrase ``hash_passphrase`` accepts (NIST SP 800-63B §3.1.1.2 asks for at
#: least 8 characters of a memorised secret; a ceremony passphrase guards a root key).
MIN_PASSPHRASE_CHARS = 12
MAX_OFFICERS = 16
MAX_ITEMS = 64
#: The profiles a ceremony may make (end-entity certificates come from ``natid ca issue``).
CEREMONY_PROFILES = frozenset(
    {ProfileName.ROOT_CA, ProfileName.ISSUING_CA, ProfileName.OCSP_RESPONDER, ProfileName.TSA}
)
CA_PROFILES = frozenset({ProfileName.ROOT_CA, ProfileName.ISSUING_CA})
SELF = "self"
# OWASP Password Storage Cheat Sheet, Argon2id minimum: m=19 MiB, t=2, p=1.
_MIN_ARGON2_MEMORY_KIB = 19 * 1024
_MIN_ARGON2_TIME = 2
_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,47}")
_OFFICER_ID = re.compile(r"[a-z][a-z0-9._-]{0,31}")
_MAX_ACTOR = 200  # core.audit: an actor id is at most 200 characters
_E = TypeVar("_E", bound=StrEnum)


class CeremonyError(CAError):
    """Base of the key-ceremony errors."""

    code = "ceremony_error"


class InvalidCeremonyFile(CeremonyError, InvalidInput):
    """The ceremony file is not valid; the message names the path of the offending key."""

    code = "invalid_ceremony_file"


class CeremonyConflict(CeremonyError, Conflict):
    """The ceremony contradicts what exists: a key label is taken, a hierarchy is stored."""

    code = "ceremony_conflict"


class QuorumNotMet(CeremonyError, PermissionDenied):
    """Fewer than the required number of officers confirmed; nothing was generated."""

    code = "quorum_not_met"


class OfficerRole(StrEnum):
    """What an officer does at the ceremony; every role may confirm (docs/ceremonies.md)."""

    CEREMONY_ADMINISTRATOR = "ceremony-administrator"
    CRYPTO_OFFICER = "crypto-officer"
    SECURITY_OFFICER = "security-officer"
    AUDITOR = "auditor"
    WITNESS = "witness"


@dataclass(frozen=True, slots=True)
class Officer:
    id: str
    role: OfficerRole
    name: str | None = None
    passphrase_hash: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class KeySpec:
    label: str
    algorithm: KeyAlgorithm


@dataclass(frozen=True, slots=True)
class SubjectSpec:
    common_name: str
    organisation: str
    country: str = "KH"
    unit: str | None = None

    def name(self) -> x509.Name:
        return service_name(
            self.common_name, organisation=self.organisation, country=self.country, unit=self.unit
        )


@dataclass(frozen=True, slots=True)
class CertificateSpec:
    #: For CAs, the CA name (``root``, ``citizen``, ...), used in URLs and by issuance.
    name: str
    profile: ProfileName
    key: str
    #: The name of the issuing certificate in this file, or :data:`SELF` for the root.
    issuer: str
    subject: SubjectSpec
    validity_days: int | None = None
    #: Where it is in the file (``certificates[3]``), for error messages.
    path: str = field(default="", compare=False)

    @property
    def is_ca(self) -> bool:
        return self.profile in CA_PROFILES

    def validity(self, *, at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        """(notBefore, notAfter) from ``at``: the profile's longest, or ``validity_days``."""
        start, end = get_profile(self.profile).validity_window(at=at)
        if self.validity_days is not None:
            end = start + dt.timedelta(days=self.validity_days, seconds=-1)
        return start, end


@dataclass(frozen=True, slots=True)
class CeremonyFile:
    id: str
    purpose: str
    production: bool
    required: int
    officers: tuple[Officer, ...]
    keys: tuple[KeySpec, ...]
    #: In issuance order: every issuer before what it certifies.
    certificates: tuple[CertificateSpec, ...]
    #: SHA-256 (hex) of the file's exact bytes, as officers compare it with their printed copy.
    sha256: str

    def key(self, label: str) -> KeySpec:
        return next(k for k in self.keys if k.label == label)

    def officer(self, officer_id: str) -> Officer:
        return next(o for o in self.officers if o.id == officer_id)


# --- reading YAML -------------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[object] = set()
    for key_node, _value in node.value:
        key = loader.construct_object(key_node)
        if isinstance(key, str) and key in seen:
            line = key_node.start_mark.line + 1
            raise InvalidCeremonyFile(f"line {line}: the key {key!r} is given twice")
        seen.add(key if isinstance(key, str) else repr(key))
    return dict(loader.construct_mapping(node))


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _fail(path: str, message: str) -> InvalidCeremonyFile:
    return InvalidCeremonyFile(f"{path}: {message}")


def _mapping(
    value: object, path: str, *, required: set[str], optional: frozenset[str] = frozenset()
) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(path or "the file", f"expected a mapping, got {_kind(value)}")
    for key in value:
        if not isinstance(key, str):
            raise _fail(path or "the file", f"keys must be strings, got {_kind(key)}")
        if key not in required and key not in optional:
            allowed = ", ".join(sorted(required | optional))
            raise _fail(_join(path, key), f"unknown key (expected one of: {allowed})")
    for key in sorted(required):
        if key not in value:
            raise _fail(_join(path, key), "missing")
    return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind(value: object) -> str:
    return "nothing" if value is None else type(value).__name__


def _string(value: object, path: str, *, pattern: re.Pattern[str] | None = None) -> str:
    if not isinstance(value, str):
        raise _fail(path, f"expected a string, got {_kind(value)} (quote it)")
    text = value.strip()
    if not text or len(text) > 200:
        raise _fail(path, "expected 1-200 characters")
    if pattern is not None and not pattern.fullmatch(text):
        raise _fail(path, f"{text[:60]!r} does not match {pattern.pattern}")
    return text


def _integer(value: object, path: str, *, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _fail(path, f"expected an integer, got {_kind(value)}")
    if not low <= value <= high:
        raise _fail(path, f"expected {low} to {high}, got {value}")
    return value


def _list(value: object, path: str, *, high: int) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise _fail(path, f"expected a non-empty list, got {_kind(value)}")
    if len(value) > high:
        raise _fail(path, f"at most {high} entries, got {len(value)}")
    return value


def _enum(kind: type[_E], value: object, path: str) -> _E:
    text = _string(value, path)
    try:
        return kind(text)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise _fail(path, f"unknown value {text[:40]!r}; expected one of: {allowed}") from None


# --- the sections -------------------------------------------------------------------------------


def _passphrase_hash(value: object, path: str) -> str:
    # Do not echo the value: it may be a plaintext passphrase pasted by mistake.
    if not isinstance(value, str) or not value.startswith("$argon2id$"):
        raise _fail(
            path,
            "expected an Argon2id hash from `natid ceremony hash-passphrase` "
            "($argon2id$...); passphrases are never written in the file",
        )
    try:
        params = argon2.extract_parameters(value)
    except argon2.exceptions.InvalidHashError:
        raise _fail(path, "not a well-formed Argon2id hash") from None
    if params.memory_cost < _MIN_ARGON2_MEMORY_KIB or params.time_cost < _MIN_ARGON2_TIME:
        raise _fail(
            path,
            f"the hash is too cheap (m={params.memory_cost} KiB, t={params.time_cost}); "
            f"at least m={_MIN_ARGON2_MEMORY_KIB}, t={_MIN_ARGON2_TIME} (RFC 9106, OWASP)",
        )
    return value


def hash_passphrase(passphrase: str) -> str:
    """The Argon2id hash of an officer's passphrase for the ceremony file (argon2-cffi's
    defaults: RFC 9106 §4 second recommended option, m=64 MiB, t=3, p=4)."""
    if len(passphrase) < MIN_PASSPHRASE_CHARS:
        raise InvalidCeremonyFile(
            f"a ceremony passphrase needs at least {MIN_PASSPHRASE_CHARS} characters"
        )
    if passphrase != passphrase.strip():
        raise InvalidCeremonyFile("a ceremony passphrase must not start or end with a space")
    return argon2.PasswordHasher().hash(passphrase)


def _officers(value: object) -> tuple[Officer, ...]:
    officers: list[Officer] = []
    for i, item in enumerate(_list(value, "officers", high=MAX_OFFICERS)):
        path = f"officers[{i}]"
        raw = _mapping(
            item,
            path,
            required={"id", "role", "passphrase_hash"},
            optional=frozenset({"name"}),
        )
        officer = Officer(
            id=_string(raw["id"], f"{path}.id", pattern=_OFFICER_ID),
            role=_enum(OfficerRole, raw["role"], f"{path}.role"),
            name=_string(raw["name"], f"{path}.name") if "name" in raw else None,
            passphrase_hash=_passphrase_hash(raw["passphrase_hash"], f"{path}.passphrase_hash"),
        )
        if any(o.id == officer.id for o in officers):
            raise _fail(f"{path}.id", f"officer {officer.id!r} is listed twice")
        if any(o.passphrase_hash == officer.passphrase_hash for o in officers):
            raise _fail(f"{path}.passphrase_hash", "the same hash as another officer's")
        officers.append(officer)
    if len(",".join(o.id for o in officers)) > _MAX_ACTOR:
        raise _fail("officers", f"the officer ids together exceed {_MAX_ACTOR} characters")
    return tuple(officers)


def _keys(value: object) -> tuple[KeySpec, ...]:
    keys: list[KeySpec] = []
    for i, item in enumerate(_list(value, "keys", high=MAX_ITEMS)):
        path = f"keys[{i}]"
        raw = _mapping(item, path, required={"label", "algorithm"})
        spec = KeySpec(
            label=_string(raw["label"], f"{path}.label", pattern=LABEL_PATTERN),
            algorithm=_enum(KeyAlgorithm, raw["algorithm"], f"{path}.algorithm"),
        )
        if any(k.label == spec.label for k in keys):
            raise _fail(f"{path}.label", f"the key {spec.label} is declared twice")
        keys.append(spec)
    return tuple(keys)


def _subject(value: object, path: str) -> SubjectSpec:
    raw = _mapping(
        value,
        path,
        required={"common_name", "organisation"},
        optional=frozenset({"country", "unit"}),
    )
    spec = SubjectSpec(
        common_name=_string(raw["common_name"], f"{path}.common_name"),
        organisation=_string(raw["organisation"], f"{path}.organisation"),
        country=_string(raw.get("country", "KH"), f"{path}.country"),
        unit=_string(raw["unit"], f"{path}.unit") if "unit" in raw else None,
    )
    try:
        spec.name()
    except InvalidCertificateRequest as exc:
        raise _fail(path, exc.message) from None
    return spec


def _certificate(item: object, path: str, keys: Mapping[str, KeySpec]) -> CertificateSpec:
    raw = _mapping(
        item,
        path,
        required={"name", "profile", "key", "issuer", "subject"},
        optional=frozenset({"validity_days"}),
    )
    profile = _enum(ProfileName, raw["profile"], f"{path}.profile")
    if profile not in CEREMONY_PROFILES:
        allowed = ", ".join(sorted(CEREMONY_PROFILES))
        raise _fail(f"{path}.profile", f"a ceremony makes {allowed} certificates, not {profile}")
    spec = CertificateSpec(
        name=_string(raw["name"], f"{path}.name", pattern=CA_NAME_PATTERN),
        profile=profile,
        key=_string(raw["key"], f"{path}.key", pattern=LABEL_PATTERN),
        issuer=_string(raw["issuer"], f"{path}.issuer"),
        subject=_subject(raw["subject"], f"{path}.subject"),
        validity_days=(
            _integer(raw["validity_days"], f"{path}.validity_days", low=1, high=50 * 366)
            if "validity_days" in raw
            else None
        ),
        path=path,
    )
    prof = get_profile(profile)
    if spec.validity_days is not None and dt.timedelta(days=spec.validity_days) > prof.validity:
        raise _fail(
            f"{path}.validity_days",
            f"{spec.validity_days} days exceed profile {profile}'s {prof.validity.days} days",
        )
    key = keys.get(spec.key)
    if key is None:
        raise _fail(f"{path}.key", f"the key {spec.key} is not declared under keys")
    if key.algorithm not in prof.key_algorithms:
        allowed = ", ".join(sorted(prof.key_algorithms))
        raise _fail(
            f"{path}.key", f"profile {profile} does not accept {key.algorithm} (only {allowed})"
        )
    return spec


def _certificates(value: object, keys: tuple[KeySpec, ...]) -> tuple[CertificateSpec, ...]:
    by_label = {k.label: k for k in keys}
    specs: list[tuple[str, CertificateSpec]] = []
    for i, item in enumerate(_list(value, "certificates", high=MAX_ITEMS)):
        path = f"certificates[{i}]"
        spec = _certificate(item, path, by_label)
        if any(s.name == spec.name for _, s in specs):
            raise _fail(f"{path}.name", f"the name {spec.name} is used twice")
        if any(s.key == spec.key for _, s in specs):
            raise _fail(f"{path}.key", f"the key {spec.key} is already certified by this file")
        specs.append((path, spec))
    unused = sorted(set(by_label) - {s.key for _, s in specs})
    if unused:
        raise _fail("keys", f"declared but not certified: {', '.join(unused)}")
    _check_shape(specs)
    return _issuance_order(specs)


def _check_shape(specs: list[tuple[str, CertificateSpec]]) -> None:
    """The hierarchy that ca.authorities stores (see the module docstring)."""
    by_name = {s.name: s for _, s in specs}
    roots = [s for _, s in specs if s.profile is ProfileName.ROOT_CA]
    if len(roots) != 1:
        raise _fail(
            "certificates",
            f"expected exactly one root-ca certificate (this version makes whole hierarchies; "
            f"adding a CA to an existing hierarchy is not supported yet), found {len(roots)}",
        )
    responders: set[str] = set()
    for path, spec in specs:
        _check_issuer(path, spec, by_name.get(spec.issuer))
        if spec.profile is ProfileName.OCSP_RESPONDER:
            if spec.issuer in responders:
                raise _fail(f"{path}.issuer", f"CA {spec.issuer} already has an OCSP responder")
            responders.add(spec.issuer)
    tsas = sum(1 for _, s in specs if s.profile is ProfileName.TSA)
    if tsas != 1:
        raise _fail("certificates", f"expected exactly one tsa certificate, found {tsas}")


def _check_issuer(path: str, spec: CertificateSpec, issuer: CertificateSpec | None) -> None:
    if spec.profile is ProfileName.ROOT_CA:
        if spec.name != ROOT_CA:
            raise _fail(f"{path}.name", f"the root CA must be named {ROOT_CA!r}")
        if spec.issuer != SELF:
            raise _fail(f"{path}.issuer", f"a root-ca certificate is issued by {SELF!r}")
        return
    if issuer is None:
        raise _fail(
            f"{path}.issuer",
            f"{spec.issuer[:40]!r} is not a CA certificate of this file (nor {SELF!r}, "
            "which only the root may use)",
        )
    if not issuer.is_ca:
        raise _fail(f"{path}.issuer", f"{issuer.name} is not a CA certificate")
    if spec.profile is ProfileName.ISSUING_CA and issuer.profile is not ProfileName.ROOT_CA:
        raise _fail(f"{path}.issuer", "issuing CAs are certified by the root")
    if spec.profile is ProfileName.OCSP_RESPONDER and issuer.profile is ProfileName.ROOT_CA:
        raise _fail(f"{path}.issuer", "the root has no OCSP responder (its CRL is enough)")
    if spec.profile is ProfileName.TSA and spec.issuer != TSA_ISSUER:
        raise _fail(f"{path}.issuer", f"the TSA is certified by the {TSA_ISSUER} CA")
    allowed = get_profile(spec.profile).issuing_cas
    if spec.issuer not in allowed:
        raise _fail(
            f"{path}.issuer", f"profile {spec.profile} is issued only by {', '.join(allowed)}"
        )


def _issuance_order(specs: list[tuple[str, CertificateSpec]]) -> tuple[CertificateSpec, ...]:
    # The shape check allows depth 2 at most (root -> issuing CA -> service), so ordering by
    # depth is a topological order.
    def depth(spec: CertificateSpec) -> int:
        if spec.profile is ProfileName.ROOT_CA:
            return 0
        return 1 if spec.profile is ProfileName.ISSUING_CA else 2

    return tuple(sorted((s for _, s in specs), key=depth))


# --- the file ---------------------------------------------------------------------------------


def parse_ceremony_file(data: bytes) -> CeremonyFile:
    """Parse and check a ceremony file; raises :class:`InvalidCeremonyFile`."""
    if len(data) > MAX_FILE_BYTES:
        raise InvalidCeremonyFile(f"the file is {len(data)} bytes; at most {MAX_FILE_BYTES}")
    try:
        text = data.decode("utf-8")
        document = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except UnicodeDecodeError:
        raise InvalidCeremonyFile("the file is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise InvalidCeremonyFile(f"{where}not valid YAML ({problem})") from None
    root = _mapping(
        document, "", required={"ceremony", "quorum", "officers", "keys", "certificates"}
    )
    head = _mapping(
        root["ceremony"], "ceremony", required={"id", "purpose"}, optional=frozenset({"production"})
    )
    production = head.get("production", False)
    if not isinstance(production, bool):
        raise _fail("ceremony.production", f"expected true or false, got {_kind(production)}")
    quorum = _mapping(root["quorum"], "quorum", required={"required"})
    officers = _officers(root["officers"])
    required = _integer(quorum["required"], "quorum.required", low=1, high=len(officers))
    if production and required < 2:
        raise _fail(
            "quorum.required",
            "a production ceremony needs at least 2 officers to confirm (dual control); "
            "set production: false for a rehearsal",
        )
    keys = _keys(root["keys"])
    return CeremonyFile(
        id=_string(head["id"], "ceremony.id", pattern=_ID),
        purpose=_string(head["purpose"], "ceremony.purpose"),
        production=production,
        required=required,
        officers=officers,
        keys=keys,
        certificates=_certificates(root["certificates"], keys),
        sha256=hashlib.sha256(data).hexdigest(),
    )
