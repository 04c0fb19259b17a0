"""Fixtures of the decoupled-consent, access-log and figures tests: the real application
(api.app.create_app) on a context with the development CA hierarchy and the IdP's signing key,
cheap Argon2 parameters, an onboarded bank (FAPI 2.0 client with private_key_jwt), citizens who
can log in, and helpers that act as the bank's server (start, poll) and as the citizen's
browser (log in, answer a request)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from api.app import create_app
from api.context import AppContext
from ca.hierarchy import Hierarchy
from core.clock import FixedClock
from idp.clients import CLIENT_ASSERTION_TYPE
from tests.api._ra import golden_keys, installed_context
from tests.api.idp_token._rp import client_assertion
from tests.api.kyc.conftest import Bank, make_bank
from tests.idp._web import browser_login, csrf_from, fast_passwords, make_person_with_login

__all__ = ["BASE_URL", "Citizen", "golden_keys"]

BASE_URL = "http://localhost:8000"
REQUESTS = "/kyc/v1/requests"
ATTRIBUTES = "given_name family_name birthdate national_id_number"


@pytest.fixture
def ctx(
    tmp_path: Path, db_url: str, clock: FixedClock, golden_keys: tuple[Path, Hierarchy]
) -> Iterator[AppContext]:
    context = installed_context(tmp_path / "var", db_url, golden_keys, clock)
    context.idp_core().signing_keys.ensure_active(actor="test")
    fast_passwords(context)
    try:
        yield context
    finally:
        context.close()


def browser(ctx: AppContext) -> TestClient:
    """A new client with its own cookies (a citizen's browser, or a bank's server)."""
    return TestClient(create_app(ctx), base_url=BASE_URL, client=("127.0.0.1", 51000))


@pytest.fixture
def http(ctx: AppContext) -> Iterator[TestClient]:
    with browser(ctx) as c:
        yield c


@pytest.fixture
def bank(ctx: AppContext) -> Bank:
    return make_bank(ctx)


@dataclass
class Citizen:
    national_id: str
    password: str
    person_id: str


def make_citizen(ctx: AppContext, **record: Any) -> Citizen:
    national_id, password, _ = make_person_with_login(ctx, totp=False, **record)
    person = ctx.register.find_person_by_national_id(national_id)
    assert person is not None
    return Citizen(national_id, password, person.id)


@pytest.fixture
def citizen(ctx: AppContext) -> Citizen:
    return make_citizen(ctx)


def bank_auth(ctx: AppContext, bank: Bank) -> dict[str, str]:
    """A fresh private_key_jwt client assertion (single-use jti) for ``bank``."""
    assertion = client_assertion(bank.client, aud=ctx.idp_core().issuer, at=ctx.clock.now())
    return {"client_assertion_type": CLIENT_ASSERTION_TYPE, "client_assertion": assertion}


def start(http: TestClient, ctx: AppContext, bank: Bank, national_id: str, **form: str) -> Response:
    body = {
        "national_id_number": national_id,
        "binding_message": "Counter 3 - 4821",
        "purpose": "account_opening",
        "attributes": ATTRIBUTES,
        "optional_attributes": "birthdate",
        **form,
        **bank_auth(ctx, bank),
    }
    response: Response = http.post(REQUESTS, data=body)
    return response


def poll(http: TestClient, ctx: AppContext, bank: Bank, auth_req_id: str) -> Response:
    response: Response = http.post(f"{REQUESTS}/{auth_req_id}", data=bank_auth(ctx, bank))
    return response


def logged_in(ctx: AppContext, citizen: Citizen, lang: str = "en") -> TestClient:
    page = browser(ctx)
    answer = browser_login(page, citizen.national_id, citizen.password, lang=lang)
    assert answer.status_code == 303, answer.text
    return page


def answer(
    page: TestClient, decision: str, *, keep: tuple[str, ...] = (), lang: str = "en"
) -> Response:
    """Answer the first pending request on /account/kyc-requests the way a browser does."""
    shown = page.get("/account/kyc-requests", params={"lang": lang})
    assert shown.status_code == 200, shown.text
    request_id = shown.text.split('name="request_id" value="', 1)[1].split('"', 1)[0]
    form: dict[str, Any] = {
        "csrf_token": csrf_from(shown.text),
        "lang": lang,
        "request_id": request_id,
        "decision": decision,
        "keep": list(keep),
    }
    decided: Response = page.post("/account/kyc-requests/decide", data=form, follow_redirects=False)
    return decided
