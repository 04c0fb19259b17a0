"""Decoupled consent at the bank counter (CIBA-style): the bank starts a request with the
citizen's ID card number, the citizen approves or denies on their account pages, the bank
polls and gets the signed verified_claims once - and every way that must not release data."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from api.context import AppContext
from api.routers.kyc import kyc_service
from core.clock import FixedClock
from tests.api.kyc.conftest import Bank, make_bank
from tests.api.kyc.test_person import verify_with_jwks
from tests.api.kyc_requests.conftest import Citizen, answer, logged_in, make_citizen, poll, start
from tests.idp._web import csrf_from, new_national_id

INTERVAL = dt.timedelta(seconds=5)


def _started(http: TestClient, ctx: AppContext, bank: Bank, national_id: str) -> str:
    response = start(http, ctx, bank, national_id)
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"auth_req_id", "expires_in", "interval"}
    assert body["expires_in"] == 600 and body["interval"] == 5
    return str(body["auth_req_id"])


def test_full_flow_citizen_approves_bank_gets_signed_claims_once(
    http: TestClient, ctx: AppContext, clock: FixedClock, bank: Bank, citizen: Citizen
) -> None:
    handle = _started(http, ctx, bank, citizen.national_id)
    assert poll(http, ctx, bank, handle).json()["error"] == "authorization_pending"

    page = logged_in(ctx, citizen)
    overview = page.get("/account?lang=en")
    assert "A bank is waiting for your answer (1)" in overview.text
    shown = page.get("/account/kyc-requests?lang=en")
    assert "ACLEDA Bank" in shown.text
    assert "Counter 3 - 4821" in shown.text
    assert "Opening an account" in shown.text
    for label in ("Given name (Latin script)", "Family name (Latin script)", "Date of birth",
                  "ID card number"):  # fmt: skip
        assert label in shown.text
    assert citizen.national_id not in shown.text

    decided = answer(page, "approve")  # the optional date of birth is left unticked
    assert decided.status_code == 303
    assert "done=approved" in decided.headers["location"]
    assert "A bank is waiting" not in page.get("/account?lang=en").text

    clock.advance(INTERVAL)
    released = poll(http, ctx, bank, handle)
    assert released.status_code == 200, released.text
    body = released.json()
    assert body["status"] == "approved" and body["encrypted"] is False
    _, claims = verify_with_jwks(http, body["response"])
    assert claims["aud"] == bank.client.client_id
    assert claims["natid:purpose"] == "account_opening"
    assert claims["txn"] == body["txn"]
    released_claims = claims["verified_claims"]["claims"]
    assert released_claims["given_name"] and released_claims["family_name"]
    assert released_claims["national_id_number"] == citizen.national_id
    assert "birthdate" not in released_claims

    clock.advance(INTERVAL)
    again = poll(http, ctx, bank, handle)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    log = kyc_service(ctx).access_log.for_person(citizen.person_id)
    assert [(e.kind, e.basis, e.txn) for e in log] == [("release", "consent", body["txn"])]
    events = [e.event for e in ctx.ledger.tail(50)]
    assert "kyc.request.started" in events and "kyc.request.approved" in events


def test_citizen_denies_nothing_is_released(
    http: TestClient, ctx: AppContext, clock: FixedClock, bank: Bank, citizen: Citizen
) -> None:
    handle = _started(http, ctx, bank, citizen.national_id)
    page = logged_in(ctx, citizen)
    assert "done=denied" in answer(page, "deny").headers["location"]
    clock.advance(INTERVAL)
    refused = poll(http, ctx, bank, handle)
    assert refused.status_code == 400 and refused.json()["error"] == "access_denied"
    assert kyc_service(ctx).access_log.for_person(citizen.person_id) == []


def test_request_expires_with_the_clock(
    http: TestClient, ctx: AppContext, clock: FixedClock, bank: Bank, citizen: Citizen
) -> None:
    handle = _started(http, ctx, bank, citizen.national_id)
    clock.advance(dt.timedelta(minutes=10))
    assert poll(http, ctx, bank, handle).json()["error"] == "expired_token"
    page = logged_in(ctx, citizen)
    assert "No request is waiting" in page.get("/account/kyc-requests?lang=en").text


def test_polling_faster_than_interval_gets_slow_down(
    http: TestClient, ctx: AppContext, clock: FixedClock, bank: Bank, citizen: Citizen
) -> None:
    handle = _started(http, ctx, bank, citizen.national_id)
    assert poll(http, ctx, bank, handle).json()["error"] == "authorization_pending"
    clock.advance(dt.timedelta(seconds=2))
    fast = poll(http, ctx, bank, handle)
    assert fast.status_code == 400
    assert fast.json()["error"] == "slow_down" and fast.json()["interval"] == 10
    clock.advance(dt.timedelta(seconds=10))
    assert poll(http, ctx, bank, handle).json()["error"] == "authorization_pending"


def test_unknown_id_number_is_indistinguishable_from_a_known_one(
    http: TestClient, ctx: AppContext, clock: FixedClock, bank: Bank, citizen: Citizen
) -> None:
    known = start(http, ctx, bank, citizen.national_id)
    unknown = start(http, ctx, bank, new_national_id())
    assert known.status_code == unknown.status_code == 201
    assert {k: v for k, v in known.json().items() if k != "auth_req_id"} == {
        k: v for k, v in unknown.json().items() if k != "auth_req_id"
    }
    assert len(known.json()["auth_req_id"]) == len(unknown.json()["auth_req_id"])
    polls = [poll(http, ctx, bank, r.json()["auth_req_id"]) for r in (known, unknown)]
    assert [p.status_code for p in polls] == [400, 400]
    assert polls[0].json() == polls[1].json()
    clock.advance(dt.timedelta(minutes=10))
    expired = [poll(http, ctx, bank, r.json()["auth_req_id"]) for r in (known, unknown)]
    assert expired[0].json() == expired[1].json()
    assert expired[0].json()["error"] == "expired_token"


def test_another_bank_cannot_poll_the_request(
    http: TestClient, ctx: AppContext, clock: FixedClock, bank: Bank, citizen: Citizen
) -> None:
    handle = _started(http, ctx, bank, citizen.national_id)
    answer(logged_in(ctx, citizen), "approve")
    other = make_bank(ctx, name="ABA Bank", register_no="00054321")
    stolen = poll(http, ctx, other, handle)
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
    unauthenticated = http.post(f"/kyc/v1/requests/{handle}", data={"client_id": "x"})
    assert unauthenticated.status_code in {400, 401}
    assert unauthenticated.json()["error"] in {"invalid_client", "invalid_request"}
    clock.advance(INTERVAL)
    assert poll(http, ctx, bank, handle).status_code == 200  # the owner still can, once


def test_bad_requests_are_refused_before_anything_is_stored(
    http: TestClient, ctx: AppContext, bank: Bank, citizen: Citizen
) -> None:
    too_long = start(http, ctx, bank, citizen.national_id, binding_message="x" * 65)
    assert too_long.status_code == 400
    assert too_long.json()["error"] == "invalid_binding_message"
    control = start(http, ctx, bank, citizen.national_id, binding_message="a\x07b")
    assert control.json()["error"] == "invalid_binding_message"
    outside = start(http, ctx, bank, citizen.national_id, attributes="given_name email")
    assert outside.status_code == 403
    assert outside.headers["content-type"].startswith("application/problem+json")
    purpose = start(http, ctx, bank, citizen.national_id, purpose="periodic_review")
    assert purpose.status_code == 403
    page = logged_in(ctx, citizen)
    assert "No request is waiting" in page.get("/account/kyc-requests?lang=en").text


def test_decision_needs_csrf_and_the_right_citizen(
    http: TestClient, ctx: AppContext, clock: FixedClock, bank: Bank, citizen: Citizen
) -> None:
    handle = _started(http, ctx, bank, citizen.national_id)
    owner = logged_in(ctx, citizen)
    request_id = owner.get("/account/kyc-requests").text.split('name="request_id" value="')[1][:36]
    forged = owner.post(
        "/account/kyc-requests/decide",
        data={"csrf_token": "forged", "request_id": request_id, "decision": "approve"},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    intruder = logged_in(ctx, make_citizen(ctx))
    page = intruder.get("/account/kyc-requests")
    assert "Counter 3 - 4821" not in page.text
    token = csrf_from(intruder.get("/account/security").text)
    stolen = intruder.post(
        "/account/kyc-requests/decide",
        data={"csrf_token": token, "request_id": request_id, "decision": "approve"},
        follow_redirects=False,
    )
    assert "done=gone" in stolen.headers["location"]
    clock.advance(INTERVAL)
    assert poll(http, ctx, bank, handle).json()["error"] == "authorization_pending"


def test_khmer_page_names_purpose_and_attributes(
    http: TestClient, ctx: AppContext, bank: Bank, citizen: Citizen
) -> None:
    _started(http, ctx, bank, citizen.national_id)
    page = logged_in(ctx, citizen, lang="km").get("/account/kyc-requests?lang=km")
    assert 'lang="km"' in page.text
    assert "បើកគណនី" in page.text and "ថ្ងៃខែឆ្នាំកំណើត" in page.text
    assert "Counter 3 - 4821" in page.text


def test_openapi_documents_the_decoupled_endpoints(http: TestClient) -> None:
    paths = http.get("/openapi.json").json()["paths"]
    assert "post" in paths["/kyc/v1/requests"]
    assert "post" in paths["/kyc/v1/requests/{auth_req_id}"]
    assert "get" in paths["/admin/v1/kyc/stats"]
    assert "/account/kyc-requests" not in paths


def test_burst_over_the_banks_rate_limit_gets_429(
    http: TestClient, ctx: AppContext, citizen: Citizen
) -> None:
    bank = make_bank(ctx, name="Small Bank", register_no="00077777", rate_limit="2/min")
    answers = [start(http, ctx, bank, citizen.national_id) for _ in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 429]
    assert int(answers[2].headers["retry-after"]) >= 1
    assert answers[2].headers["content-type"].startswith("application/problem+json")
