"""The transcript of a key ceremony, its detached signatures, and their verification.

Issue 3, "Hierarchy and ceremonies": a ceremony "writes a transcript signed by the new key and
recorded in the audit ledger". The transcript is a JSON document (UTF-8, keys sorted, two-space
indent, one final newline) that says what happened: the ceremony id and the SHA-256 of the file
that was run, when it started and finished (from the clock), which officers confirmed, every
key made (label, algorithm, SHA-256 of its SubjectPublicKeyInfo) and every certificate made
(name, profile, serial as ``openssl x509 -serial`` prints it, subject, issuer, SHA-256
fingerprint, validity and the PEM itself, so the transcript verifies on its own), the key
backend and the software version.

The signatures live next to it (``<transcript>.sig``): a JSON object with the transcript's
SHA-256 and one entry per new CA key - the root's and every issuing CA's - each a signature
over the transcript's exact bytes, in the form ``openssl dgst`` checks::

    openssl x509 -in root.pem -pubkey -noout > root-pub.pem
    openssl dgst -sha384 -verify root-pub.pem -signature root.sig transcript.json

Algorithms by key type, never by what the file claims (no algorithm substitution, RFC 8725
§3.1 in spirit): P-256 ``ecdsa-sha256`` and P-384 ``ecdsa-sha384`` (DER ECDSA-Sig-Value,
RFC 3279 §2.2.3), RSA ``rsa-pss-sha256`` (MGF1-SHA-256, 32-byte salt, RFC 8017 §8.1), Ed25519
``ed25519`` (RFC 8032).

:func:`verify_transcript` does no I/O (STYLE.md): it takes the two documents and, optionally,
the root certificate the verifier trusts, and raises :class:`TranscriptInvalid` listing every
problem, or returns a :class:`VerifiedTranscript`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from ca.ceremony_file import CA_PROFILES, CeremonyError
from ca.csr import spki_sha256
from ca.store import serial_hex
from core.errors import InvalidInput
from hsm_adapters.base import BackendPrivateKey, BackendPublicKey

__all__ = [
    "SIGNATURES_FORMAT",
    "TRANSCRIPT_FORMAT",
    "TranscriptInvalid",
    "VerifiedTranscript",
    "certificate_entry",
    "encode_transcript",
    "sign_transcript",
    "verify_transcript",
]

TRANSCRIPT_FORMAT = "natid-ceremony-transcript/1"
SIGNATURES_FORMAT = "natid-ceremony-signatures/1"
MAX_TRANSCRIPT_BYTES = 4 * 1024 * 1024
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


class TranscriptInvalid(CeremonyError, InvalidInput):
    """A transcript or its signatures do not verify; the message lists every problem."""

    code = "transcript_invalid"


@dataclass(frozen=True, slots=True)
class VerifiedTranscript:
    """What a verified transcript vouches for."""

    ceremony_id: str
    sha256: str
    file_sha256: str
    confirmed_by: tuple[str, ...]
    root: x509.Certificate
    #: Certificate name -> certificate, every one checked against its issuer.
    certificates: Mapping[str, x509.Certificate]
    #: The key labels whose signatures over the transcript verified.
    signed_by: tuple[str, ...]


def _algorithm(key: BackendPrivateKey | BackendPublicKey) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return "ecdsa-sha384" if key.curve.name == "secp384r1" else "ecdsa-sha256"
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "rsa-pss-sha256"
    return "ed25519"


def _sign(key: BackendPrivateKey, data: bytes) -> bytes:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        digest = hashes.SHA384() if key.curve.name == "secp384r1" else hashes.SHA256()
        return key.sign(data, ec.ECDSA(digest))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, _PSS, hashes.SHA256())
    return key.sign(data)


def _verify(key: object, algorithm: str, signature: bytes, data: bytes) -> bool:
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        return False
    if algorithm != _algorithm(key):
        return False
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            digest = hashes.SHA384() if key.curve.name == "secp384r1" else hashes.SHA256()
            key.verify(signature, data, ec.ECDSA(digest))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, _PSS, hashes.SHA256())
        else:
            key.verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True


def certificate_entry(
    name: str, profile: str, key_label: str, issuer: str, cert: x509.Certificate
) -> dict[str, Any]:
    """The transcript's record of one certificate."""
    return {
        "name": name,
        "profile": profile,
        "key": key_label,
        "issuer": issuer,
        "serial": serial_hex(cert.serial_number),
        "subject": cert.subject.rfc4514_string(),
        "issuer_dn": cert.issuer.rfc4514_string(),
        "sha256": cert.fingerprint(hashes.SHA256()).hex(),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "pem": cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
    }


