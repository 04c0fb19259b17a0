"""REST API of approval workflows for ministries' systems (issue 5, "REST API for the same").

A ministry's system is an OAuth client of NatID's IdP acting for the official who writes the
document: it calls with that official's access token, as ``Authorization: Bearer <token>``
(RFC 6750 §2.1) or ``Authorization: DPoP <token>`` with a ``DPoP`` proof for this URL
(RFC 9449 §7). The token must carry the scope ``signing``; its subject (a person of the
register) is the author. Errors are RFC 9457 problem details; an authentication error also
carries the ``WWW-Authenticate`` challenges of RFC 6750 §3 / RFC 9449 §7.1 (one header,
challenges separated by commas, RFC 9110 §11.6.1).

* ``POST /signing/v1/workflows`` (multipart/form-data: ``file`` the PDF, ``steps`` a JSON
  array whose items are a civil-servant id or ``{"approvers": [ids...]}`` for a parallel
  group, ``title``, optionally ``seal``, ``certify``, ``author_servant_id``) -> 201 with the
  workflow and ``Location``.
* ``GET /signing/v1/workflows/{id}``: state, steps, history (for participants only: anyone
  else gets 404, as for an unknown id).
* ``GET /signing/v1/workflows/{id}/document``: the current PDF (``ETag`` its SHA-256).

Approving and rejecting are acts of the officials themselves, on the pages (``/sign/...``)
after a fresh login; the API does not offer them.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.context import AppContext
from api.deps import Ctx
from api.errors import ProblemHTTPException
from api.oauth_wire import (
    dpop_verifier,
    refusal_challenge,
    resource_error_response,
    verify_dpop,
)
from idp.errors import InsufficientScope, InvalidRequest, InvalidToken, OAuthError
from signing.workflow import ApprovalWorkflows
from signing.workflow_errors import InvalidWorkflow
from signing.workflow_records import Workflow

__all__ = ["SCOPE", "WorkflowOut", "router", "workflows_of"]

SCOPE = "signing"
PREFIX = "/signing/v1"
_MAX_UPLOAD = 32 * 1024 * 1024


def workflows_of(ctx: AppContext) -> ApprovalWorkflows:
    """The approval-workflow service over the context's collaborators (stateless, cheap)."""
    return ApprovalWorkflows(
        ctx.sessions,
        signing=ctx.signing(),
        register=ctx.register,
        ledger=ctx.ledger,
        clock=ctx.clock,
    )


# --- schemas ------------------------------------------------------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ApproverOut(_Out):
    servant_id: str
    state: str = Field(description="waiting, approved or rejected")
    acted_at: dt.datetime | None
    signature_field: str


class StepOut(_Out):
    number: int
    state: str = Field(description="waiting, current, approved or rejected")
    parallel: bool = Field(description="a group: every approver signs, in any order")
    approvers: list[ApproverOut]


class EventOut(_Out):
    at: dt.datetime
    event: str = Field(description="created, approved, rejected, sealed or completed")
    servant_id: str | None
    step: int | None
    version: int | None
    comment: str | None


class DocumentOut(_Out):
    version: int
    sha256: str
    size: int
    url: str


class WorkflowOut(_Out):
    id: str
    title: str
    state: str = Field(description="in_progress, rejected or completed")
    current_step: int
    author_servant_id: str
    seal: bool = Field(description="the ministry's e-seal closes the workflow")
    certify: bool
    level: str = Field(description="PAdES baseline level of every signature")
    steps: list[StepOut]
    history: list[EventOut]
    document: DocumentOut
    original_sha256: str
    created_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None


