"""OCSP over HTTP (RFC 6960 Appendix A, RFC 5019 §5-6): the URLs certificates name in AIA OCSP.

* ``POST /pki/ocsp/{ca}`` - the body is a DER OCSPRequest (``application/ocsp-request``,
  RFC 6960 §A.1.1). Anything else than that content type is 415 (problem+json); every other
  fault of the request - garbage, a truncated or oversized body (more than 8 KiB), several
  certificates - is answered in the protocol's own form, an unsigned ``malformedRequest``
  OCSPResponse with status 200, because OCSP clients read that and not an HTTP error.
* ``GET /pki/ocsp/{ca}/{request}`` - the request is the URL-encoded base64 of the DER
  (RFC 6960 §A.1, RFC 5019 §5); the path may contain ``/`` (a base64 letter).
* The response is ``application/ocsp-response`` (RFC 6960 §A.1.2) with the RFC 5019 §6.2
  caching headers (``max-age``, ``Last-Modified``, ``Expires``, ``ETag``) when it is a
  successful response without a nonce; ``no-store`` otherwise.
* ``{ca}`` is an issuing CA (``ca/urls.py``: ``PkiUrls.ocsp``); any other name is 404
  problem+json (the root has no responder, see ca/ocsp_service.py).

Answering reads storage (the status, on every request) and may sign, so here it never runs
on the event loop: POST reads its body asynchronously and hands the rest to the thread pool;
GET is a plain ``def`` route, which FastAPI runs in the thread pool. The responders are built
once per application (``app.state.ocsp``), on the first request, and re-read the newest
responder certificates by themselves (ca/ocsp_service.py).

Once they are built, most requests never reach these routes: ``api/ocsp_fastpath.py``
answers requests to a known CA with the right content type ahead of FastAPI's routing and
middleware (issue 3's OCSP-over-HTTP goal), with the same bytes and headers. These routes
remain the reference behaviour and answer everything else: the first request, a due re-read
of the responder certificates, an unknown CA (404), a wrong content type (415).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from api.deps import Ctx
from api.errors import ProblemHTTPException
from ca.ocsp import CONTENT_TYPE, MAX_REQUEST_BYTES, PreparedResponse
from ca.ocsp_service import OCSPResponders
from ca.urls import PkiUrls

if TYPE_CHECKING:
    from api.context import AppContext

__all__ = [
    "OCSP_REQUEST",
    "OCSP_RESPONSE",
    "build_ocsp_responders",
    "built_responders",
    "router",
]

router = APIRouter(tags=["pki"])

OCSP_REQUEST = "application/ocsp-request"
OCSP_RESPONSE = CONTENT_TYPE
_RESPONSES = {
    200: {"content": {OCSP_RESPONSE: {}}},
    404: {"description": "no OCSP responder for this CA (problem+json)"},
}


def build_ocsp_responders(ctx: AppContext) -> OCSPResponders:
    """The OCSP responders of ``ctx``'s CA, listening to its status changes.

    On SQLite the status read is a local WAL read that never waits for a writer, so cached
    answers may be given on the event loop (ca/ocsp_service.py, decision 6); on a networked
    database every answer goes to the thread pool.
    """
    ca = ctx.ca()
    responders = OCSPResponders(
        ctx.sessions,
        keys=ctx.keys,
        cache=ctx.cache,
        clock=ctx.clock,
        status_of=ca.status_of,
        urls=PkiUrls(ctx.settings.public_base_url),
        inline_lookup=ctx.engine.dialect.name == "sqlite",
    )
    ca.add_status_listener(responders.on_status_change)
    return responders


#: Serialises the one-time build of an application's responders (first requests race).
_BUILD_LOCK = threading.Lock()


def built_responders(app_state: object) -> OCSPResponders | None:
    """The responders of an application if its first OCSP request built them."""
    found = getattr(app_state, "ocsp", None)
    return found if isinstance(found, OCSPResponders) else None


def _responders(request: Request, ctx: AppContext) -> OCSPResponders:
    """The application's responders, built on first use (in a worker thread: it reads keys)."""
    responders: OCSPResponders | None = getattr(request.app.state, "ocsp", None)
    if responders is None:
        with _BUILD_LOCK:
            responders = getattr(request.app.state, "ocsp", None)
            if responders is None:
                responders = build_ocsp_responders(ctx)
                request.app.state.ocsp = responders
    return responders


def _answer_post(request: Request, ctx: AppContext, ca: str, body: bytes) -> Response:
    responders = _responders(request, ctx)
    return _reply(responders, responders.answer(ca, body))


def _reply(responders: OCSPResponders, answer: PreparedResponse) -> Response:
    headers = responders.headers(answer)
    headers.pop("Content-Type", None)
    return Response(answer.der, media_type=OCSP_RESPONSE, headers=headers)


@router.post(
    "/pki/ocsp/{ca}",
    summary="OCSP request by POST (RFC 6960 §A.1)",
    response_class=Response,
    responses=_RESPONSES,  # type: ignore[arg-type]
)
async def ocsp_post(ca: str, request: Request, ctx: Ctx) -> Response:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != OCSP_REQUEST:
        raise ProblemHTTPException(
            415,
            code="unsupported_media_type",
            detail=f"send an OCSP request as {OCSP_REQUEST}, got {content_type[:60] or 'none'}",
        )
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_REQUEST_BYTES:
            # Stop reading: the responder answers malformedRequest to anything this long.
            break
    return await run_in_threadpool(_answer_post, request, ctx, ca, bytes(body))


@router.get(
    "/pki/ocsp/{ca}/{ocsp_request:path}",
    summary="OCSP request by GET: base64 of the DER request, URL-encoded (RFC 6960 §A.1)",
    response_class=Response,
    responses=_RESPONSES,  # type: ignore[arg-type]
)
def ocsp_get(ca: str, ocsp_request: str, request: Request, ctx: Ctx) -> Response:
    responders = _responders(request, ctx)
    return _reply(responders, responders.answer_get(ca, ocsp_request))
