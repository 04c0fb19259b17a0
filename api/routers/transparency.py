"""The transparency log over HTTP: signed tree heads, proofs and entries (public, read-only).

Names follow RFC 9162 §4 (and RFC 6962 §4, whose JSON API monitors still speak) where they
fit; hashes and signatures are base64 (RFC 4648 §4), times RFC 3339.

* ``GET /pki/log/sth`` - the signed tree head of the current tree (RFC 9162 §4.3 get-sth).
  A head is signed lazily: the first request after the tree grew signs one (at most one
  signature per tree size, :meth:`~ca.transparency.TransparencyLog.sign_tree_head` is
  idempotent per size), so a monitor never sees a head older than the newest certificate.
  The signature covers ``b"natid.ct.sth.v1\\x00" || uint64(tree_size) ||
  uint64(timestamp_micros) || root_hash`` (big-endian; :mod:`ca.merkle`), with ECDSA
  P-256/SHA-256 (DER) or Ed25519 as ``algorithm`` says.
* ``GET /pki/log/key`` - the tree-head public key (PEM SubjectPublicKeyInfo), so a monitor can
  pin it once and verify heads offline. ``key_id`` in a head is the SHA-256 of that key's DER
  SubjectPublicKeyInfo (the RFC 6962 §3.2 LogID).
* ``GET /pki/log/proof/inclusion?serial=HEX|leaf_hash=B64[&tree_size=N]`` - the audit path
  (RFC 9162 §4.5 get-proof-by-hash; §2.1.3.1 PATH). ``tree_size`` defaults to the current
  signed head's.
* ``GET /pki/log/proof/consistency?first=M[&second=N]`` (RFC 9162 §4.4 get-sth-consistency;
  §2.1.4.1 PROOF). ``second`` defaults to the current signed head's size.
* ``GET /pki/log/entries?start=S&end=E`` - entries ``S`` to ``E`` inclusive, as RFC 6962 §4.6
  get-entries counts them, at most :data:`~ca.transparency.MAX_ENTRIES_PAGE` per call (fewer
  is allowed, so a client continues from the last index it got).

Privacy decision: certificates of natural persons (citizen and civil-servant profiles) carry
the national ID number (``serialNumber=IDCKH-...``, ETSI EN 319 412-1 §5.1.3) and the
person's name. A public endpoint handing out every such certificate would publish the whole
population's ID numbers, which ARCHITECTURE.md forbids for logs. Their entries therefore come
with the leaf hash, serial, issuer and time but ``certificate: null, redacted: true``: a
monitor still recomputes every root from the leaf hashes and checks the log is append-only,
and a person who holds their certificate checks its inclusion by serial. The subject listing
(``GET /ra/v1/subjects/{id}/log``, ``natid ca log subject``) shows the full entries to
operators. Certificates of organisations, services and CAs are public and come in full.

Bad parameters are 400 problem+json (``invalid_log_request``) with a readable detail; a serial
or leaf hash the log does not hold is 404.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
from typing import TYPE_CHECKING, Annotated

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import Ctx
from ca.errors import CertificateNotFound, InvalidLogRequest, TransparencyLogUnavailable
from ca.merkle import SignedTreeHead, TreeHeadPublicKey
from ca.store import normalize_serial
from ca.transparency import MAX_ENTRIES_PAGE, LogEntry, TransparencyLog

if TYPE_CHECKING:
    from api.context import AppContext

__all__ = [
    "ConsistencyProofOut",
    "EntriesOut",
    "InclusionProofOut",
    "LogEntryOut",
    "TreeHeadOut",
    "current_tree_head",
    "is_personal_certificate",
    "key_id",
    "router",
    "transparency_log",
    "tree_head_json",
]

router = APIRouter(prefix="/pki/log", tags=["transparency"])

PEM_MEDIA_TYPE = "application/x-pem-file"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
#: The ETSI EN 319 412-1 §5.1.3 semantics identifier prefix of a Cambodian ID card number.
_PERSON_ID_PREFIX = "IDCKH-"


def transparency_log(ctx: AppContext) -> TransparencyLog:
    """The CA's transparency log, as built by :meth:`api.context.AppContext.ca`."""
    found = ctx.ca().transparency_log
    if found is None:
        raise TransparencyLogUnavailable("this CA runs without a transparency log")
    return found


