"""Revocation of individual credentials, as in the DCC revocation design (eHealth Network,
"Digital COVID Certificates - Revocation", technical specification and the gateway's revocation
list API).

A revoked credential is published by hashes, never by its UVCI or content, each the first
:data:`HASH_BYTES` (16, i.e. 128 bits) of a SHA-256, one per hash type (the spec's names):

* ``UCI`` - SHA-256 of the UVCI (``ci``) as text;
* ``COUNTRYCODEUCI`` - SHA-256 of the issuing country (the CWT ``iss`` claim) followed by the
  UVCI, so a country can revoke without clashing with another's identifier scheme;
* ``SIGNATURE`` - SHA-256 of the COSE signature: for ES256 only its ``r`` half (the first 32
  bytes; ECDSA signatures are malleable in ``s``, and ``r`` alone identifies the signing
  operation), for PS256 the whole signature. It revokes one copy even without a UVCI.

NatID publishes all three for every revoked credential that has not expired yet, grouped in
batches by signer ``kid`` and hash type, as in the gateway's batches::

    {"country": "KH", "timestamp": "...Z",
     "batches": [{"kid": "<b64>", "hashType": "UCI", "expires": "...Z",
                  "entries": [{"hash": "<b64 16 bytes>"}, ...]}, ...],
     "signature": "<JWS, detached, over the rest as canonical JSON>"}

signed by the trust-list anchor key (:mod:`vaccine_cert.trustlist`); the HTTP answer adds an
``ETag`` (its SHA-256) and a ``Last-Modified``. :class:`RevocationList` turns such a document
into the verifier's revocation hook (:data:`vaccine_cert.report.RevocationCheck`), which runs
offline: a credential is revoked if any of its three hashes is listed for its signer's kid.

Age. A list says only when it was made (``timestamp``; the format has no next-update time), and
an old list passes every credential revoked since. Verifiers show the list's date and warn once
it is older than :data:`STALE_AFTER` - the border page marks its lists as old after the same
time (``STALE`` in ``api/static/border/border.js``).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric import ec

from core.clock import require_aware
from vaccine_cert._internal.jws import canonical_json, sign_detached, verify_detached
from vaccine_cert.errors import InvalidRevocationHash, TrustListRejected
from vaccine_cert.report import RevocationQuery
from vaccine_cert.trust import kid_b64

if TYPE_CHECKING:
    from hashlib import sha256 as _sha256
else:
    try:
        # CPython's own SHA-256: the same digest as hashlib's (OpenSSL's), with about half the
        # fixed cost per call, which is most of the cost for a 30-byte UVCI. A verification
        # hashes three such strings; hashlib is the fallback where the module is missing.
        from _sha256 import sha256 as _sha256
    except ImportError:  # pragma: no cover - CPython ships it unless built without it
        from hashlib import sha256 as _sha256

__all__ = [
    "HASH_BYTES",
    "STALE_AFTER",
    "HashType",
    "RevocationList",
    "RevokedCredential",
    "RevokedHash",
    "build_revocation_list",
    "country_uci_hash",
    "parse_revocation_hash",
    "signature_hash",
    "uci_hash",
]

#: The revocation spec truncates every hash to its first 128 bits.
HASH_BYTES = 16
_ES256_SIGNATURE = 64
MAX_REVOCATION_LIST_BYTES = 64 * 1024 * 1024
#: How old a revocation list may get before verifiers warn (module docstring, "Age").
STALE_AFTER = dt.timedelta(days=7)


class HashType(StrEnum):
    SIGNATURE = "SIGNATURE"
    UCI = "UCI"
    COUNTRYCODEUCI = "COUNTRYCODEUCI"


def uci_hash(uvci: str) -> bytes:
    return _sha256_16(uvci.encode("utf-8"))


def country_uci_hash(country: str, uvci: str) -> bytes:
    return _sha256_16((country + uvci).encode("utf-8"))


def signature_hash(signature: bytes) -> bytes:
    """ES256 (64-byte ``r || s``): the hash of ``r``; PS256: of the whole signature."""
    part = signature[:32] if len(signature) == _ES256_SIGNATURE else signature
    return _sha256_16(part)


@dataclass(frozen=True, slots=True)
class RevokedCredential:
    """What the issuer knows about one revoked credential."""

    kid: bytes
    country: str
    uvci: str
    signature_hash: bytes
    expires_at: dt.datetime


@dataclass(frozen=True, slots=True)
class RevokedHash:
    """A revocation by one hash alone (the issuer may not know the UVCI, or it is not unique)."""

    kid: bytes
    hash_type: HashType
    value: bytes
    expires_at: dt.datetime


def parse_revocation_hash(text: str) -> bytes:
    """A revocation hash as an operator types it: 32 hex digits or base64 of the 16 bytes.

    A full SHA-256 (64 hex digits or 44 base64 characters) is accepted and truncated, as the
    revocation spec truncates it; anything else raises :class:`InvalidRevocationHash`.
    """
    value = text.strip() if isinstance(text, str) else ""
    raw: bytes | None = None
    if len(value) in {2 * HASH_BYTES, 64}:
        with contextlib.suppress(ValueError):
            raw = bytes.fromhex(value)
    if raw is None:
        with contextlib.suppress(ValueError, binascii.Error):
            raw = base64.b64decode(value, validate=True)
    if raw is None or len(raw) not in {HASH_BYTES, 32}:
        raise InvalidRevocationHash(
            "a revocation hash is the first 16 bytes of a SHA-256, as 32 hex digits or base64"
        )
    return raw[:HASH_BYTES]


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def build_revocation_list(
    revoked: Iterable[RevokedCredential],
    *,
    country: str,
    at: dt.datetime,
    key: ec.EllipticCurvePrivateKey,
    hashes: Iterable[RevokedHash] = (),
) -> dict[str, Any]:
    """The signed revocation list (module docstring) of credentials not yet expired at ``at``,
    with ``hashes`` revoked one by one."""
    at = require_aware(at)
    batches: dict[tuple[str, HashType], tuple[dt.datetime, set[bytes]]] = {}

    def add(kid: str, kind: HashType, value: bytes, expires: dt.datetime) -> None:
        latest, hashes = batches.get((kid, kind), (expires, set()))
        hashes.add(value)
        batches[(kid, kind)] = (max(latest, expires), hashes)

    for item in revoked:
        if item.expires_at <= at:
            continue  # an expired credential fails verification anyway
        kid = kid_b64(item.kid)
        add(kid, HashType.UCI, uci_hash(item.uvci), item.expires_at)
        add(
            kid, HashType.COUNTRYCODEUCI, country_uci_hash(item.country, item.uvci), item.expires_at
        )
        add(kid, HashType.SIGNATURE, item.signature_hash, item.expires_at)
    for single in hashes:
        if single.expires_at > at:
            add(kid_b64(single.kid), single.hash_type, single.value, single.expires_at)
    body: dict[str, Any] = {
        "country": country,
        "timestamp": _stamp(at),
        "batches": [
            {
                "kid": kid,
                "hashType": kind.value,
                "expires": _stamp(expires),
                "entries": [{"hash": base64.b64encode(h).decode("ascii")} for h in sorted(hashes)],
            }
            for (kid, kind), (expires, hashes) in sorted(batches.items())
        ],
    }
    body["signature"] = sign_detached(key, canonical_json(body))
    return body


class RevocationList:
    """A revocation list ready for offline checks; call it as the verifier's revocation hook."""

    __slots__ = ("_hashes", "timestamp")

    def __init__(
        self, hashes: Iterable[tuple[bytes, HashType, bytes]], timestamp: str = ""
    ) -> None:
        self._hashes = frozenset(hashes)
        #: When the list was made (as it says), for display of its age.
        self.timestamp = timestamp

    @classmethod
    def from_revoked(
        cls, revoked: Iterable[RevokedCredential], hashes: Iterable[RevokedHash] = ()
    ) -> RevocationList:
        entries = [(single.kid, single.hash_type, single.value) for single in hashes]
        for item in revoked:
            entries += [
                (item.kid, HashType.UCI, uci_hash(item.uvci)),
                (item.kid, HashType.COUNTRYCODEUCI, country_uci_hash(item.country, item.uvci)),
                (item.kid, HashType.SIGNATURE, item.signature_hash),
            ]
        return cls(entries)

    @classmethod
    def from_document(
        cls, document: bytes | str | dict[str, Any], *, anchor: ec.EllipticCurvePublicKey | None
    ) -> RevocationList:
        """Parse a published list; with ``anchor``, its signature must verify under it."""
        if isinstance(document, bytes | str):
            if len(document) > MAX_REVOCATION_LIST_BYTES:
                raise TrustListRejected("the revocation list is too large")
            try:
                document = json.loads(document)
            except (ValueError, UnicodeDecodeError, RecursionError) as exc:
                raise TrustListRejected("the revocation list is not JSON") from exc
        if not isinstance(document, dict) or not isinstance(document.get("batches"), list):
            raise TrustListRejected("a revocation list is an object with a batches array")
        if anchor is not None:
            body = {k: v for k, v in document.items() if k != "signature"}
            problem = verify_detached(document.get("signature"), canonical_json(body), anchor)
            if problem is not None:
                raise TrustListRejected(f"revocation list: {problem}")
        entries: list[tuple[bytes, HashType, bytes]] = []
        try:
            for batch in document["batches"]:
                kid = base64.b64decode(batch["kid"], validate=True)
                kind = HashType(batch["hashType"])
                entries.extend(
                    (kid, kind, base64.b64decode(entry["hash"], validate=True))
                    for entry in batch["entries"]
                )
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise TrustListRejected("a revocation list batch is malformed") from exc
        timestamp = document.get("timestamp")
        return cls(entries, timestamp if isinstance(timestamp, str) else "")

    @property
    def issued_at(self) -> dt.datetime | None:
        """When the list was made, from its ``timestamp`` (None if it has none NatID can read:
        its age is then unknown)."""
        try:
            made = dt.datetime.fromisoformat(self.timestamp.replace("Z", "+00:00"))
        except ValueError:
            return None
        return made if made.tzinfo is not None else None

    def is_stale(self, at: dt.datetime) -> bool:
        """Whether the list is older than :data:`STALE_AFTER` at ``at``, or of unknown age."""
        made = self.issued_at
        return made is None or require_aware(at) - made > STALE_AFTER

    def __len__(self) -> int:
        return len(self._hashes)

    def __call__(self, query: RevocationQuery) -> str | None:
        """The verifier's revocation hook: why the credential is revoked, or None.

        All three hashes are probed, in the order SIGNATURE, UCI, COUNTRYCODEUCI (the last two
        need the UVCI, the last one the country too); the first one listed answers.
        """
        hashes, kid = self._hashes, query.kid
        if (kid, _SIGNATURE, signature_hash(query.signature)) in hashes:
            return _REVOKED_BY[HashType.SIGNATURE]
        uvci = query.uvci
        if uvci is None:
            return None
        encoded = uvci.encode("utf-8")
        if (kid, _UCI, _sha256_16(encoded)) in hashes:
            return _REVOKED_BY[HashType.UCI]
        country = query.issuer_country
        if country is not None and (
            (kid, _COUNTRYCODEUCI, _sha256_16(country.encode("utf-8") + encoded)) in hashes
        ):
            return _REVOKED_BY[HashType.COUNTRYCODEUCI]
        return None


# Globals: in Python 3.11 reading an enum member off its class takes the slow attribute path
# that EnumType's ``__getattr__`` installs, and the probes run on every verification.
_SIGNATURE, _UCI, _COUNTRYCODEUCI = HashType.SIGNATURE, HashType.UCI, HashType.COUNTRYCODEUCI
_REVOKED_BY = {kind: f"revoked by its issuer (listed by {kind.value} hash)" for kind in HashType}


def _sha256_16(data: bytes) -> bytes:
    """The revocation spec's hash: the first :data:`HASH_BYTES` of SHA-256."""
    return _sha256(data).digest()[:HASH_BYTES]
