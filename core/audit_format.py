"""The audit ledger's wire format: entries, checkpoints, and their canonical encodings.

This module is the specification an auditor needs to re-implement ``natid audit verify``.
Everything below is byte-exact; :mod:`core.audit_verify` checks it and :mod:`core.audit`
writes it.

Canonical JSON
    RFC 8785 (JSON Canonicalization Scheme) restricted to I-JSON (RFC 7493) values without
    floating point numbers: objects (string keys, no duplicates), arrays, strings, ``true``,
    ``false``, ``null`` and integers with ``|n| <= 2**53 - 1``. Keys are sorted by their UTF-16
    code units (RFC 8785 §3.2.3), no whitespace, strings escape only ``"``, ``\\`` and
    U+0000..U+001F (``\\b \\t \\n \\f \\r`` short forms, others ``\\u00xx`` in lowercase hex;
    RFC 8785 §3.2.2.2), the result is UTF-8. Floats are refused because their canonical form is
    the one part of RFC 8785 that is hard to re-implement; put amounts in strings or integers.

Time
    RFC 3339 §5.6 in UTC with exactly six fractional digits and ``Z``:
    ``2026-11-01T09:00:00.000000Z``.

Hashes
    Lowercase hex SHA-256 (64 characters). The genesis hash - the ``prev_hash`` of entry 1 and
    the head's hash of an empty ledger - is 64 ``0`` characters (32 zero bytes).

Entry hash (step by step)
    1. Build the JSON object with exactly the members ``actor`` (string or ``null``), ``at``
       (Time), ``data`` (an object), ``event`` (string), ``prev_hash`` (Hash), ``seq``
       (integer, 1 for the first entry) and ``subject`` (string or ``null``).
    2. Encode it as Canonical JSON.
    3. ``entry_hash = SHA-256(b"natid.audit.entry.v1\\x00" || canonical)``.
    The stored ``data`` column holds the Canonical JSON text of ``data``; a stored text that is
    not already canonical is itself a failure (a changed byte must never go unnoticed).

    Test vector - entry 1 at ``2026-11-01T09:00:00.000000Z``, event ``registry.person.added``,
    actor ``officer:7f3a``, subject ``person:91b2``, data ``{"office": "phnom-penh-1",
    "loa": "high"}``, prev_hash genesis - has entry_hash
    ``0c28dbc0b81552cf421e0a9a2d2f0950592cdda78b96043e33f7b3a7e77bf1a7``, which a shell
    reproduces: ``{ printf 'natid.audit.entry.v1\\0'; printf '%s' "$CANONICAL"; } | sha256sum``.

Checkpoint signature
    1. Build ``{"algorithm", "at", "entry_hash", "key_label", "seq"}`` (``seq`` and
       ``entry_hash`` of the covered entry, ``at`` in Time format, ``algorithm`` one of
       :class:`CheckpointAlgorithm`).
    2. ``message = b"natid.audit.checkpoint.v1\\x00" || canonical``.
    3. Sign ``message``: ``ecdsa-sha256`` is ECDSA with SHA-256 (DER signature, any curve);
       ``ed25519`` is pure Ed25519 (RFC 8032); ``rsa-pss-sha256`` is RSASSA-PSS with SHA-256,
       MGF1-SHA-256 and a 32-byte salt (RFC 8017 §8.1).

The NUL-terminated prefixes separate the two kinds of message (and any later version), so an
entry hash can never be presented as a checkpoint or the other way round.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeAlias

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from core.clock import require_aware
from core.errors import (
    Conflict,
    CoreError,
    InfrastructureError,
    InvalidInput,
    RemoteDataError,
)

__all__ = [
    "CHECKPOINT_DOMAIN",
    "ENTRY_DOMAIN",
    "GENESIS_HASH",
    "MAX_DATA_BYTES",
    "AuditEntry",
    "AuditError",
    "AuditLedgerBroken",
    "AuditUnavailable",
    "Checkpoint",
    "CheckpointAlgorithm",
    "InvalidAuditEntry",
    "JSONValue",
    "LedgerHead",
    "NoCheckpointPossible",
    "PrivateKey",
    "PublicKey",
    "algorithm_for",
    "canonical_data",
    "canonical_json",
    "check_event",
    "check_identifier",
    "checkpoint_message",
    "compute_entry_hash",
    "format_time",
    "parse_canonical_data",
    "sign_checkpoint",
    "signature_valid",
]

ENTRY_DOMAIN = b"natid.audit.entry.v1\x00"
CHECKPOINT_DOMAIN = b"natid.audit.checkpoint.v1\x00"
GENESIS_HASH = "0" * 64
#: The largest ``data`` an entry may carry, as Canonical JSON bytes. Entries hold ids, not files.
MAX_DATA_BYTES = 16 * 1024
#: Deeper nesting is refused before encoding (it would only ever be an attack or a bug).
MAX_DEPTH = 16
#: I-JSON's interoperable integer range (RFC 7493 §2.2).
MAX_SAFE_INTEGER = 2**53 - 1

JSONValue: TypeAlias = "bool | int | str | list[JSONValue] | dict[str, JSONValue] | None"
PrivateKey: TypeAlias = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
PublicKey: TypeAlias = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey

_EVENT_RE = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+")
# Actors, subjects and key labels are identifiers (ARCHITECTURE.md: ids, not names): printable
# ASCII without spaces, which also keeps Khmer or Latin personal names out by construction.
_ID_RE = re.compile(r"[\x21-\x7e]+")
_HASH_RE = re.compile(r"[0-9a-f]{64}")
_NAME_LENGTH = 200
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


# --- errors ----------------------------------------------------------------------------------


class AuditError(CoreError):
    """Base of the audit ledger's errors."""

    code = "audit_error"