def key_entry(label: str, algorithm: str, public_key: BackendPublicKey) -> dict[str, str]:
    return {"label": label, "algorithm": algorithm, "public_key_sha256": spki_sha256(public_key)}


def encode_transcript(document: Mapping[str, Any]) -> bytes:
    """The transcript's bytes: the signatures and the ledger's hash cover exactly these."""
    return (json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def sign_transcript(transcript: bytes, signers: Sequence[tuple[str, BackendPrivateKey]]) -> bytes:
    """The detached signatures document: each ``(key label, key)`` signs ``transcript``."""
    entries = [
        {
            "key": label,
            "algorithm": _algorithm(key),
            "signature": base64.b64encode(_sign(key, transcript)).decode("ascii"),
        }
        for label, key in signers
    ]
    document = {
        "format": SIGNATURES_FORMAT,
        "transcript_sha256": hashlib.sha256(transcript).hexdigest(),
        "signatures": entries,
    }
    return (json.dumps(document, sort_keys=True, indent=2) + "\n").encode()


# --- verification ---------------------------------------------------------------------------


def _load_json(data: bytes, what: str) -> dict[str, Any]:
    if len(data) > MAX_TRANSCRIPT_BYTES:
        raise TranscriptInvalid(f"the {what} is larger than {MAX_TRANSCRIPT_BYTES} bytes")
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise TranscriptInvalid(f"the {what} is not JSON") from None
    if not isinstance(document, dict):
        raise TranscriptInvalid(f"the {what} is not a JSON object")
    return document


def _dicts(value: object, what: str, problems: list[str]) -> list[dict[str, Any]]:
    """The JSON objects of a list (a hostile document may hold anything)."""
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        problems.append(f"{what} is not a list of objects")
        return []
    return value


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _certificates(
    document: dict[str, Any], problems: list[str]
) -> tuple[dict[str, x509.Certificate], dict[str, dict[str, Any]]]:
    certs: dict[str, x509.Certificate] = {}
    entries: dict[str, dict[str, Any]] = {}
    for entry in _dicts(document.get("certificates"), "certificates", problems):
        name = str(entry.get("name"))
        if name in certs:
            problems.append(f"certificate {name}: listed twice")
            continue
        try:
            cert = x509.load_pem_x509_certificate(str(entry["pem"]).encode("ascii"))
        except (KeyError, TypeError, ValueError, UnicodeEncodeError):
            problems.append(f"certificate {name}: no readable PEM")
            continue
        if cert.fingerprint(hashes.SHA256()).hex() != entry.get("sha256"):
            problems.append(f"certificate {name}: the SHA-256 fingerprint does not match its PEM")
        if serial_hex(cert.serial_number) != entry.get("serial"):
            problems.append(f"certificate {name}: the serial does not match its PEM")
        certs[name] = cert
        entries[name] = entry
    if not certs:
        problems.append("the transcript lists no certificates")
    return certs, entries


def _check_chain(
    certs: dict[str, x509.Certificate],
    entries: dict[str, dict[str, Any]],
    keys: dict[str, str],
    problems: list[str],
) -> x509.Certificate | None:
    root: x509.Certificate | None = None
    for name, cert in certs.items():
        entry = entries[name]
        issuer_name = entry.get("issuer")
        issuer = cert if issuer_name == "self" else certs.get(str(issuer_name))
        if issuer_name == "self":
            root = cert
        if issuer is None:
            problems.append(f"certificate {name}: its issuer {issuer_name!r} is not in it")
            continue
        try:
            cert.verify_directly_issued_by(issuer)
        except (InvalidSignature, ValueError, TypeError):
            problems.append(f"certificate {name}: not signed by {issuer_name}")
        label = str(entry.get("key"))
        if keys.get(label) != spki_sha256(cert.public_key()):
            problems.append(f"certificate {name}: its key does not match key {label}")
    if root is None:
        problems.append("the transcript has no self-signed root certificate")
    return root


def verify_transcript(
    transcript: bytes,
    signatures: bytes,
    *,
    trusted_root: x509.Certificate | None = None,
    file_sha256: str | None = None,
) -> VerifiedTranscript:
    """Check a transcript against its detached signatures (see the module docstring).

    Every CA certificate of the transcript must have signed it with its key; every certificate
    must be signed by the issuer it names; with ``trusted_root`` the transcript's root must be
    that certificate; with ``file_sha256`` the ceremony file must be that one.
    """
    document = _load_json(transcript, "transcript")
    signed = _load_json(signatures, "signature file")
    if document.get("format") != TRANSCRIPT_FORMAT:
        raise TranscriptInvalid(f"not a ceremony transcript (format {TRANSCRIPT_FORMAT})")
    problems: list[str] = []
    digest = hashlib.sha256(transcript).hexdigest()
    if signed.get("format") != SIGNATURES_FORMAT:
        problems.append(f"the signature file is not of format {SIGNATURES_FORMAT}")
    if signed.get("transcript_sha256") != digest:
        problems.append("the signature file names another transcript (SHA-256 differs)")
    keys = {
        str(k.get("label")): str(k.get("public_key_sha256"))
        for k in _dicts(document.get("keys"), "keys", problems)
    }
    certs, entries = _certificates(document, problems)
    root = _check_chain(certs, entries, keys, problems)
    if trusted_root is not None and root is not None and root != trusted_root:
        problems.append("the transcript's root is not the trusted root certificate")
    if file_sha256 is not None and document.get("file_sha256") != file_sha256.lower():
        problems.append("the transcript is of another ceremony file (SHA-256 differs)")

    ca_keys = {
        str(e.get("key")): certs[n]
        for n, e in entries.items()
        if e.get("profile") in CA_PROFILES and n in certs
    }
    signed_by: list[str] = []
    for entry in _dicts(signed.get("signatures"), "signatures", problems):
        label = str(entry.get("key"))
        cert = ca_keys.get(label)
        if cert is None:
            problems.append(f"signature by {label}: not a CA key of this transcript")
            continue
        try:
            raw = base64.b64decode(str(entry.get("signature")), validate=True)
        except (binascii.Error, ValueError):
            problems.append(f"signature by {label}: not base64")
            continue
        if not _verify(cert.public_key(), str(entry.get("algorithm")), raw, transcript):
            problems.append(f"signature by {label}: does not verify")
            continue
        signed_by.append(label)
    for label in sorted(set(ca_keys) - set(signed_by)):
        if not any(p.startswith(f"signature by {label}:") for p in problems):
            problems.append(f"no signature by the CA key {label}")
    if problems or root is None:
        raise TranscriptInvalid("; ".join(problems))
    confirmed = _object(document.get("quorum")).get("confirmed")
    return VerifiedTranscript(
        ceremony_id=str(_object(document.get("ceremony")).get("id")),
        sha256=digest,
        file_sha256=str(document.get("file_sha256")),
        confirmed_by=tuple(str(o) for o in confirmed) if isinstance(confirmed, list) else (),
        root=root,
        certificates=certs,
        signed_by=tuple(signed_by),
    )


def compare_with_stored(
    verified: VerifiedTranscript, stored: Sequence[x509.Certificate]
) -> list[str]:
    """Certificates of a verified transcript that the stored hierarchy lacks (by name)."""
    held = {c.fingerprint(hashes.SHA256()) for c in stored}
    return sorted(
        name
        for name, cert in verified.certificates.items()
        if cert.fingerprint(hashes.SHA256()) not in held
    )


def utc_iso(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).replace(microsecond=0).isoformat()
