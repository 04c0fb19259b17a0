"""CRL distribution points: ``GET /pki/crl/{ca}.crl`` and ``GET /pki/crl/{ca}-delta.crl``.

The URLs are exactly those of :class:`ca.urls.PkiUrls` (``crl`` and ``delta_crl``), which
issued certificates name in their CRL distribution point and freshestCRL extensions. A CRL is
served as DER ``application/pkix-crl`` (RFC 5280 §4.2.1.13, RFC 2585 §4.2); the service
publishes a new one first when one is due, so nothing past its nextUpdate is ever served.

One route takes ``/pki/crl/{name}`` and parses the name, because Starlette would match
``citizen-delta.crl`` against ``{ca}.crl`` as a CA named ``citizen-delta``. A name ending in
``-delta.crl`` is the delta CRL of the CA before it.

HTTP caching (RFC 9111; RFC 5019 §6 does the same for OCSP): ``max-age`` is the time left to
nextUpdate, capped at :data:`MAX_AGE` so a revocation reaches caches within minutes rather
than at the CRL's nextUpdate; ``Last-Modified`` is thisUpdate, ``Expires`` nextUpdate, the
``ETag`` the SHA-256 of the DER, and ``If-None-Match`` gets 304. Unknown names get 404
problem details; a CRL that is due and cannot be signed (key backend down) 503.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from email.utils import format_datetime

from fastapi import APIRouter, Request, Response

from api.deps import Ctx
from api.errors import ProblemHTTPException

__all__ = ["CRL_MEDIA_TYPE", "MAX_AGE", "router"]

router = APIRouter(tags=["pki"])

CRL_MEDIA_TYPE = "application/pkix-crl"
#: Longest time an HTTP cache may keep a CRL without asking again.
MAX_AGE = dt.timedelta(minutes=5)
# ca.urls.CA_NAME_PATTERN, then "-delta" for the delta CRL, then ".crl".
_NAME = re.compile(r"(?P<ca>[a-z][a-z0-9-]{0,31}?)(?P<delta>-delta)?\.crl")


@router.get(
    "/pki/crl/{name}",
    summary="A CA's full CRL ({ca}.crl) or delta CRL ({ca}-delta.crl), DER",
    response_class=Response,
    responses={
        200: {"content": {CRL_MEDIA_TYPE: {}}},
        304: {"description": "Not modified (If-None-Match)"},
        404: {"description": "No such CA or CRL"},
        503: {"description": "The CRL is due and cannot be signed now"},
    },
)
def crl(name: str, request: Request, ctx: Ctx) -> Response:
    match = _NAME.fullmatch(name)
    if match is None:
        raise ProblemHTTPException(
            404,
            code="unknown_crl",
            detail=f"no CRL named {name[:60]!r}: expected <ca>.crl or <ca>-delta.crl",
        )
    record = ctx.ca().crl_record(match["ca"], delta=match["delta"] is not None)
    now = ctx.clock.now()
    etag = '"' + hashlib.sha256(record.der).hexdigest() + '"'
    seconds = max(0, int(min(MAX_AGE, record.next_update - now).total_seconds()))
    headers = {
        "Cache-Control": f"public, max-age={seconds}, no-transform",
        "Last-Modified": format_datetime(record.this_update, usegmt=True),
        "Expires": format_datetime(record.next_update, usegmt=True),
        "ETag": etag,
    }
    wanted = {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}
    if etag in wanted or "*" in wanted:
        return Response(status_code=304, headers=headers)
    return Response(record.der, media_type=CRL_MEDIA_TYPE, headers=headers)