class InvalidAuditEntry(AuditError, InvalidInput):
    """An event name, actor, subject or data the ledger refuses to record."""

    code = "invalid_audit_entry"


class NoCheckpointPossible(AuditError, Conflict):
    """A checkpoint was asked for, but there is no signing key or nothing to sign."""

    code = "audit_no_checkpoint"


class AuditUnavailable(AuditError, InfrastructureError):
    """The ledger's database failed or is not migrated."""

    code = "audit_unavailable"


class AuditLedgerBroken(AuditError, RemoteDataError):
    """The stored ledger fails verification: it was changed, truncated or reordered.

    The verifier treats the database as an untrusted party, hence a remote-data error.
    """

    code = "audit_ledger_broken"


class CheckpointAlgorithm(StrEnum):
    ECDSA_SHA256 = "ecdsa-sha256"
    ED25519 = "ed25519"
    RSA_PSS_SHA256 = "rsa-pss-sha256"


# --- values ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One ledger entry exactly as stored (``data_json`` is its Canonical JSON text)."""

    seq: int
    at: dt.datetime
    event: str
    actor: str | None
    subject: str | None
    data_json: str
    prev_hash: str
    entry_hash: str

    @property
    def data(self) -> dict[str, JSONValue]:
        """The entry's data as a dict; raises :class:`AuditLedgerBroken` if it is not JSON."""
        try:
            return parse_canonical_data(self.data_json)
        except InvalidAuditEntry as exc:
            raise AuditLedgerBroken(f"entry {self.seq}: stored data is not valid") from exc

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``natid audit tail --json``)."""
        try:
            data: Any = json.loads(self.data_json)
        except ValueError:
            data = self.data_json
        return {
            "seq": self.seq,
            "at": format_time(self.at),
            "event": self.event,
            "actor": self.actor,
            "subject": self.subject,
            "data": data,
            "prev_hash": self.prev_hash,
            "entry_hash": self.entry_hash,
        }


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement that entry ``seq`` has hash ``entry_hash``."""

    seq: int
    entry_hash: str
    at: dt.datetime
    key_label: str
    algorithm: str
    signature: bytes
    #: SubjectPublicKeyInfo DER of the signer, for information only; never trusted.
    public_key: bytes


