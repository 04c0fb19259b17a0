"""Set-up of the CSC API tests: a NatID with an official who has a gov-sign certificate with a
server-side key, an IdP account with a TOTP authenticator app, and a signing client registered
for the ``service`` scope. Tokens are minted through the IdP's protocol core (code, then the
token exchange), as the authorization endpoint would after a login.
"""

from __future__ import annotations

import datetime as dt
import itertools
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.context import AppContext
from api.errors import install_error_handlers
from api.routers import csc
from ca.hierarchy import Hierarchy
from ca.profiles import ProfileName
from ca.store import IssuedCertificate
from core.clock import FixedClock
from idp.clients import Client
from idp.pkce import s256_challenge
from tests.api._ra import installed_context
from tests.ca._issuance import add_entity, add_person, add_servant
from tests.idp._accounts import code_at

__all__ = ["Official", "csc_app", "mint_token", "new_official", "otp_now"]


@dataclass
class Official:
    person_id: str
    servant_id: str
    account_id: str
    totp_secret: str
    credential: IssuedCertificate


def csc_app(ctx: AppContext) -> FastAPI:
    app = FastAPI()
    app.state.ctx = ctx
    install_error_handlers(app)
    app.include_router(csc.router)
    return app


def new_official(ctx: AppContext, clock: FixedClock) -> Official:
    """A civil servant with a gov-sign certificate (server-side key), an active account and a
    confirmed TOTP authenticator; the clock is left one TOTP step later than the enrolment."""
    register = ctx.register
    ministry = add_entity(register, kind="ministry")
    person = add_person(register)
    servant = add_servant(register, person, ministry)
    credential = ctx.ca().issue_with_server_key(ProfileName.GOV_SIGN, servant.id, actor="test")
    accounts = ctx.idp_accounts()
    account = accounts.create(person.id, actor="test", activate=True)
    enrolment = accounts.totp.begin(
        account.id, account_name="official", at=clock.now(), actor="test"
    )
    accounts.totp.confirm(
        account.id,
        enrolment.authenticator_id,
        code_at(enrolment.secret, clock.now()),
        at=clock.now(),
        actor="test",
    )
    clock.advance(dt.timedelta(seconds=30))
    return Official(person.id, servant.id, account.id, enrolment.secret, credential)


def otp_now(official: Official, clock: FixedClock) -> str:
    """The authenticator app's current code; the clock moves on a step, so the next call
    gives a fresh code (each code is accepted once, RFC 6238 §5.2)."""
    code = code_at(official.totp_secret, clock.now())
    clock.advance(dt.timedelta(seconds=30))
    return code


_APPS = itertools.count(1)


def signing_client(ctx: AppContext, scopes: tuple[str, ...] = ("openid", "service")) -> Client:
    return (
        ctx.idp_core()
        .clients.add(
            # A name of its own each time: no two clients may share one.
            name=f"Ministry signing app {next(_APPS)}",
            redirect_uris=["https://sign.mptc.gov.kh/cb"],
            auth_method="client_secret_basic",
            scopes=scopes,
        )
        .client
    )


def mint_token(
    ctx: AppContext,
    client: Client,
    person_id: str,
    *,
    scopes: tuple[str, ...] = ("openid", "service"),
    acr: str = "substantial",
    login_age: dt.timedelta = dt.timedelta(minutes=1),
    dpop_jkt: str | None = None,
) -> str:
    """An access token for ``person_id``, as the token endpoint issues one after a login."""
    core = ctx.idp_core()
    at = ctx.clock.now()
    verifier = secrets.token_urlsafe(48)
    code = core.codes.issue(
        client_id=client.client_id,
        redirect_uri=client.redirect_uris[0],
        subject=person_id,
        scopes=scopes,
        code_challenge=s256_challenge(verifier),
        code_challenge_method="S256",
        auth_time=at - login_age,
        at=at,
        acr=acr,
        amr=("pwd", "otp"),
        dpop_jkt=dpop_jkt,
    )
    grant = core.codes.redeem(
        code,
        client_id=client.client_id,
        redirect_uri=client.redirect_uris[0],
        code_verifier=verifier,
        dpop_jkt=dpop_jkt,
        at=at,
    )
    response = core.tokens.exchange_code(grant, client=client, dpop_jkt=dpop_jkt, at=at)
    return response.access_token


@pytest.fixture
def csc_ctx(
    tmp_path: Path, db_url: str, clock: FixedClock, golden_keys: tuple[Path, Hierarchy]
) -> Iterator[AppContext]:
    ctx = installed_context(tmp_path / "var", db_url, golden_keys, clock)
    ctx.idp_core().signing_keys.ensure_active(actor="test")
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def csc_http(csc_ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(csc_app(csc_ctx), raise_server_exceptions=False) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def body_of(response: Any) -> dict[str, Any]:
    data: dict[str, Any] = response.json()
    return data
