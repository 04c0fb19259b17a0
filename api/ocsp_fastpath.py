"""OCSP over HTTP ahead of FastAPI: a plain ASGI middleware for ``/pki/ocsp/{ca}`` (issue 3).

Issue 3 asks for OCSP at ten times ``openssl ocsp``'s rate with p99 under 10 ms. Through
FastAPI a pre-signed answer cost about 2 ms of CPU: routing, dependency solving, the
``BaseHTTPMiddleware`` api/observability.py used then (one extra task and stream per request),
two hops to the thread pool, and a re-parse of the response for its headers. This middleware
answers the common requests before all of that, with the same bytes and headers as the routes in
``api/routers/ocsp.py``, which stay the reference and answer everything else. Decisions:

1. **What it answers**: ``POST /pki/ocsp/{ca}`` with ``Content-Type: application/ocsp-request``
   and ``GET /pki/ocsp/{ca}/{request}``, for a CA whose responder is built and not due for its
   re-read (``OCSPResponders.ready_responder``). Everything else - the application's first OCSP
   request (which builds the responders), a due re-read, an unknown CA (404 problem+json), a
   wrong content type (415 problem+json), ``HEAD``, an empty GET path - goes on to FastAPI
   untouched (nothing of the body has been read then).
2. **Where it answers**: on the event loop when the responder can answer without blocking
   (``answer_cached``: a local SQLite status read and this process's pre-signed response), else
   once in the thread pool (PostgreSQL, a nonce, a miss that signs or reads Redis). The status
   is read from storage on every request either way (ca/ocsp.py, decision 5).
3. **Observability as for every request**: the ``X-Request-ID`` header (the caller's if sane,
   else a new one, also set for log lines written meanwhile), the Prometheus counter and
   latency histogram with the same labels as the routes (``/pki/ocsp/{ca}``,
   ``/pki/ocsp/{ca}/{ocsp_request:path}``), and the JSON access line when INFO is enabled.
4. **Body**: read up to :data:`~ca.ocsp.MAX_REQUEST_BYTES` plus one byte, as the route does;
   anything longer is answered ``malformedRequest`` without reading the rest. A client that
   disconnects first gets nothing.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from anyio import to_thread

from api.observability import HttpMetrics, new_request_id, request_id_var, scope_header
from api.routers.ocsp import OCSP_REQUEST, OCSP_RESPONSE, built_responders
from ca.ocsp import MAX_REQUEST_BYTES, OCSPResponder, PreparedResponse
from ca.ocsp_http import cache_control
from ca.ocsp_service import OCSPResponders

__all__ = ["OCSPFastPath"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_PREFIX = "/pki/ocsp/"
_POST_ROUTE = "/pki/ocsp/{ca}"
_GET_ROUTE = "/pki/ocsp/{ca}/{ocsp_request:path}"
_CONTENT_TYPE = (b"content-type", OCSP_RESPONSE.encode())
_NO_STORE = (b"cache-control", b"no-store")


class OCSPFastPath:
    """Answers OCSP requests ahead of the application it wraps (module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(_PREFIX):
            await self.app(scope, receive, send)
            return
        target = self._target(scope)
        if target is None:
            await self.app(scope, receive, send)
            return
        responders, responder, path, route = target
        start = time.perf_counter()
        request_id = new_request_id(scope_header(scope, b"x-request-id"))
        token = request_id_var.set(request_id)
        status = 500
        try:
            request: bytes | str | None = path
            if request is None:  # POST: the body is the request
                request = await _read_body(receive)
                if request is None:
                    status = 499  # the client went away; nothing to answer
                    return
            answer = await _answer(responders, responder, request)
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": _headers(responders, answer, request_id),
                }
            )
            await send({"type": "http.response.body", "body": answer.der})
            status = 200
        finally:
            elapsed = time.perf_counter() - start
            metrics: HttpMetrics | None = getattr(scope["app"].state, "http_metrics", None)
            if metrics is not None:
                metrics.record(scope["method"], route, status, elapsed, request_id)
            request_id_var.reset(token)

    @staticmethod
    def _target(
        scope: Scope,
    ) -> tuple[OCSPResponders, OCSPResponder, str | None, str] | None:
        """(responders, responder, GET path or None for POST, route label), or None: FastAPI."""
        responders = built_responders(getattr(scope.get("app"), "state", None))
        if responders is None:
            return None
        rest: str = scope["path"][len(_PREFIX) :]
        method = scope["method"]
        path: str | None = None
        if method == "POST":
            ca, route = rest, _POST_ROUTE
            content_type = scope_header(scope, b"content-type").split(";")[0].strip().lower()
            if "/" in ca or content_type != OCSP_REQUEST:
                return None  # the routes answer (415 problem+json for the content type)
        elif method == "GET":
            ca, _, path = rest.partition("/")
            route = _GET_ROUTE
            if not path:
                return None
        else:
            return None
        responder = responders.ready_responder(ca) if ca else None
        return None if responder is None else (responders, responder, path, route)


async def _answer(
    responders: OCSPResponders, responder: OCSPResponder, request: bytes | str
) -> PreparedResponse:
    get = isinstance(request, str)
    if responders.inline_lookup:
        answer = responder.answer_cached(request, get=get)
        if answer is not None:
            return answer
    if isinstance(request, str):
        return await to_thread.run_sync(responder.answer_get, request)
    return await to_thread.run_sync(responder.answer, request)


def _headers(
    responders: OCSPResponders, answer: PreparedResponse, request_id: str
) -> list[tuple[bytes, bytes]]:
    headers = [_CONTENT_TYPE, (b"content-length", str(len(answer.der)).encode())]
    max_age = answer.max_age(
        responders.clock.now().timestamp(), int(responders.http_max_age.total_seconds())
    )
    if max_age is None:
        headers.append(_NO_STORE)
    else:
        headers += [
            (b"cache-control", cache_control(max_age).encode()),
            (b"last-modified", answer.last_modified.encode()),
            (b"expires", answer.expires.encode()),
            (b"etag", answer.etag.encode()),
        ]
    headers.append((b"x-request-id", request_id.encode()))
    return headers


async def _read_body(receive: Receive) -> bytes | None:
    """The body, cut after MAX_REQUEST_BYTES + 1 bytes; ``None`` if the client disconnected."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body += message.get("body", b"")
        if len(body) > MAX_REQUEST_BYTES or not message.get("more_body", False):
            return bytes(body)
