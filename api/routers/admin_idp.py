"""The OpenID provider's clients through the admin API (``/admin/v1/idp/clients``).

The same registration as ``natid idp client add``, for operators with the ``idp-admin`` role
(issue 4: "Clients registered by operators ... also through the admin API with operator
credentials"); auditors may read. Every call is authenticated by an operator token and
audited (:func:`api.security.require_operator`); the registration itself is audited by
:class:`idp.clients.ClientRegistry` with the operator as actor. A client secret appears once,
in the answer to its registration (or to ``rotate-secret``), with ``Cache-Control: no-store``.

``PATCH /clients/{client_id}`` changes what the body names (``natid idp client update``);
``POST .../disable`` cuts a client off and revokes its tokens, ``POST .../enable`` lets it
authenticate again, ``POST .../rotate-secret`` replaces a ``client_secret_*`` client's secret:
all for ``idp-admin`` only, audited by the registry with the operator as actor. A name another
client has (case and spacing aside) is a 409 ``client_name_taken``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import Ctx
from api.security import require_operator
from core.operators import Operator, OperatorRole
from idp.clients import Client, ClientAuthMethod
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


class ClientPatch(BaseModel):
    """What to change in a client; an absent field stays as it is (``natid idp client update``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = Field(
        default=None, min_length=1, max_length=200, description="A new name, shown to citizens."
    )
    redirect_uris: list[str] | None = Field(
        default=None, min_length=1, max_length=20, description="Replaces every redirect URI."
    )
    post_logout_redirect_uris: list[str] | None = Field(default=None, max_length=20)
    jwks: dict[str, Any] | None = Field(
        default=None, description="Replaces the public keys (private_key_jwt key rotation)."
    )
    scopes: list[str] | None = Field(default=None, max_length=50)


class DisableIn(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: str = Field(min_length=1, max_length=200, description="Why (kept and audited).")


def _settings(client: Client, issuer: str) -> dict[str, Any]:
    settings = client.settings()
    settings["issuer"] = issuer
    return settings


@router.patch(
    "/clients/{client_id}",
    summary="Change a client's name, redirect URIs, keys or scopes (idp-admin)",
)
def update_client(
    client_id: str, body: ClientPatch, ctx: Ctx, operator: IdPAdmin
) -> dict[str, Any]:
    core = ctx.idp_core()
    client = core.clients.update(
        client_id,
        name=body.name,
        redirect_uris=body.redirect_uris,
        post_logout_redirect_uris=body.post_logout_redirect_uris,
        jwks=body.jwks,
        scopes=body.scopes,
        actor=operator.id,
    )
    return _settings(client, core.issuer)


@router.post(
    "/clients/{client_id}/disable",
    summary="Disable a client and revoke its tokens (idp-admin)",
)
def disable_client(client_id: str, body: DisableIn, ctx: Ctx, operator: IdPAdmin) -> dict[str, Any]:
    core = ctx.idp_core()
    return _settings(
        core.clients.disable(client_id, actor=operator.id, reason=body.reason), core.issuer
    )


@router.post("/clients/{client_id}/enable", summary="Enable a disabled client (idp-admin)")
def enable_client(client_id: str, ctx: Ctx, operator: IdPAdmin) -> dict[str, Any]:
    core = ctx.idp_core()
    return _settings(core.clients.enable(client_id, actor=operator.id), core.issuer)


@router.post(
    "/clients/{client_id}/rotate-secret",
    summary="Replace a client_secret_* client's secret; the new one is shown once (idp-admin)",
)
def rotate_client_secret(
    client_id: str, ctx: Ctx, operator: IdPAdmin, response: Response
) -> dict[str, Any]:
    core = ctx.idp_core()
    rotated = core.clients.rotate_secret(client_id, actor=operator.id)
    settings = _settings(rotated.client, core.issuer)
    settings["client_secret"] = rotated.client_secret
    response.headers["Cache-Control"] = "no-store"
    return settings


@router.get("/clients", summary="Every registered client, oldest first (idp-admin, auditor)")
def list_clients(ctx: Ctx, _operator: Reader) -> list[dict[str, Any]]:
    return [client.settings() for client in ctx.idp_core().clients.list()]


@router.get("/clients/{client_id}", summary="One client's settings (idp-admin, auditor)")
def get_client(client_id: str, ctx: Ctx, _operator: Reader) -> dict[str, Any]:
    return ctx.idp_core().clients.get(client_id, include_disabled=True).settings()
