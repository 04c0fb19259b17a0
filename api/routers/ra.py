"""The RA REST API (``/ra/v1``): issuance, look-ups, renewal, re-key, revocation, suspension.

Issue 3, "Issuance": the same operations as ``natid ca ...``, for registration offices. Every
route takes an operator token (:func:`api.security.require_operator`; RFC 6750 bearer), so
each call is authenticated and recorded in the audit ledger; the CA's own audit entries
(``ca.certificate.issued``, ``...revoked``) name the operator's id as their ``actor``.

Roles:

=====================================================  ==============================
``POST /certificates``, ``.../renew``, ``.../rekey``,   ``ra-officer``, ``ca-operator``
``.../revoke``, ``.../hold``, ``.../resume``
``GET /certificates``, ``GET /certificates/{serial}``,  ``ra-officer``, ``ca-operator``,
``GET /subjects/{id}/log``                              ``auditor``
``POST /subjects/{id}/revoke``                          ``ca-operator``
=====================================================  ==============================

Choices:

* Serials in paths are hex as ``openssl x509 -serial`` prints them, in any case, with or
  without colons (:func:`ca.store.normalize_serial`).
* Request bodies are JSON, pydantic models with ``extra="forbid"`` (a misspelt field is a 422,
  not silently ignored). A body above :data:`MAX_BODY_BYTES` is refused with 413 before it
  is parsed, and a CSR above :data:`ca.csr.MAX_CSR_BYTES` (64 KiB) with 413 too (RFC 9110
  §15.5.14), so an oversized CSR never reaches the parser.
* New certificates answer 201 with ``Location`` (RFC 9110 §15.3.2). A server-side key is
  reported by its label in the key backend; the key itself never leaves the backend.
* Listing pages with an opaque ``cursor`` (``next_cursor`` of the previous page). It is an
  offset into the newest-first order, so a certificate issued between two page requests
  shifts the pages by one; :meth:`ca.service.CAService.list` offers no keyset filter yet.
* ``GET /subjects/{id}/log`` is the issue's "a subject can list every certificate ever issued
  under their identity": every transparency-log entry for the subject, with the record's
  status. Operators (auditor, RA officer) use it now; citizens will see the same list on
  their account pages once the IdP exists (issue 4).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from cryptography.hazmat.primitives.serialization import Encoding
from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.routing import APIRoute
from starlette.types import Message

from api.deps import Ctx
from api.errors import ProblemHTTPException
from api.routers.ra_schemas import (
    CertificateOut,
    CertificatePage,
    IssueRequest,
    RekeyRequest,
    RevokeRequest,
    SubjectLogEntryOut,
    SubjectLogOut,
    SubjectRevocationOut,
    SubjectRevokeRequest,
    certificate_out,
)
from api.routers.transparency import transparency_log
from api.security import require_operator
from ca.csr import MAX_CSR_BYTES
from ca.store import MAX_LIST, IssuedCertificate, normalize_serial
from core.errors import InvalidInput
from core.operators import Operator, OperatorRole

__all__ = ["MAX_BODY_BYTES", "BoundedBodyRoute", "router"]

#: Largest request body: a 64 KiB PEM CSR as a JSON string (newlines escaped) and the rest.
MAX_BODY_BYTES = MAX_CSR_BYTES + MAX_CSR_BYTES // 8 + 4096
#: Most certificates one list page holds.
MAX_PAGE = 500


def _too_large(what: str, limit: int) -> ProblemHTTPException:
    return ProblemHTTPException(
        413, code="request_too_large", detail=f"{what} is larger than {limit // 1024} KiB"
    )


class BoundedBodyRoute(APIRoute):
    """A route that refuses a request body above :data:`MAX_BODY_BYTES` before parsing it.

    FastAPI reads and parses the body before any dependency runs, so the limit has to sit
    in the route itself: the body is read in chunks and the request refused once it passes
    the limit, then replayed to FastAPI's own handler.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def bounded(request: Request) -> Response:
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
                raise _too_large("the request body", MAX_BODY_BYTES)
            body = bytearray()
            async for chunk in request.stream():
                body.extend(chunk)
                if len(body) > MAX_BODY_BYTES:
                    raise _too_large("the request body", MAX_BODY_BYTES)
            data = bytes(body)

            async def replay() -> Message:
                return {"type": "http.request", "body": data, "more_body": False}

            return await handler(Request(request.scope, replay))

        return bounded


