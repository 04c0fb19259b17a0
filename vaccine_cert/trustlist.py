"""Trust lists of document signer certificates in the EU DCC gateway's shape, signed by an anchor.

Shape (EU DCC gateway, ``GET /trustList``, the form existing verifier apps load): a JSON array of
entries ``{"kid", "country", "certificateType", "thumbprint", "timestamp", "rawData",
"signature"}`` - ``kid`` the base64 of the 8-byte HCERT key identifier, ``certificateType``
``"DSC"``, ``rawData`` the base64 DER certificate, ``thumbprint`` the lowercase hex SHA-256 of
that DER, ``timestamp`` when the entry was published (RFC 3339, UTC; NatID publishes a signer
from the moment it is certified, so this is its notBefore, and the list's content changes only
when its signers do).

Signature (a NatID decision; the gateway's own is a CMS message by an upload certificate,
which a national list has no use for): ``signature`` is a JWS with a detached payload
(:mod:`vaccine_cert._internal.jws`, ES256) over the entry's other six fields as canonical JSON,
made with the ``natid-health-trustlist`` key from the key backend. That key is the trust
anchor: its public key is published (PEM SubjectPublicKeyInfo) at
``GET /health/trustlist/anchor`` and handed to other countries out of band; whoever holds it
checks each entry on its own, so an entry cannot be moved between lists or altered.

Import (:func:`parse_trustlist`) is all or nothing: each entry's signature is checked against
the configured anchor, its ``thumbprint`` and ``kid`` must be those of its ``rawData``, and the
certificate must be usable as a signer (:class:`~vaccine_cert.trust.TrustedSigner`); one bad
entry rejects the whole list, since a list with a forged entry cannot be trusted for the rest.
Without an anchor signatures are not checked, everything else is: only for a list whose origin
is vouched for otherwise. A list file is not (anyone can add a rogue certificate and copy
another entry's signature onto it), so every command that reads one - ``trustlist import``,
``verify --trust`` - passes the anchor.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from vaccine_cert._internal.jws import canonical_json, sign_detached, verify_detached
from vaccine_cert.errors import InvalidTrustedCertificate, TrustListRejected
from vaccine_cert.trust import TrustedSigner, kid_b64

__all__ = [
    "CERTIFICATE_TYPE_DSC",
    "MAX_TRUSTLIST_BYTES",
    "ListedSigner",
    "anchor_fingerprint",
    "export_trustlist",
    "listed_entry",
    "load_anchor",
    "parse_trustlist",
]

CERTIFICATE_TYPE_DSC = "DSC"
#: Largest trust list accepted (the EU's, with a few thousand DSCs, is a few MB).
MAX_TRUSTLIST_BYTES = 32 * 1024 * 1024
_FIELDS = ("certificateType", "country", "kid", "rawData", "thumbprint", "timestamp")


@dataclass(frozen=True, slots=True)
class ListedSigner:
    """One DSC taken from a trust list, checked."""

    country: str
    signer: TrustedSigner
    thumbprint: str
    #: The entry's own ``signature`` and ``timestamp``, kept to republish it unchanged.
    signature: str = ""
    timestamp: str = ""


def anchor_fingerprint(public_key: ec.EllipticCurvePublicKey) -> str:
    """Lowercase hex SHA-256 of the anchor's SubjectPublicKeyInfo (what operators compare)."""
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


def load_anchor(data: bytes) -> ec.EllipticCurvePublicKey:
    """A trust anchor from PEM or DER: a public key (SubjectPublicKeyInfo) or a certificate."""
    loaders: tuple[Callable[[bytes], object], ...] = (
        serialization.load_pem_public_key,
        serialization.load_der_public_key,
        lambda d: x509.load_pem_x509_certificate(d).public_key(),
        lambda d: x509.load_der_x509_certificate(d).public_key(),
    )
    for load in loaders:
        try:
            key = load(data)
        except (ValueError, TypeError):
            continue
        if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1":
            return key
        raise TrustListRejected("a trust anchor must be an ECDSA P-256 key (ES256)")
    raise TrustListRejected("the trust anchor is neither a PEM/DER public key nor a certificate")