def current_tree_head(log: TransparencyLog) -> SignedTreeHead:
    """The signed head of the current tree, signing one if the tree grew since the last."""
    head = log.latest_tree_head()
    if head is not None and head.tree_size == log.tree_size():
        return head
    return log.sign_tree_head()


def key_id(public_key: TreeHeadPublicKey) -> bytes:
    """SHA-256 of the DER SubjectPublicKeyInfo (RFC 6962 §3.2 LogID)."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).digest()


def is_personal_certificate(cert: x509.Certificate) -> bool:
    """True for a natural person's certificate (it names an ID card number or a person)."""
    for attribute in cert.subject:
        if attribute.oid == NameOID.SERIAL_NUMBER and str(attribute.value).startswith(
            _PERSON_ID_PREFIX
        ):
            return True
        if attribute.oid in (NameOID.GIVEN_NAME, NameOID.SURNAME):
            return True
    return False


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


class TreeHeadOut(BaseModel):
    """A signed tree head (RFC 9162 §4.10, in NatID's signature format; see the module)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tree_size: int
    timestamp: dt.datetime = Field(description="When the head was signed (RFC 3339).")
    timestamp_micros: int = Field(description="The signed timestamp: microseconds since 1970.")
    root_hash: str = Field(description="MTH of the tree, base64.")
    signature: str = Field(description="Signature over the head, base64.")
    algorithm: str = Field(description="ecdsa-sha256 (DER signature) or ed25519.")
    key_id: str = Field(description="SHA-256 of the log key's SubjectPublicKeyInfo, base64.")


class InclusionProofOut(BaseModel):
    """RFC 9162 §4.5 get-proof-by-hash output."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    leaf_index: int
    tree_size: int
    leaf_hash: str = Field(description="SHA-256(0x00 || certificate DER), base64.")
    audit_path: list[str] = Field(description="PATH(leaf_index, D[tree_size]), base64 hashes.")


class ConsistencyProofOut(BaseModel):
    """RFC 9162 §4.4 get-sth-consistency output."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    first: int
    second: int
    consistency: list[str] = Field(description="PROOF(first, D[second]), base64 hashes.")


class LogEntryOut(BaseModel):
    """One log entry; ``certificate`` is null for natural persons (see the module)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    leaf_index: int
    leaf_hash: str
    serial: str
    issuer: str = Field(description="The issuing CA's distinguished name (RFC 4514).")
    logged_at: dt.datetime
    certificate: str | None = Field(description="The certificate DER, base64; null if redacted.")
    redacted: bool


