"""Times and numbers on the KYC pages read like the rest of the account area: Cambodia time
(UTC+7), labelled, and Khmer digits on the Khmer pages - while the code the bank shows at the
counter, which the citizen compares character by character, stays as the bank wrote it."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from api.context import AppContext
from core.clock import FixedClock
from tests.api.kyc.conftest import Bank
from tests.api.kyc_requests.conftest import Citizen, answer, logged_in, poll, start


def test_waiting_request_shows_its_expiry_in_cambodia_time(
    http: TestClient, ctx: AppContext, bank: Bank, citizen: Citizen
) -> None:
    # The clock says 2026-11-01 09:00 UTC; the request lives ten minutes: 16:10 in Phnom Penh.
    assert ctx.clock.now() == dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
    assert start(http, ctx, bank, citizen.national_id).status_code == 201
    page = logged_in(ctx, citizen)
    english = page.get("/account/kyc-requests?lang=en").text
    assert "2026-11-01 16:10 Cambodia time" in english
    assert "UTC" not in english and "09:10" not in english
    khmer = page.get("/account/kyc-requests?lang=km").text
    assert "២០២៦-១១-០១ ១៦:១០ ម៉ោងកម្ពុជា" in khmer
    assert "Counter 3 - 4821" in khmer  # the binding message, exactly as the bank sent it
    banner = page.get("/account?lang=km").text
    assert "ធនាគារកំពុងរង់ចាំការយល់ព្រមរបស់អ្នក (១)" in banner


def test_data_access_shows_when_and_consent_date_in_cambodia_time(
    http: TestClient, ctx: AppContext, clock: FixedClock, bank: Bank, citizen: Citizen
) -> None:
    # Late in the UTC day, so Cambodia is already on the next day: 2026-11-02 05:30.
    clock.advance(dt.timedelta(hours=13, minutes=30))
    handle = start(http, ctx, bank, citizen.national_id).json()["auth_req_id"]
    answer(logged_in(ctx, citizen), "approve", keep=("birthdate",))
    clock.advance(dt.timedelta(seconds=5))
    assert poll(http, ctx, bank, handle).status_code == 200
    page = logged_in(ctx, citizen)
    english = page.get("/account/data-access?lang=en").text
    assert "2026-11-02 05:30 Cambodia time" in english
    assert "Your consent given on 2026-11-02" in english
    assert "UTC" not in english and "22:30" not in english
    khmer = page.get("/account/data-access?lang=km").text
    assert "២០២៦-១១-០២ ០៥:៣០ ម៉ោងកម្ពុជា" in khmer
    assert "ការយល់ព្រមរបស់អ្នក ផ្តល់នៅ ២០២៦-១១-០២" in khmer
    assert "ទំព័រ ១" in khmer and "2026-11-02" not in khmer
