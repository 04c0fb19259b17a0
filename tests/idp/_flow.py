"""A code flow through the protocol core, as the routes will drive it."""

from __future__ import annotations

import datetime as dt
import itertools
import secrets
from typing import Any

from idp.clients import Client
from idp.codes import AuthorizationGrant
from idp.pkce import s256_challenge
from idp.service import ProviderCore

PERSON = "6f1c2b9e-5d0a-4e47-9a53-2f8e3b1c7d10"
_PORTALS = itertools.count(1)


def secret_client(core: ProviderCore, **kw: Any) -> Client:
    # A name of its own each time: no two clients may share one (idp.clients.ClientNameTaken).
    return core.clients.add(
        name=kw.pop("name", None) or f"Ministry portal {next(_PORTALS)}",
        redirect_uris=["https://portal.moh.gov.kh/cb"],
        auth_method="client_secret_basic",
        **kw,
    ).client


def issue_code(core: ProviderCore, client: Client, at: dt.datetime, **kw: Any) -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    code = core.codes.issue(
        client_id=client.client_id,
        redirect_uri=client.redirect_uris[0],
        subject=kw.pop("subject", PERSON),
        scopes=kw.pop("scopes", ("openid", "profile")),
        code_challenge=s256_challenge(verifier),
        code_challenge_method="S256",
        auth_time=kw.pop("auth_time", at - dt.timedelta(minutes=1)),
        at=at,
        nonce=kw.pop("nonce", "n-0S6_WzA2Mj"),
        acr=kw.pop("acr", "substantial"),
        amr=kw.pop("amr", ("pwd", "otp")),
        sid=kw.pop("sid", "session-1"),
        **kw,
    )
    return code, verifier


def redeemed_grant(
    core: ProviderCore, client: Client, at: dt.datetime, *, dpop_jkt: str | None = None, **kw: Any
) -> AuthorizationGrant:
    """A code issued (:func:`issue_code`, with ``kw``) and redeemed by ``client`` at ``at``:
    the grant the token endpoint would exchange."""
    code, verifier = issue_code(core, client, at, dpop_jkt=dpop_jkt, **kw)
    return core.codes.redeem(
        code, client_id=client.client_id, redirect_uri=client.redirect_uris[0],
        code_verifier=verifier, dpop_jkt=dpop_jkt, at=at,
    )  # fmt: skip