@dataclass(frozen=True, slots=True)
class LedgerHead:
    """The newest entry's ``seq`` and ``entry_hash``; written ``SEQ:HASH`` when exported."""

    seq: int
    entry_hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.entry_hash}"

    @classmethod
    def parse(cls, text: str) -> LedgerHead:
        """Parse ``SEQ:HASH`` (as printed by ``natid audit head``)."""
        seq_text, sep, hash_text = text.strip().partition(":")
        if not sep or not seq_text.isdecimal() or _HASH_RE.fullmatch(hash_text) is None:
            raise InvalidAuditEntry(
                "a trusted head must be SEQ:HASH (a decimal seq and 64 lowercase hex digits)"
            )
        return cls(int(seq_text), hash_text)


# --- validation and canonical JSON ---------------------------------------------------------


def check_event(event: object) -> str:
    """Return ``event`` if it is a dotted lowercase name such as ``registry.person.added``."""
    if not isinstance(event, str) or len(event) > _NAME_LENGTH or not _EVENT_RE.fullmatch(event):
        raise InvalidAuditEntry(
            "an audit event must be a dotted lowercase name like 'registry.person.added' "
            f"(at most {_NAME_LENGTH} characters)"
        )
    return event


def check_identifier(value: object, what: str) -> str | None:
    """Return ``value`` if it is ``None`` or an identifier (printable ASCII, no spaces)."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > _NAME_LENGTH or not _ID_RE.fullmatch(value):
        raise InvalidAuditEntry(
            f"the {what} must be an identifier: 1-{_NAME_LENGTH} printable ASCII characters "
            "without spaces (ids, not names)"
        )
    return value


def _utf16_key(key: str) -> bytes:
    # RFC 8785 §3.2.3 sorts by UTF-16 code units; surrogatepass keeps this total even for the
    # lone surrogates that the final UTF-8 encoding then refuses.
    return key.encode("utf-16-be", "surrogatepass")


def _normalise(value: object, depth: int) -> JSONValue:
    if depth > MAX_DEPTH:
        raise InvalidAuditEntry(f"audit data may nest at most {MAX_DEPTH} levels deep")
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise InvalidAuditEntry("audit data integers must lie within +-(2**53 - 1)")
        return int(value)
    if isinstance(value, Mapping):
        items: list[tuple[str, JSONValue]] = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidAuditEntry(
                    f"audit data keys must be strings, got {type(key).__name__}"
                )
            items.append((key, _normalise(item, depth + 1)))
        items.sort(key=lambda kv: _utf16_key(kv[0]))
        return dict(items)
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        return [_normalise(item, depth + 1) for item in value]
    if isinstance(value, float):
        raise InvalidAuditEntry("audit data may not contain floats; use an integer or a string")
    raise InvalidAuditEntry(
        f"audit data must be JSON (objects, arrays, strings, integers, booleans, null), "
        f"got {type(value).__name__}"
    )


def canonical_json(value: object) -> str:
    """Canonical JSON text of ``value`` (module docstring); raises :class:`InvalidAuditEntry`."""
    normalised = _normalise(value, 0)
    text = _ENCODER.encode(normalised)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidAuditEntry("audit data strings must be valid Unicode text") from exc
    return text


def canonical_data(data: Mapping[str, Any] | None) -> str:
    """Canonical JSON of an entry's ``data`` (an object), at most :data:`MAX_DATA_BYTES`."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise InvalidAuditEntry(f"audit data must be a JSON object, got {type(data).__name__}")
    text = canonical_json(data)
    size = len(text.encode("utf-8"))
    if size > MAX_DATA_BYTES:
        raise InvalidAuditEntry(
            f"audit data is {size} bytes as JSON; at most {MAX_DATA_BYTES} are allowed "
            "(record ids, not documents)"
        )
    return text


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _refuse_float(text: str) -> None:
    raise ValueError("floats are not allowed")


