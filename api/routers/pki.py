"""Public PKI endpoints that certificates and clients name: CA certificates and the TSA.

* ``GET /pki/ca/{name}.crt``: a CA certificate in DER (``application/pkix-cert``, RFC 2585
  §4.1), the URL every issued certificate names in its AIA caIssuers (RFC 5280 §4.2.2.1).
* ``POST /tsa``: the RFC 3161 time-stamping authority (``application/timestamp-query`` in,
  ``application/timestamp-reply`` out, RFC 3161 §3.4). Malformed requests are answered in the
  protocol's own form (a rejection with ``badDataFormat``), never with an HTTP error, except
  for a wrong content type (415) or an oversized body (413).

CRL distribution points and OCSP are named by certificates too; their routes come with the
revocation work (see the CA issue).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Request, Response

from api.deps import Ctx
from api.errors import ProblemHTTPException
from ca.profiles import ProfileName, get_profile
from ca.tsa import MAX_REQUEST_BYTES, TimeStampAuthority

if TYPE_CHECKING:
    from api.context import AppContext

router = APIRouter(tags=["pki"])

TSA_QUERY = "application/timestamp-query"
TSA_REPLY = "application/timestamp-reply"


@router.get(
    "/pki/ca/{name}.crt",
    summary="A CA certificate (DER), as named by AIA caIssuers",
    response_class=Response,
    responses={200: {"content": {"application/pkix-cert": {}}}},
)
def ca_certificate(name: str, ctx: Ctx) -> Response:
    cas = ctx.ca().hierarchy().cas
    cert = cas.get(name)
    if cert is None:
        raise ProblemHTTPException(
            404, code="unknown_ca", detail=f"no CA named {name[:40]!r}; known: {', '.join(cas)}"
        )
    return Response(
        cert.public_bytes(serialization.Encoding.DER),
        media_type="application/pkix-cert",
        headers={"Cache-Control": "public, max-age=86400"},
    )


def _tsa(request: Request, ctx: AppContext) -> TimeStampAuthority:
    """The TSA, built once per application (its constant parts are encoded at construction)."""
    tsa: TimeStampAuthority | None = getattr(request.app.state, "tsa", None)
    if tsa is None:
        hierarchy = ctx.ca().hierarchy()
        issuer = next(
            name for name, cert in hierarchy.cas.items() if cert.subject == hierarchy.tsa.issuer
        )
        policy = (
            get_profile(ProfileName.TSA)
            .policy_oids(ctx.settings.certificate_policy_arc)[0]
            .dotted_string
        )
        tsa = TimeStampAuthority(
            ctx.keys.load(hierarchy.tsa_key_label),
            hierarchy.tsa,
            hierarchy.chain(issuer),
            policy_oid=policy,
            clock=ctx.clock,
        )
        request.app.state.tsa = tsa
    return tsa


@router.post(
    "/tsa",
    summary="RFC 3161 time-stamping",
    response_class=Response,
    responses={200: {"content": {TSA_REPLY: {}}}},
)
async def time_stamp(request: Request, ctx: Ctx) -> Response:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != TSA_QUERY:
        raise ProblemHTTPException(
            415,
            code="unsupported_media_type",
            detail=f"send an RFC 3161 request as {TSA_QUERY}, got {content_type[:60] or 'none'}",
        )
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_REQUEST_BYTES:
            raise ProblemHTTPException(
                413,
                code="request_too_large",
                detail=f"a time-stamp request is at most {MAX_REQUEST_BYTES} bytes",
            )
    reply = _tsa(request, ctx).respond(bytes(body))
    return Response(reply, media_type=TSA_REPLY)
