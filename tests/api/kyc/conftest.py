"""Fixtures for the KYC API: an app with the IdP's discovery and token routers and the KYC
router on a real context (SQLite and PostgreSQL), a proven citizen with an account, a bank
(register entity + FAPI 2.0 client + KYC policy), and a way to get the bank a DPoP-bound
token for the citizen the way the token endpoint issues it (code minted through the core, as
/authorize does, then POST /token with a client assertion and a DPoP proof)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.context import AppContext, build_context
from api.errors import install_error_handlers
from api.routers import kyc, oidc_discovery, oidc_token
from api.routers.kyc import kyc_service
from core.clock import FixedClock
from core.settings import load_settings
from idp.consents import Consents
from kyc import ClientFacts, RelyingParty
from registry.records import Person
from tests.api.idp_token._rp import DPoPSession, RegisteredRP, RPKey, make_rp_key, mint_code
from tests.api.idp_token._tokens import _post
from tests.idp._accounts import person_record

BANK_SCOPES = [
    "openid",
    "profile",
    "email",
    "phone",
    "address",
    "kyc",
    "kyc:national_id_number",
    "kyc:nationalities",
    "kyc:purpose:account_opening",
    "kyc:purpose:loan",
]


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
def http(app_ctx: AppContext) -> Iterator[TestClient]:
    app = FastAPI()
    app.state.ctx = app_ctx
    install_error_handlers(app)
    for module in (oidc_discovery, oidc_token, kyc):
        app.include_router(module.router)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def person(app_ctx: AppContext, clock: FixedClock) -> Person:
    """A citizen proven in person with the ID card, with an active IdP account."""
    added = app_ctx.register.add_person(person_record())
    app_ctx.register.record_proofing(
        added.id,
        method="in_person",
        level="high",
        evidence="national_id_card",
        office="One Window Office, Phnom Penh",
        at=clock.now() - dt.timedelta(days=30),
    )
    app_ctx.idp_accounts().create(added.id, actor="test", activate=True)
    return added


@dataclass
class Bank:
    rp: RelyingParty
    client: RegisteredRP

    @property
    def key(self) -> RPKey:
        assert self.client.key is not None
        return self.client.key


def make_bank(
    ctx: AppContext, *, name: str = "ACLEDA Bank", register_no: str = "00012345", **policy: Any
) -> Bank:
    entity = ctx.register.add_entity(
        {"register_no": register_no, "name_km": "ធនាគារ អេស៊ីលីដា", "name_en": name, "kind": "bank"}
    )
    key = make_rp_key("ES256")
    client = (
        ctx.idp_core()
        .clients.add(
            name=name,
            redirect_uris=["https://bank.example.kh/cb"],
            auth_method="private_key_jwt",
            jwks=key.jwks,
            fapi2=True,
            scopes=BANK_SCOPES,
        )
        .client
    )
    policy.setdefault(
        "attributes", "name,given_name,family_name,name#km,birthdate,national_id_number"
    )
    policy.setdefault("purposes", "account_opening,loan")
    rp = kyc_service(ctx).relying_parties.add(
        entity_id=entity.id, client=ClientFacts(client.client_id, fapi2=True), **policy
    )
    return Bank(rp=rp, client=RegisteredRP(client, key=key))


@pytest.fixture
def bank(app_ctx: AppContext) -> Bank:
    return make_bank(app_ctx)


SCOPES = ("openid", "kyc", "kyc:purpose:account_opening", "profile", "kyc:national_id_number")


def consent(
    ctx: AppContext,
    person: Person,
    bank: Bank,
    scopes: tuple[str, ...] = SCOPES,
    claims: tuple[str, ...] = (),
) -> None:
    account = ctx.idp_accounts().find_by_person(person.id)
    assert account is not None
    Consents(ctx.sessions, ledger=ctx.ledger).grant(
        account.id, bank.client.client_id, scopes, claims, at=ctx.clock.now()
    )


def bank_token(
    http: TestClient,
    ctx: AppContext,
    bank: Bank,
    person: Person,
    scopes: tuple[str, ...] = SCOPES,
    **code_kw: Any,
) -> tuple[str, DPoPSession]:
    """A DPoP-bound access token of ``bank`` for ``person``, and the bank's DPoP session."""
    core = ctx.idp_core()
    session = DPoPSession(http, bank.key, core.issuer, ctx.clock.now())
    code, verifier = mint_code(
        core,
        bank.client,
        person.id,
        ctx.clock.now(),
        scopes=scopes,
        dpop_jkt=bank.key.jkt,
        **code_kw,
    )
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": bank.client.client.redirect_uris[0],
        "code_verifier": verifier,
    }
    body = _post(http, core, ctx, bank.client, form, session)
    assert body["token_type"] == "DPoP"
    return str(body["access_token"]), session
