"""The approval pages driven like a browser (TestClient): start a workflow, approve in order
through a parallel group to the ministry's seal, reject with a comment, outsiders, and a stale
login sent to log in again (api/routers/signing_pages.py)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.context import AppContext
from tests.api.signing_workflows._checks import assert_pdfsig_all_valid, assert_valid_with_seal_last
from tests.api.signing_workflows.conftest import Browser, Office, Official, csrf_of
from tests.signing._pdf import make_pdf

_DOC_LINK = re.compile(r'href="/sign/documents/([0-9a-f-]{36})\?')


def start_on_page(browser: Browser, office: Office, *, seal: bool = True) -> str:
    author = browser(office.author)
    form = author.get("/sign/new?lang=en")
    assert form.status_code == 200
    a = [o.servant_id for o in office.approvers]
    response = author.post(
        "/sign/new",
        data={
            "csrf_token": csrf_of(form.text),
            "lang": "en",
            "title": "Budget memo 2027",
            "steps": f"{a[0]}\n{a[1]}\n{a[2]}, {a[3]}\n",
            "seal": "1" if seal else "",
            "certify": "1",
        },
        files={"file": ("memo 2027.pdf", make_pdf(text="Budget memo"), "application/pdf")},
    )
    assert response.status_code == 303, response.text
    match = re.fullmatch(r"/sign/documents/([0-9a-f-]{36})\?lang=en&done=created",
                         response.headers["location"])  # fmt: skip
    assert match is not None, response.headers["location"]
    return match.group(1)


def approve_on_page(client: TestClient, workflow_id: str, comment: str = "") -> None:
    page = client.get(f"/sign/documents/{workflow_id}?lang=en")
    assert page.status_code == 200
    assert "Approve and sign" in page.text
    done = client.post(
        f"/sign/documents/{workflow_id}/approve",
        data={"csrf_token": csrf_of(page.text), "lang": "en", "comment": comment},
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"].endswith("done=approved")


@pytest.mark.slow
def test_three_step_approval_with_seal_through_the_pages(
    browser: Browser, office: Office, ctx: AppContext, tmp_path: Path
) -> None:
    wid = start_on_page(browser, office)
    first, second, third, fourth = (browser(o) for o in office.approvers)

    inbox = first.get("/sign/inbox?lang=en")
    assert _DOC_LINK.findall(inbox.text.split("Documents I started")[0]) == [wid]
    # The second approver's turn has not come: no approve form for them yet.
    early = second.get(f"/sign/documents/{wid}?lang=en")
    assert early.status_code == 200 and "Approve and sign" not in early.text
    assert "Budget memo 2027" in early.text

    approve_on_page(first, wid, comment="Agreed with the totals.")
    approve_on_page(second, wid)
    approve_on_page(fourth, wid)  # a parallel group approves in any order
    mid = browser(office.author).get(f"/sign/documents/{wid}?lang=en")
    assert "In progress" in mid.text and "Step 3 of 3" in mid.text
    approve_on_page(third, wid)

    final = browser(office.author).get(f"/sign/documents/{wid}?lang=en")
    assert "Completed" in final.text
    assert "Sealed by the ministry" in final.text
    assert "Agreed with the totals." in final.text
    pdf = browser(office.author).get(f"/sign/documents/{wid}/pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert 'filename="memo-2027.pdf"' in pdf.headers["content-disposition"]
    assert_valid_with_seal_last(
        ctx, pdf.content, ministry_id=office.ministry_id,
        group_order=["Approval-3-2", "Approval-3-1"],
    )  # fmt: skip
    assert_pdfsig_all_valid(ctx, pdf.content, tmp_path, count=5)


def test_rejection_returns_to_the_author_with_the_comment(
    browser: Browser, office: Office, ctx: AppContext
) -> None:
    wid = start_on_page(browser, office, seal=False)
    first = browser(office.approvers[0])
    page = first.get(f"/sign/documents/{wid}?lang=km")
    assert page.headers["content-language"] == "km"
    assert "បដិសេធ" in page.text  # the Khmer reject button
    rejected = first.post(
        f"/sign/documents/{wid}/reject",
        data={"csrf_token": csrf_of(page.text), "lang": "en",
              "comment": "Table 2 does not add up."},
    )  # fmt: skip
    assert rejected.status_code == 303
    inbox = browser(office.author).get("/sign/inbox?lang=en")
    assert "Rejected" in inbox.text
    assert "This document was returned to you with this comment: Table 2 does not add up." in (
        inbox.text
    )
    # The next approver never sees it in their inbox.
    second = browser(office.approvers[1]).get("/sign/inbox?lang=en")
    assert wid not in second.text


def test_outsiders_get_404_for_page_and_pdf(
    browser: Browser, office: Office, outsider: Official
) -> None:
    wid = start_on_page(browser, office, seal=False)
    stranger = browser(outsider)
    assert stranger.get(f"/sign/documents/{wid}?lang=en").status_code == 404
    assert stranger.get(f"/sign/documents/{wid}/pdf").status_code == 404
    page = stranger.get("/sign/new?lang=en")
    refused = stranger.post(
        f"/sign/documents/{wid}/approve", data={"csrf_token": csrf_of(page.text)}
    )
    assert refused.status_code == 404
    assert "Budget memo" not in refused.text


def test_stale_login_is_sent_to_a_fresh_login_and_nothing_is_signed(
    browser: Browser, office: Office, ctx: AppContext
) -> None:
    wid = start_on_page(browser, office, seal=False)
    stale = browser(office.approvers[0], login_age=dt.timedelta(minutes=6))
    page = stale.get(f"/sign/documents/{wid}?lang=en")
    response = stale.post(f"/sign/documents/{wid}/approve", data={"csrf_token": csrf_of(page.text)})
    assert response.status_code == 303
    assert response.headers["location"] == (
        f"/login?next=/sign/documents/{wid}&acr=substantial&fresh=1"
    )
    weak = browser(office.approvers[0], acr="low")
    page = weak.get(f"/sign/documents/{wid}?lang=en")
    response = weak.post(f"/sign/documents/{wid}/approve", data={"csrf_token": csrf_of(page.text)})
    assert response.headers["location"].endswith("&acr=substantial&fresh=1")
    author_view = browser(office.author).get(f"/sign/documents/{wid}?lang=en")
    assert "Step 1 of 3" in author_view.text


def test_pages_need_a_login_and_csrf(
    app_client: TestClient, browser: Browser, office: Office
) -> None:
    anonymous = app_client.get("/sign/inbox", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/login?next=/sign/inbox"
    wid = start_on_page(browser, office, seal=False)
    forged = browser(office.approvers[0]).post(
        f"/sign/documents/{wid}/approve", data={"csrf_token": "forged"}
    )
    assert forged.status_code == 403


def test_document_and_inbox_show_cambodia_time_and_khmer_digits(
    browser: Browser, office: Office, ctx: AppContext
) -> None:
    # The clock says 2026-11-01 09:00 UTC: 16:00 in Phnom Penh (UTC+7).
    assert ctx.clock.now() == dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
    wid = start_on_page(browser, office, seal=False)
    author = browser(office.author)
    english = author.get(f"/sign/documents/{wid}?lang=en").text
    assert "Sent on: 2026-11-01 16:00 Cambodia time" in english
    assert "UTC" not in english and "09:00" not in english
    assert "Step 1 of 3" in english
    khmer = author.get(f"/sign/documents/{wid}?lang=km").text
    assert "២០២៦-១១-០១ ១៦:០០ ម៉ោងកម្ពុជា" in khmer  # created, and the history's first event
    assert "ជំហាន ១ នៃ ៣" in khmer and "ជំហាន 1 នៃ 3" not in khmer
    assert "UTC" not in khmer and "2026-11-01" not in khmer
    # The fingerprint is compared character by character: it keeps its ASCII digits.
    sha256 = re.search(r"SHA-256 <code>([0-9a-f]{16})…</code>", khmer)
    assert sha256 is not None
    inbox = browser(office.approvers[0]).get("/sign/inbox?lang=km").text
    assert "ជំហាន ១ នៃ ៣" in inbox