class StepIn(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    approvers: list[str] = Field(min_length=1, max_length=10)


def workflow_out(found: Workflow) -> WorkflowOut:
    return WorkflowOut(
        id=found.id,
        title=found.title,
        state=found.state.value,
        current_step=found.current_step,
        author_servant_id=found.author_servant_id,
        seal=found.seal_entity_id is not None,
        certify=found.certify,
        level=found.level,
        steps=[
            StepOut(
                number=number,
                state=found.step_state(number),
                parallel=len(members) > 1,
                approvers=[
                    ApproverOut(
                        servant_id=a.servant_id,
                        state=a.state.value,
                        acted_at=a.acted_at,
                        signature_field=a.field_name,
                    )
                    for a in members
                ],
            )
            for number, members in enumerate(found.steps, 1)
        ],
        history=[
            EventOut(
                at=e.at,
                event=e.event,
                servant_id=e.servant_id,
                step=e.step,
                version=e.version,
                comment=e.comment,
            )
            for e in found.events
        ],
        document=DocumentOut(
            version=found.version,
            sha256=found.sha256,
            size=found.size,
            url=f"{PREFIX}/workflows/{found.id}/document",
        ),
        original_sha256=found.original_sha256,
        created_at=found.created_at,
        updated_at=found.updated_at,
        finished_at=found.finished_at,
    )


# --- the caller ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Caller:
    person_id: str
    client_id: str
    scheme: str
    #: A fresh ``DPoP-Nonce`` for the response (RFC 9449 §8), DPoP callers only.
    nonce: str | None


def _challenge_error(exc: OAuthError | None, scheme: str | None) -> ProblemHTTPException:
    """The OAuth resource error as problem+json, keeping its challenges and DPoP nonce."""
    wire = resource_error_response(
        exc,
        scheme=refusal_challenge(exc, scheme),
        scope=SCOPE if isinstance(exc, InsufficientScope) else None,
    )
    headers = {"WWW-Authenticate": ", ".join(wire.headers.getlist("www-authenticate"))}
    if "dpop-nonce" in wire.headers:
        headers["DPoP-Nonce"] = wire.headers["dpop-nonce"]
    code = exc.oauth_error.value if exc is not None else "unauthorized"
    detail = exc.description if exc is not None else "send an access token with scope signing"
    return ProblemHTTPException(wire.status_code, code=code, detail=detail, headers=headers)


def caller(request: Request, ctx: Ctx) -> Caller:
    """The author behind the request's access token (module docstring)."""
    scheme: str | None = None
    try:
        authorization = request.headers.get("authorization")
        if not authorization:
            raise _challenge_error(None, None)
        scheme, _, token = authorization.partition(" ")
        scheme, token = scheme.lower(), token.strip()
        if scheme not in {"bearer", "dpop"} or not token or " " in token:
            raise InvalidToken("expected Authorization: Bearer <token> or DPoP <token>")
        if "access_token" in request.query_params:
            raise InvalidRequest("an access token in the URI query is refused (RFC 6750 §2.3)")
        proof = None
        if scheme == "dpop":
            proof = verify_dpop(request, ctx, request.url.path, access_token=token)
            if proof is None:
                raise InvalidToken("the DPoP scheme needs a DPoP proof")
        info = ctx.idp_core().tokens.verify_access_token(
            token, at=ctx.clock.now(), dpop_jkt=proof.jkt if proof else None
        )
        if scheme == "dpop" and info.jkt is None:
            raise InvalidToken("the access token is not DPoP-bound; use the Bearer scheme")
        if SCOPE not in info.scopes:
            raise InsufficientScope("the access token lacks the signing scope")
    except OAuthError as exc:
        raise _challenge_error(exc, scheme) from None
    nonce = dpop_verifier(request).new_nonce(at=ctx.clock.now()) if scheme == "dpop" else None
    return Caller(person_id=info.subject, client_id=info.client_id, scheme=scheme, nonce=nonce)


Author = Annotated[Caller, Depends(caller)]


def _headers(who: Caller, **extra: str) -> dict[str, str]:
    headers = {"Cache-Control": "no-store", **extra}
    if who.nonce is not None:
        headers["DPoP-Nonce"] = who.nonce
    return headers


def _json(found: Workflow, who: Caller, *, status: int = 200, **headers: str) -> JSONResponse:
    body = workflow_out(found).model_dump(mode="json")
    return JSONResponse(body, status_code=status, headers=_headers(who, **headers))


# --- routes -------------------------------------------------------------------------------------

router = APIRouter(prefix=PREFIX, tags=["signing workflows"])

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Bad steps, title or PDF (problem+json)"},
    401: {"description": "No or invalid access token (problem+json, WWW-Authenticate)"},
    403: {"description": "The token lacks the signing scope, or its subject is no civil servant"},
    404: {"description": "No such workflow for this author (problem+json)"},
}


def _parse_steps(raw: str) -> list[list[str]]:
    try:
        items = json.loads(raw)
    except ValueError as exc:
        raise InvalidWorkflow("steps must be a JSON array") from exc
    if not isinstance(items, list):
        raise InvalidWorkflow("steps must be a JSON array")
    steps: list[list[str]] = []
    for item in items:
        if isinstance(item, str):
            steps.append([item])
            continue
        try:
            steps.append(list(StepIn.model_validate(item).approvers))
        except ValidationError as exc:
            raise InvalidWorkflow(
                'each step is a civil-servant id or {"approvers": [ids]} (1-10 ids)'
            ) from exc
    return steps


@router.post(
    "/workflows",
    status_code=201,
    response_model=WorkflowOut,
    responses={**_PROBLEMS, 201: {"description": "Started; Location names the workflow"}},
    summary="Start an approval workflow",
)
async def create_workflow(
    *,
    ctx: Ctx,
    who: Author,
    file: Annotated[UploadFile, File(description="The PDF to approve")],
    steps: Annotated[str, Form(description='JSON: ["id", {"approvers": ["id", "id"]}, ...]')],
    title: Annotated[str, Form(max_length=400)],
    seal: Annotated[bool, Form()] = False,
    certify: Annotated[bool, Form()] = False,
    author_servant_id: Annotated[str | None, Form()] = None,
) -> JSONResponse:
    data = await file.read(_MAX_UPLOAD + 1)
    found = workflows_of(ctx).create(
        data,
        title=title,
        author_person_id=who.person_id,
        steps=_parse_steps(steps),
        seal=seal,
        certify=certify,
        filename=file.filename,
        author_servant_id=author_servant_id,
        client_id=who.client_id,
    )
    location = f"{PREFIX}/workflows/{found.id}"
    return _json(found, who, status=201, Location=location)


@router.get(
    "/workflows/{workflow_id}",
    response_model=WorkflowOut,
    responses=_PROBLEMS,
    summary="State, steps and history of a workflow",
)
def get_workflow(workflow_id: str, ctx: Ctx, who: Author) -> JSONResponse:
    return _json(workflows_of(ctx).get(workflow_id, person_id=who.person_id), who)


@router.get(
    "/workflows/{workflow_id}/document",
    response_class=Response,
    responses={**_PROBLEMS, 200: {"content": {"application/pdf": {}}, "description": "The PDF"}},
    summary="The current PDF of a workflow (signed by every approval so far)",
)
def get_document(workflow_id: str, ctx: Ctx, who: Author) -> Response:
    found, pdf = workflows_of(ctx).document(workflow_id, person_id=who.person_id)
    disposition = f'attachment; filename="{found.filename}"'
    return Response(
        pdf,
        media_type="application/pdf",
        headers=_headers(who, ETag=f'"{found.sha256}"', **{"Content-Disposition": disposition}),
    )
