"""The REST API for ministries' systems: start a workflow with an access token (Bearer or
DPoP, scope ``signing``), follow its state and history, fetch the signed result; errors as
RFC 9457 problem details (api/routers/signing_workflows.py)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.context import AppContext
from tests.api.csc._csc import mint_token
from tests.api.idp_token._rp import DPoPSession, make_rp_key
from tests.api.signing_workflows._checks import assert_pdfsig_all_valid, assert_valid_with_seal_last
from tests.api.signing_workflows.conftest import Browser, Office, Official
from tests.api.signing_workflows.test_workflow_pages import approve_on_page
from tests.signing._pdf import make_pdf

_SYSTEMS = itertools.count(1)


def ministry_system(ctx: AppContext, scopes: tuple[str, ...] = ("openid", "signing")) -> Any:
    return (
        ctx.idp_core()
        .clients.add(
            # A name of its own each time: no two clients may share one.
            name=f"Ministry document system {next(_SYSTEMS)}",
            redirect_uris=["https://docs.mef.gov.kh/cb"],
            auth_method="client_secret_basic",
            scopes=scopes,
        )
        .client
    )


def token_for(ctx: AppContext, official: Official, **kw: Any) -> str:
    scopes = kw.pop("scopes", ("openid", "signing"))
    return mint_token(ctx, ministry_system(ctx, scopes), official.person_id, scopes=scopes, **kw)


def create(client: TestClient, token: str, office: Office, **form: Any) -> Any:
    a = [o.servant_id for o in office.approvers]
    data = {
        "title": "Licence policy",
        "steps": json.dumps([a[0], {"approvers": [a[1]]}, {"approvers": [a[2], a[3]]}]),
        "seal": "true",
        "certify": "true",
        **form,
    }
    return client.post(
        "/signing/v1/workflows",
        headers={"Authorization": f"Bearer {token}"},
        data=data,
        files={"file": ("policy.pdf", make_pdf(text="Licence policy"), "application/pdf")},
    )


@pytest.mark.slow
def test_three_step_approval_with_seal_started_and_fetched_through_the_api(
    app_client: TestClient, browser: Browser, office: Office, ctx: AppContext, tmp_path: Path
) -> None:
    token = token_for(ctx, office.author)
    created = create(app_client, token, office)
    assert created.status_code == 201, created.text
    body = created.json()
    wid = body["id"]
    assert created.headers["location"] == f"/signing/v1/workflows/{wid}"
    assert body["state"] == "in_progress" and body["current_step"] == 1
    assert [len(s["approvers"]) for s in body["steps"]] == [1, 1, 2]
    assert body["steps"][2]["parallel"] is True and body["seal"] is True

    for number in (0, 1, 2, 3):
        approve_on_page(browser(office.approvers[number]), wid)
    headers = {"Authorization": f"Bearer {token}"}
    done = app_client.get(f"/signing/v1/workflows/{wid}", headers=headers).json()
    assert done["state"] == "completed" and done["finished_at"] is not None
    assert [e["event"] for e in done["history"]] == [
        "created", "approved", "approved", "approved", "approved", "sealed", "completed",
    ]  # fmt: skip
    assert all(s["state"] == "approved" for s in done["steps"])
    document = app_client.get(done["document"]["url"], headers=headers)
    assert document.status_code == 200
    assert document.headers["content-type"] == "application/pdf"
    assert document.headers["etag"] == f'"{done["document"]["sha256"]}"'
    assert_valid_with_seal_last(
        ctx, document.content, ministry_id=office.ministry_id,
        group_order=["Approval-3-1", "Approval-3-2"],
    )  # fmt: skip
    assert_pdfsig_all_valid(ctx, document.content, tmp_path, count=5)


def test_dpop_bound_token_reads_the_workflow(
    app_client: TestClient, office: Office, ctx: AppContext
) -> None:
    wid = create(app_client, token_for(ctx, office.author), office, seal="false").json()["id"]
    key = make_rp_key()
    token = token_for(ctx, office.author, dpop_jkt=key.jkt)
    session = DPoPSession(app_client, key, ctx.idp_core().issuer, ctx.clock.now())
    response = session.request("GET", f"/signing/v1/workflows/{wid}", access_token=token)
    assert response.status_code == 200, response.text
    assert response.json()["id"] == wid
    assert response.headers["DPoP-Nonce"]
    # The same DPoP-bound token as a bearer token is refused (RFC 9449 §7.2).
    bearer = app_client.get(
        f"/signing/v1/workflows/{wid}", headers={"Authorization": f"Bearer {token}"}
    )
    assert bearer.status_code == 401


def test_errors_are_problem_details_with_challenges(
    app_client: TestClient, office: Office, outsider: Official, ctx: AppContext
) -> None:
    none = app_client.get("/signing/v1/workflows/00000000-0000-4000-8000-000000000000")
    assert none.status_code == 401
    assert none.headers["content-type"] == "application/problem+json"
    assert "Bearer" in none.headers["www-authenticate"]

    no_scope = token_for(ctx, office.author, scopes=("openid", "profile"))
    refused = create(app_client, no_scope, office)
    assert refused.status_code == 403
    assert refused.json()["code"] == "insufficient_scope"
    assert 'scope="signing"' in refused.headers["www-authenticate"]

    wid = create(app_client, token_for(ctx, office.author), office, seal="false").json()["id"]
    stranger = {"Authorization": f"Bearer {token_for(ctx, outsider)}"}
    for path in (f"/signing/v1/workflows/{wid}", f"/signing/v1/workflows/{wid}/document"):
        hidden = app_client.get(path, headers=stranger)
        assert hidden.status_code == 404
        assert hidden.json()["code"] == "workflow_not_found"

    bad = create(app_client, token_for(ctx, office.author), office, steps='[{"approvers": []}]')
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_workflow"
    not_pdf = app_client.post(
        "/signing/v1/workflows",
        headers={"Authorization": f"Bearer {token_for(ctx, office.author)}"},
        data={"title": "x", "steps": json.dumps([office.approvers[0].servant_id])},
        files={"file": ("x.pdf", b"hello", "application/pdf")},
    )
    assert not_pdf.status_code == 400 and not_pdf.json()["code"] == "invalid_pdf"


def test_openapi_describes_the_api(app_client: TestClient) -> None:
    spec = app_client.get("/openapi.json").json()
    paths = spec["paths"]
    assert "post" in paths["/signing/v1/workflows"]
    assert "/signing/v1/workflows/{workflow_id}" in paths
    assert "application/pdf" in str(paths["/signing/v1/workflows/{workflow_id}/document"])
    assert "/sign/inbox" not in paths


def test_dpop_bound_token_sent_as_bearer_is_told_the_dpop_scheme(
    app_client: TestClient, office: Office, ctx: AppContext
) -> None:
    """Refused (RFC 9449 §7.2) with a DPoP challenge naming the algorithms (RFC 9449 §7.1,
    §12.2), as at UserInfo: the ministry's system holds the key and only sent the token the
    wrong way. The problem+json carries the challenges in one header (RFC 9110 §11.6.1)."""
    key = make_rp_key()
    token = token_for(ctx, office.author, dpop_jkt=key.jkt)
    refused = app_client.get(
        "/signing/v1/workflows/00000000-0000-4000-8000-000000000000",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert refused.status_code == 401
    assert refused.json()["code"] == "invalid_token"
    challenge = refused.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="natid", error="invalid_token"')
    dpop = challenge[challenge.index(", DPoP ") + 2 :]
    assert dpop.startswith('DPoP realm="natid", error="invalid_token"')
    assert 'algs="ES256 PS256"' in dpop