router = APIRouter(prefix="/ra/v1", tags=["ra"], route_class=BoundedBodyRoute)

Officer = Annotated[
    Operator, Depends(require_operator(OperatorRole.RA_OFFICER, OperatorRole.CA_OPERATOR))
]
Reader = Annotated[
    Operator,
    Depends(
        require_operator(OperatorRole.RA_OFFICER, OperatorRole.CA_OPERATOR, OperatorRole.AUDITOR)
    ),
]
CAOperator = Annotated[Operator, Depends(require_operator(OperatorRole.CA_OPERATOR))]
Serial = Annotated[
    str, Path(max_length=100, description="Serial in hex as `openssl x509 -serial` prints it.")
]
SubjectId = Annotated[
    str, Path(min_length=1, max_length=200, description="The register's id of the subject.")
]


def _created(cert: IssuedCertificate, request: Request, response: Response) -> CertificateOut:
    # A relative reference (RFC 9110 §10.2.2), so a forged Host header cannot redirect clients.
    response.headers["Location"] = request.url_for("get_certificate", serial=cert.serial_hex).path
    return certificate_out(cert)


def _csr_bytes(csr: str) -> bytes:
    data = csr.encode("utf-8")
    if len(data) > MAX_CSR_BYTES:
        raise _too_large("the CSR", MAX_CSR_BYTES)
    return data


def _serial(text: str) -> str:
    return normalize_serial(text)


# --- cursors ---------------------------------------------------------------------------------


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode("ascii").rstrip("=")


def _decode_cursor(cursor: str | None) -> int:
    if cursor is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        text = ""
    kind, _, number = text.partition(":")
    if kind != "o" or not number.isdigit() or len(number) > 6:
        raise InvalidInput("cursor is not one this API returned (next_cursor)")
    return int(number)


# --- routes ----------------------------------------------------------------------------------


@router.post(
    "/certificates",
    status_code=status.HTTP_201_CREATED,
    summary="Issue a certificate from a CSR or a server-side key (ra-officer, ca-operator)",
    responses={413: {"description": "The body or the CSR is too large."}},
)
def issue_certificate(
    body: IssueRequest, ctx: Ctx, operator: Officer, request: Request, response: Response
) -> CertificateOut:
    service = ctx.ca()
    if body.csr is not None:
        cert = service.issue_from_csr(
            body.profile,
            body.subject,
            _csr_bytes(body.csr),
            actor=operator.id,
            dns_names=body.dns_names,
            dcc_purposes=body.dcc_purposes,
        )
    else:
        cert = service.issue_with_server_key(
            body.profile,
            body.subject,
            actor=operator.id,
            algorithm=body.algorithm,
            dns_names=body.dns_names or (),
            dcc_purposes=body.dcc_purposes,
        )
    return _created(cert, request, response)


