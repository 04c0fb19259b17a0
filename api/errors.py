"""Domain errors to HTTP: RFC 9457 problem details (``application/problem+json``).

Domain code raises :class:`core.errors.NatIDError` subclasses; this module is the one place that
maps them to HTTP. The ``type`` URI names the stable error ``code``; ``detail`` is the error's
message, which by the house rules never carries secrets or national ID numbers. Unexpected
exceptions become a bare 500 with the request id, and the traceback goes to the log only.
(OAuth endpoints answer in the OAuth wire format instead; they install their own handler.)

A server-side failure (a 5xx) met by a browser - a request whose ``Accept`` names
``text/html``, as every navigation and form post sends - is answered with an HTML page in the
person's language instead (:func:`api.idp_web.error_page`): what happened in plain words and the
request id to quote. A citizen at ``/authorize`` while the cache is down sees that page, not a
JSON document. Clients of the APIs send ``application/json`` or ``*/*`` and get the problem
document as before.

A 404 under the pages' paths (:data:`PAGE_AREAS`: ``/account``, ``/login``, ``/sign``, ...) is
a "this page does not exist" page in the person's language - a mistyped or stale link, or an
account page for a record that is gone - for any client except one that asks for JSON
(``Accept`` names JSON and not ``text/html``, as a page's own ``fetch`` does): page paths are
for people, as their :class:`api.idp_web.PageRoute` errors already are. Everywhere else (the
JSON APIs, ``/admin/``, ``/kyc/v1/``, the OpenID endpoints) a 404 stays problem+json.

A 405 under the same paths, by the same rule, is a "this page cannot be opened directly" page
(status 405, with its ``Allow`` header): the address of a form's POST that a person reloaded,
bookmarked or followed from their history (``GET /account/sessions/end``). An API path's 405
stays problem+json.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import NatIDError

__all__ = [
    "PAGE_AREAS",
    "PROBLEM_JSON",
    "ProblemHTTPException",
    "install_error_handlers",
    "problem",
]

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
_TYPE_BASE = "https://natid.example/problems/"
#: The paths of the pages people open in a browser (each with everything under it): the
#: account area with its KYC and recovery pages, login, consent, logout, activation, account
#: recovery, document signing and validation, the border officers' verifier page, and the
#: registration officers' pages (HTML and the PDFs they link to; no JSON under ``/officer``).
PAGE_AREAS: Final = (
    "/account",
    "/login",
    "/consent",
    "/logout",
    "/activate",
    "/recover",
    "/sign",
    "/health/verify",
    "/officer",
)


def problem(
    status: int,
    title: str,
    *,
    code: str,
    detail: str | None = None,
    request: Request | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": _TYPE_BASE + code,
        "title": title,
        "status": status,
        "code": code,
    }
    if detail:
        body["detail"] = detail
    if request is not None:
        body["instance"] = request.url.path
        request_id = getattr(request.state, "request_id", None)
        if request_id:
            body["request_id"] = request_id
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


class ProblemHTTPException(StarletteHTTPException):
    """An HTTP error with a stable code and headers (``WWW-Authenticate``, ``Retry-After``)."""

    def __init__(
        self, status_code: int, *, code: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status_code, detail=detail, headers=headers)
        self.code = code


#: The statuses a page path answers with a page instead of problem+json, and what it says: a
#: mistyped or stale link (404), a form's address opened as a page (405). The same key is the
#: problem's ``code`` where the answer is problem+json.
_PAGE_MESSAGES: Final = {404: "not_found", 405: "method_not_allowed"}


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _wants_page(request: Request) -> bool:
    """A browser's navigation or form post: its ``Accept`` names ``text/html``."""
    return "text/html" in request.headers.get("accept", "")


def _in_page_area(path: str) -> bool:
    return any(path == area or path.startswith(area + "/") for area in PAGE_AREAS)


def _asks_for_json(request: Request) -> bool:
    """A script's request (a page's ``fetch``, an API client): ``Accept`` names JSON (or
    problem+json) and not ``text/html``."""
    accept = request.headers.get("accept", "")
    return "json" in accept and "text/html" not in accept


def _error_page(
    request: Request, status: int, message_key: str, *, reference: bool = True
) -> Response | None:
    """The HTML page for ``status`` in the person's language, or None when one cannot be
    drawn; with ``reference``, the request id to quote to the help desk."""
    from api.idp_web import choose_language, error_page

    try:
        return error_page(
            request,
            lang=choose_language(request),
            message_key=message_key,
            status=status,
            reference=getattr(request.state, "request_id", None) if reference else None,
        )
    except Exception:  # the page needs the application's context; the JSON answer does not
        log.warning("error page could not be drawn; answering JSON", exc_info=True)
        return None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(NatIDError)
    async def _natid_error(request: Request, exc: NatIDError) -> Response:
        status = exc.http_status
        if status >= 500:
            log.warning("request failed: %s", exc.code, extra={"error_code": exc.code})
            if _wants_page(request):
                page = _error_page(request, status, "service_unavailable")
                if page is not None:
                    return page
        return problem(status, _title(status), code=exc.code, detail=exc.message, request=request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Say where the input is wrong and what was expected, never echo the input itself.
        errors = [
            {"loc": [str(p) for p in err.get("loc", ())], "msg": err.get("msg", "")}
            for err in exc.errors()
        ]
        return problem(
            422,
            "Unprocessable Content",
            code="invalid_request",
            detail="the request does not match the expected schema",
            request=request,
            extra={"errors": errors},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        response: Response | None = None
        message_key = _PAGE_MESSAGES.get(exc.status_code)
        if (
            message_key is not None
            and _in_page_area(request.url.path)
            and not _asks_for_json(request)
        ):
            # Nothing went wrong on our side: no request id for the help desk.
            response = _error_page(request, exc.status_code, message_key, reference=False)
        if response is None:
            code = getattr(exc, "code", None) or _PAGE_MESSAGES.get(exc.status_code, "http_error")
            detail = exc.detail if isinstance(exc.detail, str) else None
            response = problem(
                exc.status_code, _title(exc.status_code), code=code, detail=detail, request=request
            )
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.error("unhandled error", exc_info=exc, extra={"path": request.url.path})
        response: Response | None = None
        if _wants_page(request):
            response = _error_page(request, 500, "server_error")
        if response is None:
            response = problem(
                500,
                "Internal Server Error",
                code="internal_error",
                detail="an unexpected error occurred; quote the request id when reporting it",
                request=request,
            )
        # Starlette answers this 500 outside the observability middleware, which puts the
        # header on every other response; the body's request id goes in the header here.
        request_id = getattr(request.state, "request_id", None)
        if request_id:
            response.headers["X-Request-ID"] = request_id
        return response
