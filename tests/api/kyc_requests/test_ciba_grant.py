"""The standard way to collect an approved decoupled request: the CIBA grant at /token
(``urn:openid:params:grant-type:ciba``, CIBA Core §10.1) gives the bank a DPoP-bound access
token for exactly what the citizen approved, used at GET /kyc/v1/person as usual."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from httpx import Response

from api.context import AppContext
from core.clock import FixedClock
from idp.clients import CLIENT_ASSERTION_TYPE
from tests.api.idp_token._rp import DPoPSession, client_assertion
from tests.api.kyc.conftest import Bank
from tests.api.kyc.test_person import verify_with_jwks
from tests.api.kyc_requests.conftest import Citizen, answer, logged_in, poll, start

CIBA = "urn:openid:params:grant-type:ciba"


def _token(
    http: TestClient, ctx: AppContext, bank: Bank, handle: str, *, dpop: bool = True
) -> tuple[Response, DPoPSession]:
    core = ctx.idp_core()
    form = {
        "grant_type": CIBA,
        "auth_req_id": handle,
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": client_assertion(bank.client, aud=core.issuer, at=ctx.clock.now()),
    }
    session = DPoPSession(http, bank.key, core.issuer, ctx.clock.now())
    if not dpop:
        return http.post("/token", data=form), session
    return session.request("POST", "/token", data=form), session


def test_ciba_grant_gives_a_dpop_token_for_exactly_what_was_approved(
    http: TestClient, ctx: AppContext, clock: FixedClock, bank: Bank, citizen: Citizen
) -> None:
    handle = start(http, ctx, bank, citizen.national_id).json()["auth_req_id"]
    pending, _ = _token(http, ctx, bank, handle)
    assert pending.status_code == 400 and pending.json()["error"] == "authorization_pending"
    answer(logged_in(ctx, citizen), "approve")  # birthdate (optional) unticked
    clock.advance(dt.timedelta(seconds=5))

    bare, _ = _token(http, ctx, bank, handle, dpop=False)
    assert bare.status_code == 400  # a FAPI bank must bind the token; the request is kept
    issued, session = _token(http, ctx, bank, handle)
    assert issued.status_code == 200, issued.text
    body = issued.json()
    assert body["token_type"] == "DPoP" and "refresh_token" not in body
    assert set(body["scope"].split()) == {
        "kyc", "kyc:purpose:account_opening", "kyc:national_id_number"
    }  # fmt: skip

    person = session.request("GET", "/kyc/v1/person", access_token=body["access_token"])
    assert person.status_code == 200, person.text
    _, claims = verify_with_jwks(http, person.text)
    released = claims["verified_claims"]["claims"]
    assert set(released) == {"given_name", "family_name", "national_id_number"}
    assert released["national_id_number"] == citizen.national_id

    clock.advance(dt.timedelta(seconds=5))
    again, _ = _token(http, ctx, bank, handle)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert poll(http, ctx, bank, handle).json()["error"] == "invalid_grant"


def test_ciba_grant_after_denial_is_access_denied(
    http: TestClient, ctx: AppContext, clock: FixedClock, bank: Bank, citizen: Citizen
) -> None:
    handle = start(http, ctx, bank, citizen.national_id).json()["auth_req_id"]
    answer(logged_in(ctx, citizen), "deny")
    denied, _ = _token(http, ctx, bank, handle)
    assert denied.status_code == 400 and denied.json()["error"] == "access_denied"
