"""The health credentials API: issue and revoke (health issuers), verify, and the published
trust list and revocation list (public).

* ``POST /health/v1/certificates`` (role ``health-issuer``): ``{subject, kind, record}`` ->
  ``{uvci, payload, kid, kind, issued_at, expires_at, qr_png}`` (``qr_png``: base64 PNG, unless
  ``"qr": false``; ``pdf``: the printable certificate, e-sealed by the health authority, as
  base64 PDF when ``"pdf": true`` - ``api/health_pdf.py``, the seal prepared before anything is
  issued). The record is checked against the DCC schema and value sets before
  anything is signed; a bad one is a 400 naming the field (``dcc_record_invalid``), an unknown
  subject a 404.
* ``POST /health/v1/certificates/{uvci}/revoke`` (``health-issuer``; ``#`` in the UVCI sent as
  ``%23``).
* ``POST /health/v1/revocations`` (``health-issuer``): ``{hash_type, hash, kid?}`` revokes by one
  DCC revocation hash (``UCI``, ``COUNTRYCODEUCI`` or ``SIGNATURE``; hex or base64 of its 16
  bytes) for a credential whose UVCI is unknown or not unique; ``kid`` (base64) names the
  signer and may be left out for a credential NatID issued. 201 with what was listed.
* ``POST /health/v1/verify`` - public on purpose: it answers only from what the QR code itself
  holds (the holder's name and date of birth are printed next to it), and a border app or an
  airline must be able to check without an account. The answer is the verifier's object
  (:class:`VerificationOut`: ``valid``, ``checks``, ``holder``, ``kid``, ``reasons``, then
  ``issuer_country``, ``issued_at``, ``expires_at`` and ``findings``, the reasons with their
  codes) with NatID's trusted signers and revocation list. ``holder`` is null unless the
  signature verified: the name and date of birth of a credential whose signature fails are
  whatever its maker wrote, and are not repeated (an expired or revoked credential with a good
  signature keeps them, with ``valid`` false). A credential whose signer NatID's CA has revoked
  fails ``signature`` with the code ``signer_revoked``, its ``details`` giving ``kid``,
  ``revoked_at`` and ``reason``.
* ``GET /health/trustlist`` - NatID's signers in the EU DCC gateway's trust-list shape, each
  entry signed (:mod:`vaccine_cert.trustlist`); ``GET /health/trustlist/anchor`` - the anchor's
  public key (PEM) that checks those signatures. ``?scope=all`` adds every imported foreign
  signer still valid, each entry exactly as its country published it (its own signature, for
  its own anchor): what the border page trusts.
* ``GET /health/revocations`` - the signed revocation list (:mod:`vaccine_cert.revocation`).
  Both lists carry a weak ``ETag`` over their content (``If-None-Match`` gets a 304), so
  verifier apps poll cheaply; the signed documents differ on every call (ECDSA is randomised,
  and the revocation list's ``timestamp`` says when it was made, for showing its age).

Errors are problem+json (``api/errors.py``).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from typing import Annotated, Any, Literal

from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import Ctx
from api.health_pdf import prepare_sealing, sealed_certificate_pdf
from api.security import require_operator
from core.operators import Operator, OperatorRole
from vaccine_cert.qr import qr_png
from vaccine_cert.service import HealthService

__all__ = ["router"]

router = APIRouter(tags=["health"])

HealthIssuer = Annotated[Operator, Depends(require_operator(OperatorRole.HEALTH_ISSUER))]


def _health(ctx: Ctx) -> HealthService:
    return ctx.health()


Health = Annotated[HealthService, Depends(_health)]


class IssueIn(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: str = Field(min_length=1, max_length=64, description="The holder's register id.")
    kind: Literal["vaccination", "test", "recovery"]
    record: dict[str, Any] = Field(description="The DCC schema's fields for this kind.")
    algorithm: Literal["ec-p256", "rsa-3072"] = "ec-p256"
    qr: bool = Field(default=True, description="Include the QR code as a base64 PNG.")
    pdf: bool = Field(
        default=False,
        description="Include the printable certificate (Khmer and English, QR code), e-sealed "
        "by the health authority, as a base64 PDF.",
    )


class IssuedOut(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    uvci: str
    payload: str
    kind: str
    kid: str
    issued_at: dt.datetime
    expires_at: dt.datetime
    qr_png: str | None
    pdf: str | None = None


class VerifyIn(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    payload: str = Field(max_length=16 * 1024)
    at: dt.datetime | None = Field(default=None, description="Check as of this time (default now).")


class HolderOut(BaseModel):
    """The holder as the DCC names them (schema ``nam`` and ``dob``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fn: str | None = Field(description="Family name.")
    gn: str | None = Field(description="Given name.")
    fnt: str | None = Field(description="Family name, ICAO 9303 transliteration.")
    gnt: str | None = Field(description="Given name, ICAO 9303 transliteration.")
    dob: str | None = Field(description="Date of birth: YYYY-MM-DD, YYYY-MM, YYYY or empty.")


class FindingOut(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    check: Literal["decode", "signature", "expiry", "schema", "revocation"]
    code: str = Field(description="A stable reason code (signer_unknown, signer_revoked, ...).")
    message: str
    details: dict[str, str] = Field(
        description="The values in the message, for showing it in another language "
        "(signer_revoked: kid, revoked_at, reason)."
    )


class VerificationOut(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    valid: bool
    checks: dict[str, Literal["pass", "fail", "skipped"]] = Field(
        description="decode, signature, expiry, schema, revocation."
    )
    holder: HolderOut | None = Field(
        description="Null unless the signature verified under a trusted signer: the name and "
        "date of birth of a credential whose signature fails are not shown. A signed "
        "credential that is expired or revoked keeps them (valid is false)."
    )
    kid: str | None
    reasons: list[str]
    issuer_country: str | None
    issued_at: str | None = Field(description="ISO 8601, as read from the credential.")
    expires_at: str | None = Field(description="ISO 8601, as read from the credential.")
    findings: list[FindingOut]


class RevokedOut(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    uvci: str
    revoked_at: dt.datetime


@router.post("/health/v1/certificates", status_code=201, summary="Issue a health credential (HC1:)")
def issue_certificate(body: IssueIn, ctx: Ctx, health: Health, operator: HealthIssuer) -> IssuedOut:
    if body.pdf:
        prepare_sealing(ctx, actor=operator.id)
    issued = health.issue(
        body.subject, body.kind, body.record, actor=operator.id, algorithm=body.algorithm
    )
    png = base64.b64encode(qr_png(issued.payload)).decode("ascii") if body.qr else None
    pdf = None
    if body.pdf:
        sealed = sealed_certificate_pdf(ctx, issued, subject_id=body.subject, actor=operator.id)
        pdf = base64.b64encode(sealed).decode("ascii")
    return IssuedOut(
        uvci=issued.uvci,
        payload=issued.payload,
        kind=issued.kind.value,
        kid=issued.kid,
        issued_at=issued.issued_at,
        expires_at=issued.expires_at,
        qr_png=png,
        pdf=pdf,
    )


@router.post(
    "/health/v1/certificates/{uvci:path}/revoke", summary="Revoke a health credential by UVCI"
)
def revoke_certificate(uvci: str, health: Health, operator: HealthIssuer) -> RevokedOut:
    return RevokedOut(uvci=uvci, revoked_at=health.revoke(uvci, actor=operator.id))


class HashRevocationIn(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    hash_type: Literal["UCI", "COUNTRYCODEUCI", "SIGNATURE"]
    hash: str = Field(min_length=1, max_length=88, description="Hex or base64, 16 bytes.")
    kid: str | None = Field(default=None, max_length=24, description="The signer's kid.")


class HashRevokedOut(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kid: str
    hash_type: str
    hash: str
    expires_at: dt.datetime


@router.post(
    "/health/v1/revocations",
    status_code=201,
    summary="Revoke by a DCC revocation hash (UCI, COUNTRYCODEUCI or SIGNATURE)",
)
def revoke_by_hash(
    body: HashRevocationIn, health: Health, operator: HealthIssuer
) -> HashRevokedOut:
    revoked = health.revoke_hash(body.hash_type, body.hash, kid=body.kid, actor=operator.id)
    return HashRevokedOut(
        kid=base64.b64encode(revoked.kid).decode("ascii"),
        hash_type=revoked.hash_type.value,
        hash=base64.b64encode(revoked.value).decode("ascii"),
        expires_at=revoked.expires_at,
    )


@router.post("/health/v1/verify", summary="Verify an HC1: payload (public)")
def verify_certificate(body: VerifyIn, health: Health) -> VerificationOut:
    at = body.at
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return VerificationOut.model_validate(health.verify(body.payload, at=at).as_dict())


def _json(value: object, request: Request, *, content: object, max_age: int) -> Response:
    """``value`` as JSON with a weak ETag over ``content``: the part that changes only when the
    list does (ECDSA signatures are randomised, so the signed bytes differ on every call)."""
    body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode("utf-8")).hexdigest()
    etag = f'W/"{digest}"'
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={max_age}"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


@router.get("/health/trustlist", summary="NatID's document signers (EU DCC trust-list shape)")
def trustlist(request: Request, health: Health, scope: Literal["own", "all"] = "own") -> Response:
    entries = health.trustlist(include_foreign=scope == "all")
    content = [{k: v for k, v in e.items() if k != "signature"} for e in entries]
    return _json(entries, request, content=content, max_age=3600)


@router.get(
    "/health/trustlist/anchor",
    summary="The public key that signs the trust list and revocation list (PEM)",
    response_class=Response,
    responses={200: {"content": {"application/x-pem-file": {}}}},
)
def trustlist_anchor(health: Health) -> Response:
    pem = health.trustlist_anchor().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return Response(
        pem, media_type="application/x-pem-file", headers={"Cache-Control": "public, max-age=86400"}
    )


@router.get("/health/revocations", summary="The signed revocation list (DCC revocation hashes)")
def revocations(request: Request, health: Health) -> Response:
    document = health.revocation_list()
    return _json(document, request, content=document["batches"], max_age=300)