def export_trustlist(
    certificates: Iterable[x509.Certificate],
    *,
    country: str,
    key: ec.EllipticCurvePrivateKey,
) -> list[dict[str, str]]:
    """The signed trust list of ``certificates`` (module docstring), in the given order."""
    entries = []
    for certificate in certificates:
        stamp = certificate.not_valid_before_utc.replace(microsecond=0)
        timestamp = stamp.isoformat().replace("+00:00", "Z")
        der = certificate.public_bytes(serialization.Encoding.DER)
        digest = hashlib.sha256(der).digest()
        entry = {
            "certificateType": CERTIFICATE_TYPE_DSC,
            "country": country,
            "kid": kid_b64(digest[:8]),
            "rawData": base64.b64encode(der).decode("ascii"),
            "thumbprint": digest.hex(),
            "timestamp": timestamp,
        }
        entry["signature"] = sign_detached(key, canonical_json(entry))
        entries.append(entry)
    return entries


def listed_entry(
    certificate: x509.Certificate, *, country: str, timestamp: str, signature: str
) -> dict[str, str]:
    """A foreign signer's entry as its own list published it (signature and timestamp as
    received), for republishing beside NatID's entries: whoever holds that country's anchor
    can still check it, and nobody is led to think NatID's anchor vouches for it."""
    der = certificate.public_bytes(serialization.Encoding.DER)
    digest = hashlib.sha256(der).digest()
    return {
        "certificateType": CERTIFICATE_TYPE_DSC,
        "country": country,
        "kid": kid_b64(digest[:8]),
        "rawData": base64.b64encode(der).decode("ascii"),
        "thumbprint": digest.hex(),
        "timestamp": timestamp,
        "signature": signature,
    }


def parse_trustlist(
    document: bytes | str, *, anchor: ec.EllipticCurvePublicKey | None
) -> tuple[ListedSigner, ...]:
    """The DSCs of a trust list, every entry checked (module docstring); raise
    :class:`TrustListRejected` naming the first bad entry by its position."""
    if len(document) > MAX_TRUSTLIST_BYTES:
        raise TrustListRejected(f"the trust list is larger than {MAX_TRUSTLIST_BYTES} bytes")
    try:
        entries = json.loads(document)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise TrustListRejected(f"the trust list is not JSON ({type(exc).__name__})") from exc
    if not isinstance(entries, list):
        raise TrustListRejected("a trust list is a JSON array of entries")
    return tuple(_entry(index, entry, anchor) for index, entry in enumerate(entries))


def _entry(index: int, entry: Any, anchor: ec.EllipticCurvePublicKey | None) -> ListedSigner:
    def reject(reason: str) -> TrustListRejected:
        return TrustListRejected(f"trust list entry {index}: {reason}")

    if not isinstance(entry, dict):
        raise reject("is not an object")
    missing = [name for name in (*_FIELDS, "signature") if not isinstance(entry.get(name), str)]
    if missing:
        raise reject(f"lacks the text field(s) {', '.join(missing)}")
    if entry["certificateType"] != CERTIFICATE_TYPE_DSC:
        raise reject("is not a document signer (certificateType DSC)")
    if anchor is not None:
        signed = canonical_json({name: entry[name] for name in _FIELDS})
        problem = verify_detached(entry["signature"], signed, anchor)
        if problem is not None:
            raise reject(problem)
    try:
        der = base64.b64decode(entry["rawData"], validate=True)
        certificate = x509.load_der_x509_certificate(der)
    except (ValueError, binascii.Error) as exc:
        raise reject("rawData is not a base64 DER certificate") from exc
    digest = hashlib.sha256(der).digest()
    if entry["thumbprint"].lower() != digest.hex():
        raise reject("thumbprint is not the SHA-256 of rawData")
    if entry["kid"] != kid_b64(digest[:8]):
        raise reject("kid is not the HCERT key identifier of rawData")
    country = entry["country"]
    if len(country) != 2 or not country.isascii() or not country.isupper():
        raise reject("country is not an ISO 3166-1 alpha-2 code")
    try:
        signer = TrustedSigner.from_certificate(certificate)
    except InvalidTrustedCertificate as exc:
        raise reject(exc.message) from exc
    return ListedSigner(
        country=country,
        signer=signer,
        thumbprint=digest.hex(),
        signature=entry["signature"],
        timestamp=entry["timestamp"],
    )
