"""Fixtures for the authorization and PAR endpoints over HTTP: an app with the authorize,
token and discovery routers on a real context (SQLite and PostgreSQL), a person with an active
account, clients of each kind, and helpers that play the login and consent pages' part
(start a login session and set its cookie; grant a consent) the way U's pages will.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from api.context import AppContext, build_context
from api.errors import install_error_handlers
from api.idp_web import SESSION_COOKIE_NAME
from api.routers import oidc_authorize, oidc_discovery, oidc_token
from core.clock import FixedClock
from core.settings import load_settings
from idp.accounts import Account
from idp.consents import Consents
from idp.pkce import s256_challenge
from idp.service import ProviderCore
from idp.sessions import LoginSession, LoginSessions
from registry.records import AssuranceLevel, Person
from tests.api.idp_token._rp import RegisteredRP, make_rp_key
from tests.idp._accounts import person_record

FAPI_REDIRECT = "https://bank.example.kh/cb"
PORTAL_REDIRECT = "https://portal.moh.gov.kh/cb"


@pytest.fixture
def app_ctx(tmp_path: Path, db_url: str, clock: FixedClock) -> Iterator[AppContext]:
    settings = load_settings(data_dir=tmp_path / "var", database_url=db_url)
    ctx = build_context(settings, clock=clock)
    ctx.idp_core().signing_keys.ensure_active(actor="test")
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def core(app_ctx: AppContext) -> ProviderCore:
    return app_ctx.idp_core()


@pytest.fixture
def http(app_ctx: AppContext) -> Iterator[TestClient]:
    app = FastAPI()
    app.state.ctx = app_ctx
    install_error_handlers(app)
    for module in (oidc_discovery, oidc_authorize, oidc_token):
        app.include_router(module.router)
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as c:
        yield c


def _person(app_ctx: AppContext, national_id: str) -> tuple[Person, Account]:
    added = app_ctx.register.add_person(person_record(national_id))
    account = app_ctx.idp_accounts().create(added.id, actor="test", activate=True)
    return added, account


@pytest.fixture
def person(app_ctx: AppContext) -> tuple[Person, Account]:
    """A registered person with an active IdP account."""
    return _person(app_ctx, "000123456")


@pytest.fixture
def other_person(app_ctx: AppContext) -> tuple[Person, Account]:
    return _person(app_ctx, "000654321")


@pytest.fixture
def portal(core: ProviderCore) -> RegisteredRP:
    registered = core.clients.add(
        name="Ministry portal", redirect_uris=[PORTAL_REDIRECT], auth_method="client_secret_basic"
    )
    return RegisteredRP(registered.client, secret=registered.client_secret)


@pytest.fixture
def other_portal(core: ProviderCore) -> RegisteredRP:
    registered = core.clients.add(
        name="Tax office", redirect_uris=["https://tax.gov.kh/cb"], auth_method="client_secret_post"
    )
    return RegisteredRP(registered.client, secret=registered.client_secret)


@pytest.fixture
def bank(core: ProviderCore) -> RegisteredRP:
    """A FAPI 2.0 client (PAR and DPoP required), PS256 keys."""
    key = make_rp_key("PS256")
    client = core.clients.add(
        name="ACLEDA bank",
        redirect_uris=[FAPI_REDIRECT],
        auth_method="private_key_jwt",
        jwks=key.jwks,
        fapi2=True,
    ).client
    return RegisteredRP(client, key=key)


@dataclass
class Browser:
    """The user's browser: a TestClient with the login-session cookie, and the RP's PKCE."""

    http: TestClient
    ctx: AppContext
    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    token: str | None = None
    session: LoginSession | None = None

    @property
    def challenge(self) -> str:
        return s256_challenge(self.verifier)

    def login(
        self, account: Account, *, acr: str = "low", amr: tuple[str, ...] = ("pwd",)
    ) -> LoginSession:
        """What /login does after a successful authentication: a session and its cookie."""
        started = LoginSessions(self.ctx.sessions, ledger=self.ctx.ledger).start(
            account.id, acr=AssuranceLevel(acr), amr=amr, at=self.ctx.clock.now()
        )
        self.token = started.token
        self.session = started.session
        self.http.cookies.set(SESSION_COOKIE_NAME(self.ctx.settings), started.token)
        return started.session

    def step_up(self, *, acr: str = "substantial", amr: tuple[str, ...] = ("otp",)) -> LoginSession:
        assert self.token is not None
        self.session = LoginSessions(self.ctx.sessions, ledger=self.ctx.ledger).step_up(
            self.token, acr=AssuranceLevel(acr), amr=amr, at=self.ctx.clock.now()
        )
        return self.session

    def params(self, rp: RegisteredRP, **overrides: Any) -> dict[str, str]:
        """An authorization request as a stock RP library makes it; ``None`` drops one."""
        params: dict[str, Any] = {
            "response_type": "code",
            "client_id": rp.client_id,
            "redirect_uri": rp.client.redirect_uris[0],
            "scope": "openid profile email",
            "state": "st-" + secrets.token_urlsafe(8),
            "nonce": "n-" + secrets.token_urlsafe(8),
            "code_challenge": self.challenge,
            "code_challenge_method": "S256",
        }
        params.update(overrides)
        return {k: v for k, v in params.items() if v is not None}

    def authorize(self, rp: RegisteredRP, **overrides: Any) -> Response:
        response: Response = self.http.get("/authorize", params=self.params(rp, **overrides))
        return response


@pytest.fixture
def browser(http: TestClient, app_ctx: AppContext) -> Browser:
    return Browser(http, app_ctx)


def grant_consent(
    ctx: AppContext,
    account: Account,
    rp: RegisteredRP,
    scopes: tuple[str, ...],
    claims: tuple[str, ...] = (),
) -> None:
    """What /consent's allow does."""
    Consents(ctx.sessions, ledger=ctx.ledger).grant(
        account.id, rp.client_id, scopes, claims, at=ctx.clock.now(), lifetime=dt.timedelta(days=30)
    )


def redirect_params(response: Response) -> tuple[str, dict[str, str]]:
    """The Location of a 303 split into (URL without query, single-valued parameters)."""
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    parts = urlsplit(location)
    params = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    return f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.scheme else parts.path, params