# Built once: json.dumps/json.loads with options construct a new coder on every call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_refuse_float)
_encode_string: Callable[[str], str] = json.encoder.encode_basestring


def parse_canonical_data(text: str) -> dict[str, JSONValue]:
    """Parse a stored ``data`` text, insisting that it is Canonical JSON of an object."""
    try:
        value = _DECODER.decode(text)
    except (ValueError, RecursionError) as exc:
        raise InvalidAuditEntry("stored audit data is not JSON") from exc
    if not isinstance(value, dict) or canonical_json(value) != text:
        raise InvalidAuditEntry("stored audit data is not a Canonical JSON object")
    return value


def format_time(at: dt.datetime) -> str:
    """``at`` as RFC 3339 UTC with microseconds; naive datetimes are refused."""
    u = require_aware(at, "at")
    return (
        f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}"
        f".{u.microsecond:06d}Z"
    )


def _j(value: str | None) -> str:
    # The JSON string escaping RFC 8785 §3.2.2.2 asks for (the stdlib's, without ensure_ascii).
    return "null" if value is None else _encode_string(value)


def compute_entry_hash(
    *,
    seq: int,
    at: dt.datetime,
    event: str,
    actor: str | None,
    subject: str | None,
    data_json: str,
    prev_hash: str,
) -> str:
    """The entry hash of the module docstring; ``data_json`` must already be canonical.

    Members are written in their sorted order, so this string equals the Canonical JSON of the
    whole object without re-encoding ``data``.
    """
    canonical = (
        f'{{"actor":{_j(actor)},"at":{_j(format_time(at))},"data":{data_json},'
        f'"event":{_j(event)},"prev_hash":{_j(prev_hash)},"seq":{int(seq)},'
        f'"subject":{_j(subject)}}}'
    )
    return hashlib.sha256(ENTRY_DOMAIN + canonical.encode("utf-8")).hexdigest()


def checkpoint_message(
    *, seq: int, entry_hash: str, at: dt.datetime, key_label: str, algorithm: str
) -> bytes:
    """The bytes a checkpoint signature covers (module docstring, "Checkpoint signature")."""
    canonical = canonical_json(
        {
            "algorithm": str(algorithm),
            "at": format_time(at),
            "entry_hash": entry_hash,
            "key_label": key_label,
            "seq": int(seq),
        }
    )
    return CHECKPOINT_DOMAIN + canonical.encode("utf-8")


def algorithm_for(key: PrivateKey | PublicKey) -> CheckpointAlgorithm:
    """The checkpoint algorithm a key of this type signs with."""
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return CheckpointAlgorithm.ECDSA_SHA256
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return CheckpointAlgorithm.ED25519
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return CheckpointAlgorithm.RSA_PSS_SHA256
    raise InvalidAuditEntry(
        f"the ledger key must be an EC, RSA or Ed25519 key, got {type(key).__name__}"
    )


def sign_checkpoint(key: PrivateKey, message: bytes) -> bytes:
    """Sign ``message`` with the ledger key (the backend's ``sign()`` may run in an HSM)."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(message, ec.ECDSA(hashes.SHA256()))
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(message)
    return key.sign(message, _PSS, hashes.SHA256())


def signature_valid(key: PublicKey, algorithm: str, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` over ``message`` verifies under ``key`` with ``algorithm``.

    The algorithm must be the one the trusted key's type implies; a stored algorithm name never
    chooses how a key is used (no algorithm substitution).
    """
    try:
        if algorithm != algorithm_for(key):
            return False
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, message)
        else:
            key.verify(signature, message, _PSS, hashes.SHA256())
    except (InvalidSignature, InvalidAuditEntry, ValueError, TypeError):
        return False
    return True
