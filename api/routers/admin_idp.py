"""The OpenID provider's clients through the admin API (``/admin/v1/idp/clients``).

The same registration as ``natid idp client add``, for operators with the ``idp-admin`` role
(issue 4: "Clients registered by operators ... also through the admin API with operator
credentials"); auditors may read. Every call is authenticated by an operator token and
audited (:func:`api.security.require_operator`); the registration itself is audited by
:class:`idp.clients.ClientRegistry` with the operator as actor. A client secret appears once,
in the answer to its registration, with ``Cache-Control: no-store``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import Ctx
from api.security import require_operator
from core.operators import Operator, OperatorRole
from idp.clients import ClientAuthMethod
from idp.subjects import SubjectType

__all__ = ["router"]

router = APIRouter(prefix="/admin/v1/idp", tags=["admin"])

IdPAdmin = Annotated[Operator, Depends(require_operator(OperatorRole.IDP_ADMIN))]
Reader = Annotated[
    Operator, Depends(require_operator(OperatorRole.IDP_ADMIN, OperatorRole.AUDITOR))
]


class ClientIn(BaseModel):
    """A client registration; the fields mirror ``natid idp client add``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(
        min_length=1, max_length=200, description="The site's name, shown to citizens."
    )
    redirect_uris: list[str] = Field(min_length=1, max_length=20, description="Exact URIs.")
    auth_method: ClientAuthMethod
    jwks: dict[str, Any] | None = Field(
        default=None, description="The client's public keys (a JWK Set), for private_key_jwt."
    )
    fapi2: bool = Field(default=False, description="FAPI 2.0: PAR, DPoP, private_key_jwt.")
    sector: str | None = Field(default=None, max_length=253, description="Sector host.")
    public_sub: bool = Field(default=False, description="Public sub instead of pairwise.")
    scopes: list[str] | None = Field(default=None, max_length=50)
    post_logout_redirect_uris: list[str] = Field(default_factory=list, max_length=20)
    backchannel_logout_uri: str | None = Field(default=None, max_length=2000)
    userinfo_signed: bool = Field(default=False, description="Signed UserInfo responses (JWT).")


@router.post(
    "/clients",
    status_code=201,
    summary="Register an OpenID Connect client (idp-admin); the secret is shown once",
)
def add_client(body: ClientIn, ctx: Ctx, operator: IdPAdmin, response: Response) -> dict[str, Any]:
    core = ctx.idp_core()
    userinfo_alg = (
        core.signing_keys.ensure_active(actor=operator.id).alg if body.userinfo_signed else None
    )
    added = core.clients.add(
        name=body.name,
        redirect_uris=body.redirect_uris,
        auth_method=body.auth_method,
        jwks=body.jwks,
        fapi2=body.fapi2,
        sector=body.sector,
        subject_type=SubjectType.PUBLIC if body.public_sub else SubjectType.PAIRWISE,
        scopes=body.scopes,
        post_logout_redirect_uris=body.post_logout_redirect_uris,
        backchannel_logout_uri=body.backchannel_logout_uri,
        userinfo_signed_response_alg=userinfo_alg,
        actor=operator.id,
    )
    settings = added.client.settings()
    settings["issuer"] = core.issuer
    if added.client_secret is not None:
        settings["client_secret"] = added.client_secret
    response.headers["Cache-Control"] = "no-store"
    response.headers["Location"] = f"/admin/v1/idp/clients/{added.client.client_id}"
    return settings


@router.get("/clients", summary="Every registered client, oldest first (idp-admin, auditor)")
def list_clients(ctx: Ctx, _operator: Reader) -> list[dict[str, Any]]:
    return [client.settings() for client in ctx.idp_core().clients.list()]


@router.get("/clients/{client_id}", summary="One client's settings (idp-admin, auditor)")
def get_client(client_id: str, ctx: Ctx, _operator: Reader) -> dict[str, Any]:
    return ctx.idp_core().clients.get(client_id).settings()
