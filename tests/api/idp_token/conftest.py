"""Fixtures for the IdP token side over HTTP: an app with the discovery, token and UserInfo
routers on a real context (SQLite and PostgreSQL), a person with an account, and clients of
each kind. Codes are minted through the protocol core (``tests/idp/_flow.py``), as /authorize
will mint them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.context import AppContext, build_context
from api.errors import install_error_handlers
from api.routers import oidc_discovery, oidc_token, oidc_userinfo
from core.clock import FixedClock
from core.settings import load_settings
from idp.clients import Client
from idp.service import ProviderCore
from registry.records import Person
from tests.api.idp_token._rp import RegisteredRP, make_rp_key
from tests.idp._accounts import person_record


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
    for module in (oidc_discovery, oidc_token, oidc_userinfo):
        app.include_router(module.router)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def person(app_ctx: AppContext) -> Person:
    """A registered person with an active IdP account (the grants' subject)."""
    added = app_ctx.register.add_person(person_record())
    app_ctx.idp_accounts().create(added.id, actor="test", activate=True)
    return added


@pytest.fixture
def basic_client(core: ProviderCore) -> RegisteredRP:
    registered = core.clients.add(
        name="Ministry portal",
        redirect_uris=["https://portal.moh.gov.kh/cb"],
        auth_method="client_secret_basic",
    )
    assert registered.client_secret is not None
    return RegisteredRP(registered.client, secret=registered.client_secret)


@pytest.fixture
def post_client(core: ProviderCore) -> RegisteredRP:
    registered = core.clients.add(
        name="Tax office",
        redirect_uris=["https://tax.gov.kh/cb"],
        auth_method="client_secret_post",
    )
    assert registered.client_secret is not None
    return RegisteredRP(registered.client, secret=registered.client_secret)


@pytest.fixture
def jwt_client(core: ProviderCore) -> RegisteredRP:
    key = make_rp_key("ES256")
    client: Client = core.clients.add(
        name="Land registry",
        redirect_uris=["https://land.gov.kh/cb"],
        auth_method="private_key_jwt",
        jwks=key.jwks,
    ).client
    return RegisteredRP(client, key=key)


@pytest.fixture
def fapi_client(core: ProviderCore) -> RegisteredRP:
    """A bank: FAPI 2.0, private_key_jwt with an RSA key (so it could try RS256)."""
    key = make_rp_key("PS256")
    client = core.clients.add(
        name="ACLEDA bank",
        redirect_uris=["https://bank.example.kh/cb"],
        auth_method="private_key_jwt",
        jwks=key.jwks,
        fapi2=True,
    ).client
    return RegisteredRP(client, key=key)