@router.get("/certificates", summary="List certificates, newest first (paged)")
def list_certificates(
    *,
    ctx: Ctx,
    _operator: Reader,
    subject: Annotated[str | None, Query(max_length=200, description="Register id.")] = None,
    profile: Annotated[str | None, Query(max_length=40)] = None,
    cert_status: Annotated[
        str | None, Query(alias="status", max_length=20, description="good, revoked, on_hold.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
) -> CertificatePage:
    offset = _decode_cursor(cursor)
    if offset + limit >= MAX_LIST:
        raise InvalidInput(f"listing reaches at most {MAX_LIST} certificates; narrow the filter")
    found = ctx.ca().list(
        subject_id=subject, profile=profile, status=cert_status, limit=offset + limit + 1
    )
    page = found[offset : offset + limit]
    more = len(found) > offset + limit
    return CertificatePage(
        items=[certificate_out(c) for c in page],
        next_cursor=_encode_cursor(offset + limit) if more else None,
    )


@router.get("/certificates/{serial}", summary="One certificate by serial")
def get_certificate(serial: Serial, ctx: Ctx, _operator: Reader) -> CertificateOut:
    return certificate_out(ctx.ca().get(_serial(serial)))


@router.post(
    "/certificates/{serial}/renew",
    status_code=status.HTTP_201_CREATED,
    summary="Renew: same subject and key, new serial and validity",
)
def renew_certificate(
    serial: Serial, ctx: Ctx, operator: Officer, request: Request, response: Response
) -> CertificateOut:
    cert = ctx.ca().renew(_serial(serial), actor=operator.id)
    return _created(cert, request, response)


@router.post(
    "/certificates/{serial}/rekey",
    status_code=status.HTTP_201_CREATED,
    summary="Re-key: same subject, a new key from a CSR or the key backend",
    responses={413: {"description": "The body or the CSR is too large."}},
)
def rekey_certificate(
    *,
    serial: Serial,
    body: RekeyRequest,
    ctx: Ctx,
    operator: Officer,
    request: Request,
    response: Response,
) -> CertificateOut:
    cert = ctx.ca().rekey(
        _serial(serial),
        _csr_bytes(body.csr) if body.csr is not None else None,
        actor=operator.id,
        server_key=body.server_key,
        algorithm=body.algorithm,
    )
    return _created(cert, request, response)


@router.post("/certificates/{serial}/revoke", summary="Revoke (RFC 5280 §5.3.1 reason)")
def revoke_certificate(
    serial: Serial, body: RevokeRequest, ctx: Ctx, operator: Officer
) -> CertificateOut:
    cert = ctx.ca().revoke(
        _serial(serial),
        reason=body.reason,
        actor=operator.id,
        invalidity_date=body.invalidity_date,
    )
    return certificate_out(cert)


@router.post("/certificates/{serial}/hold", summary="Suspend (certificateHold)")
def hold_certificate(serial: Serial, ctx: Ctx, operator: Officer) -> CertificateOut:
    return certificate_out(ctx.ca().hold(_serial(serial), actor=operator.id))


@router.post("/certificates/{serial}/resume", summary="Release a suspension")
def resume_certificate(serial: Serial, ctx: Ctx, operator: Officer) -> CertificateOut:
    return certificate_out(ctx.ca().resume(_serial(serial), actor=operator.id))


@router.post(
    "/subjects/{subject_id}/revoke", summary="Revoke every certificate of a subject (ca-operator)"
)
def revoke_subject(
    subject_id: SubjectId, body: SubjectRevokeRequest, ctx: Ctx, operator: CAOperator
) -> SubjectRevocationOut:
    revoked = ctx.ca().revoke_subject(subject_id, reason=body.reason, actor=operator.id)
    return SubjectRevocationOut(
        subject_id=subject_id, reason=body.reason.value, revoked=[c.serial_hex for c in revoked]
    )


@router.get(
    "/subjects/{subject_id}/log",
    summary="Every certificate ever logged for a subject (transparency log), oldest first",
)
def subject_log(subject_id: SubjectId, ctx: Ctx, _operator: Reader) -> SubjectLogOut:
    entries = transparency_log(ctx).entries_for_subject(subject_id)
    records = {c.serial_hex: c for c in ctx.ca().list(subject_id=subject_id, limit=None)}
    out = []
    for entry in entries:
        record = records.get(entry.serial_hex)
        out.append(
            SubjectLogEntryOut(
                leaf_index=entry.leaf_index,
                leaf_hash=base64.b64encode(entry.leaf_hash).decode("ascii"),
                serial=entry.serial_hex,
                issuer=entry.issuer,
                logged_at=entry.logged_at,
                profile=record.profile.value if record is not None else None,
                status=record.status.value if record is not None else None,
                certificate=entry.certificate.public_bytes(Encoding.PEM).decode("ascii"),
            )
        )
    return SubjectLogOut(subject_id=subject_id, entries=out)
