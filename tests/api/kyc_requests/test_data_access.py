"""The citizen's "who looked at my data" page and its CSV/JSON export: each release and
match check with bank, attributes, purpose, time and basis; only the logged-in citizen's rows;
paged; Khmer and English."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid

from fastapi.testclient import TestClient

from api.context import AppContext
from core.clock import FixedClock
from core.db import transaction
from kyc import AccessEntry, AccessLog
from tests.api.kyc.conftest import Bank
from tests.api.kyc_requests.conftest import Citizen, answer, logged_in, make_citizen, poll, start


def _released(
    http: TestClient, ctx: AppContext, clock: FixedClock, bank: Bank, who: Citizen
) -> str:
    """Run the decoupled flow for ``who`` (birthdate kept) and return the release's txn."""
    handle = start(http, ctx, bank, who.national_id).json()["auth_req_id"]
    answer(logged_in(ctx, who), "approve", keep=("birthdate",))
    clock.advance(dt.timedelta(seconds=5))
    response = poll(http, ctx, bank, handle)
    assert response.status_code == 200, response.text
    return str(response.json()["txn"])


def test_page_and_exports_show_only_my_accesses(
    http: TestClient, ctx: AppContext, clock: FixedClock, bank: Bank, citizen: Citizen
) -> None:
    other = make_citizen(ctx)
    mine = _released(http, ctx, clock, bank, citizen)
    theirs = _released(http, ctx, clock, bank, other)
    page = logged_in(ctx, citizen)

    shown = page.get("/account/data-access?lang=en")
    assert shown.status_code == 200
    assert "ACLEDA Bank" in shown.text and "Received the data" in shown.text
    assert "Opening an account" in shown.text and "Date of birth" in shown.text
    assert "Your consent given on 2026-11-01" in shown.text
    assert citizen.national_id not in shown.text

    exported = page.get("/account/data-access/export?format=json")
    assert exported.headers["content-type"].startswith("application/json")
    assert "attachment" in exported.headers["content-disposition"]
    entries = exported.json()["entries"]
    assert [e["txn"] for e in entries] == [mine]
    assert entries[0]["bank"] == "ACLEDA Bank" and entries[0]["purpose"] == "account_opening"
    assert set(entries[0]["attributes"]) == {
        "given_name", "family_name", "birthdate", "national_id_number"
    }  # fmt: skip
    assert entries[0]["basis"] == "consent" and entries[0]["kind"] == "release"
    assert theirs not in exported.text and citizen.national_id not in exported.text

    as_csv = page.get("/account/data-access/export?format=csv")
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [(r["txn"], r["bank"], r["kind"], r["basis"]) for r in rows] == [
        (mine, "ACLEDA Bank", "release", "consent")
    ]
    assert "birthdate" in rows[0]["attributes"]

    other_page = logged_in(ctx, other)
    other_rows = other_page.get("/account/data-access/export?format=json").json()["entries"]
    assert [e["txn"] for e in other_rows] == [theirs]


def test_page_is_paged_newest_first(
    ctx: AppContext, clock: FixedClock, bank: Bank, citizen: Citizen
) -> None:
    start_at = clock.now()
    with transaction(ctx.sessions) as session:
        for i in range(25):
            AccessLog.add(
                session,
                AccessEntry(
                    txn=str(uuid.uuid4()), at=start_at - dt.timedelta(days=i),
                    person_id=citizen.person_id, rp_id=bank.rp.id,
                    client_id=bank.client.client_id, entity_id=bank.rp.entity_id,
                    kind="match", purpose="loan", attributes=("birthdate",),
                    basis="legal_basis", grant_id=None, consent_granted_at=None,
                ),
            )  # fmt: skip
    page = logged_in(ctx, citizen)
    first = page.get("/account/data-access?lang=en")
    assert first.text.count('class="access match"') == 20
    assert start_at.strftime("%Y-%m-%d") in first.text
    assert "Legal basis (no consent needed)" in first.text and "A loan" in first.text
    assert 'rel="next"' in first.text and 'rel="prev"' not in first.text
    second = page.get("/account/data-access?lang=en&page=2")
    assert second.text.count('class="access match"') == 5
    assert (start_at - dt.timedelta(days=24)).strftime("%Y-%m-%d") in second.text
    assert 'rel="next"' not in second.text
    exported = page.get("/account/data-access/export?format=json").json()["entries"]
    assert len(exported) == 25


def test_khmer_page_and_login_required(ctx: AppContext, http: TestClient, citizen: Citizen) -> None:
    anonymous = http.get("/account/data-access", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login"
    export = http.get("/account/data-access/export?format=csv", follow_redirects=False)
    assert export.status_code == 303
    page = logged_in(ctx, citizen, lang="km").get("/account/data-access?lang=km")
    assert "អ្នកដែលបានមើលទិន្នន័យខ្ញុំ" in page.text
    assert "មិនទាន់មានធនាគារណាមើលទិន្នន័យរបស់អ្នកទេ។" in page.text