class EntriesOut(BaseModel):
    """RFC 6962 §4.6 get-entries output."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    entries: list[LogEntryOut]


def tree_head_json(head: SignedTreeHead, public_key: TreeHeadPublicKey) -> TreeHeadOut:
    return TreeHeadOut(
        tree_size=head.tree_size,
        timestamp=head.timestamp,
        timestamp_micros=(head.timestamp - _EPOCH) // dt.timedelta(microseconds=1),
        root_hash=_b64(head.root_hash),
        signature=_b64(head.signature),
        algorithm=str(head.algorithm),
        key_id=_b64(key_id(public_key)),
    )


def _public_entry(entry: LogEntry) -> LogEntryOut:
    personal = is_personal_certificate(entry.certificate)
    return LogEntryOut(
        leaf_index=entry.leaf_index,
        leaf_hash=_b64(entry.leaf_hash),
        serial=entry.serial_hex,
        issuer=entry.issuer,
        logged_at=entry.logged_at,
        certificate=None if personal else _b64(entry.certificate_der),
        redacted=personal,
    )


def _leaf_hash_param(text: str) -> bytes:
    # Standard or URL-safe alphabet, padding optional: what a client copied from anywhere.
    cleaned = text.strip().replace("-", "+").replace("_", "/")
    try:
        value = base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidLogRequest("leaf_hash must be base64 (32 bytes, a SHA-256)") from None
    if len(value) != hashlib.sha256().digest_size:
        raise InvalidLogRequest(f"leaf_hash must be 32 bytes (a SHA-256), got {len(value)}")
    return value


TreeSize = Annotated[
    int | None,
    Query(ge=0, description="Tree size to prove against (default: the current signed head)."),
]


@router.get("/sth", summary="The signed tree head of the current tree (RFC 9162 §4.3)")
def get_sth(ctx: Ctx, response: Response) -> TreeHeadOut:
    log = transparency_log(ctx)
    response.headers["Cache-Control"] = "no-cache"
    return tree_head_json(current_tree_head(log), log.public_key)


@router.get(
    "/key",
    summary="The tree-head public key (PEM), to verify heads offline",
    response_class=Response,
    responses={200: {"content": {PEM_MEDIA_TYPE: {}}}},
)
def get_key(ctx: Ctx) -> Response:
    pem = transparency_log(ctx).public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return Response(
        pem, media_type=PEM_MEDIA_TYPE, headers={"Cache-Control": "public, max-age=3600"}
    )


@router.get("/proof/inclusion", summary="An inclusion proof (RFC 9162 §4.5)")
def get_inclusion_proof(
    ctx: Ctx,
    serial: Annotated[
        str | None, Query(max_length=100, description="Serial in hex, as openssl prints it.")
    ] = None,
    leaf_hash: Annotated[
        str | None, Query(max_length=100, description="The Merkle leaf hash, base64.")
    ] = None,
    tree_size: TreeSize = None,
) -> InclusionProofOut:
    if (serial is None) == (leaf_hash is None):
        raise InvalidLogRequest("give exactly one of serial or leaf_hash")
    log = transparency_log(ctx)
    if serial is not None:
        cert = ctx.ca().get(normalize_serial(serial)).certificate
        entry = log.entry_for_certificate(cert)
        what = f"certificate {normalize_serial(serial)}"
    else:
        entry = log.entry_for_leaf_hash(_leaf_hash_param(leaf_hash or ""))
        what = "a certificate with this leaf hash"
    if entry is None:
        raise CertificateNotFound(f"{what} is not in the transparency log")
    size = current_tree_head(log).tree_size if tree_size is None else tree_size
    if entry.leaf_index >= size:
        raise InvalidLogRequest(
            f"{what} is entry {entry.leaf_index}, not in the tree of size {size}; "
            "ask for a larger tree_size"
        )
    proof = log.inclusion_proof(entry.leaf_index, size)
    return InclusionProofOut(
        leaf_index=proof.leaf_index,
        tree_size=proof.tree_size,
        leaf_hash=_b64(proof.leaf_hash),
        audit_path=[_b64(h) for h in proof.path],
    )


@router.get("/proof/consistency", summary="A consistency proof (RFC 9162 §4.4)")
def get_consistency_proof(
    ctx: Ctx,
    first: Annotated[int, Query(ge=0, description="The older tree size.")],
    second: TreeSize = None,
) -> ConsistencyProofOut:
    log = transparency_log(ctx)
    new_size = current_tree_head(log).tree_size if second is None else second
    if first > new_size:
        raise InvalidLogRequest(
            f"first ({first}) must not be larger than second ({new_size}): a tree is only "
            "consistent with a smaller or equal one"
        )
    proof = log.consistency_proof(first, new_size)
    return ConsistencyProofOut(
        first=proof.old_size, second=proof.new_size, consistency=[_b64(h) for h in proof.path]
    )


@router.get("/entries", summary="Log entries start..end inclusive, at most 100 (RFC 6962 §4.6)")
def get_entries(
    ctx: Ctx,
    start: Annotated[int, Query(ge=0, description="Index of the first entry.")],
    end: Annotated[int, Query(ge=0, description="Index of the last entry (inclusive).")],
) -> EntriesOut:
    if end < start:
        raise InvalidLogRequest(f"end ({end}) must not be smaller than start ({start})")
    entries = transparency_log(ctx).entries(start, min(end, start + MAX_ENTRIES_PAGE - 1) + 1)
    return EntriesOut(entries=[_public_entry(e) for e in entries])
