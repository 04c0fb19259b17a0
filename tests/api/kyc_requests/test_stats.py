"""GET /admin/v1/kyc/stats: aggregate figures per bank and purpose for auditors and KYC
administrators - counts only, never persons, attributes or their values."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from api.context import AppContext
from api.security import operator_service
from core.clock import FixedClock
from core.operators import OperatorRole
from tests.api.kyc.conftest import Bank
from tests.api.kyc_requests.conftest import Citizen, answer, logged_in, make_citizen, poll, start

STATS = "/admin/v1/kyc/stats"


def _token(ctx: AppContext, name: str, role: OperatorRole) -> dict[str, str]:
    issued = operator_service(ctx).add(name, [role])[1]
    return {"Authorization": f"Bearer {issued.token}"}


def test_auditor_sees_counts_per_bank_and_purpose_without_attributes(
    http: TestClient, ctx: AppContext, clock: FixedClock, bank: Bank, citizen: Citizen
) -> None:
    approved = start(http, ctx, bank, citizen.national_id).json()["auth_req_id"]
    answer(logged_in(ctx, citizen), "approve")
    clock.advance(dt.timedelta(seconds=5))
    assert poll(http, ctx, bank, approved).status_code == 200
    refuser = make_citizen(ctx)
    start(http, ctx, bank, refuser.national_id)
    answer(logged_in(ctx, refuser), "deny")
    start(http, ctx, bank, citizen.national_id, purpose="loan")  # left to expire
    clock.advance(dt.timedelta(minutes=11))

    response = http.get(STATS, headers=_token(ctx, "carol.audit", OperatorRole.AUDITOR))
    assert response.status_code == 200, response.text
    rows = {r["purpose"]: r for r in response.json()["banks"]}
    assert rows["account_opening"] == {
        "entity_id": bank.rp.entity_id,
        "client_id": bank.client.client_id,
        "purpose": "account_opening",
        "releases": 1,
        "matches": 0,
        "requests_started": 2,
        "requests_approved": 1,
        "refusals": 1,
        "requests_expired": 0,
    }
    assert rows["loan"]["requests_expired"] == 1 and rows["loan"]["releases"] == 0
    for leaked in ("given_name", "birthdate", "Sok", citizen.national_id, citizen.person_id):
        assert leaked not in response.text

    admin = http.get(STATS, headers=_token(ctx, "kim.kyc", OperatorRole.KYC_ADMIN))
    assert admin.status_code == 200
    assert http.get(
        STATS + "?days=1", headers=_token(ctx, "dee.audit2", OperatorRole.AUDITOR)
    ).json()["banks"]


def test_other_roles_and_anonymous_callers_are_refused(http: TestClient, ctx: AppContext) -> None:
    officer = http.get(STATS, headers=_token(ctx, "alice.ra", OperatorRole.RA_OFFICER))
    assert officer.status_code == 403
    assert http.get(STATS).status_code == 401
    assert http.get(STATS, headers={"Authorization": "Bearer nope"}).status_code == 401
