"""Operator tokens over HTTP: ``require_operator`` on the admin router, end to end.

The app is ``api.app.create_app(ctx)`` (which includes ``api.routers.admin.router``), on SQLite
and PostgreSQL (``app_ctx``); the clock is a FixedClock, so expiry needs no sleeping.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.context import AppContext
from api.security import operator_service
from core.clock import FixedClock
from core.operators import FAILURE_LIMIT, IssuedToken, OperatorRole, OperatorService

ME = "/admin/v1/operators/me"
TAIL = "/admin/v1/audit/tail"
PROBLEM = "application/problem+json"


def secret_of(token: str) -> str:
    """The secret part of ``natid_op_<16 hex>_<43 base64url>`` (which may itself hold ``_``)."""
    return token[len("natid_op_") + 17 :]


@pytest.fixture
def admin_client(app_ctx: AppContext) -> Iterator[TestClient]:
    app = create_app(app_ctx)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def service(app_ctx: AppContext) -> OperatorService:
    return operator_service(app_ctx)


@pytest.fixture
def alice(service: OperatorService) -> IssuedToken:
    return service.add("alice.ra", [OperatorRole.RA_OFFICER])[1]


@pytest.fixture
def carol(service: OperatorService) -> IssuedToken:
    return service.add("carol.audit", [OperatorRole.AUDITOR])[1]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_invalid_token(response: object) -> None:
    from httpx import Response

    assert isinstance(response, Response)
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert (
        response.headers["www-authenticate"] == 'Bearer realm="natid-admin", error="invalid_token"'
    )
    assert response.json()["code"] == "invalid_token"


def test_token_from_add_works_on_me(
    admin_client: TestClient, alice: IssuedToken, clock: FixedClock
) -> None:
    r = admin_client.get(ME, headers=bearer(alice.token))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "alice.ra"
    assert body["id"] == alice.info.operator_id
    assert body["roles"] == ["ra-officer"]
    assert body["status"] == "active"
    assert dt.datetime.fromisoformat(body["last_used_at"]) == clock.now()
    assert alice.token not in r.text
    assert alice.info.id not in r.text


def test_scheme_is_case_insensitive(admin_client: TestClient, alice: IssuedToken) -> None:
    r = admin_client.get(ME, headers={"Authorization": f"bearer {alice.token}"})
    assert r.status_code == 200


def test_no_token_is_401_with_a_bearer_challenge(
    admin_client: TestClient, app_ctx: AppContext
) -> None:
    before = app_ctx.ledger.head().seq
    for headers in ({}, {"Authorization": "Basic YWxpY2U6c2VjcmV0"}, {"Authorization": "Bearer"}):
        r = admin_client.get(ME, headers=headers)
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == 'Bearer realm="natid-admin"'
        assert r.headers["content-type"] == PROBLEM
    # Nobody claimed to be anybody: nothing to record.
    assert app_ctx.ledger.head().seq == before


def test_wrong_token_is_401(admin_client: TestClient, alice: IssuedToken) -> None:
    forged = alice.token[:-4] + ("AAAA" if not alice.token.endswith("AAAA") else "BBBB")
    assert_invalid_token(admin_client.get(ME, headers=bearer(forged)))
    assert_invalid_token(admin_client.get(ME, headers=bearer("natid_op_garbage")))


def test_disabled_operator_is_401(
    admin_client: TestClient, alice: IssuedToken, service: OperatorService
) -> None:
    assert admin_client.get(ME, headers=bearer(alice.token)).status_code == 200
    service.disable("alice.ra")
    assert_invalid_token(admin_client.get(ME, headers=bearer(alice.token)))


def test_expired_token_is_401(
    admin_client: TestClient, alice: IssuedToken, clock: FixedClock
) -> None:
    clock.advance(dt.timedelta(days=90))
    assert_invalid_token(admin_client.get(ME, headers=bearer(alice.token)))


def test_revoked_token_is_401(
    admin_client: TestClient, alice: IssuedToken, service: OperatorService
) -> None:
    service.revoke_token(alice.info.id)
    assert_invalid_token(admin_client.get(ME, headers=bearer(alice.token)))


def test_every_failure_reason_gets_the_same_answer(
    admin_client: TestClient, service: OperatorService, clock: FixedClock
) -> None:
    _, revoked = service.add("r.op", [OperatorRole.RA_OFFICER])
    service.revoke_token(revoked.info.id)
    _, disabled = service.add("d.op", [OperatorRole.RA_OFFICER])
    service.disable("d.op")
    bodies = set()
    for token in (revoked.token, disabled.token, "natid_op_0123456789abcdef_" + "Z" * 43):
        r = admin_client.get(ME, headers=bearer(token))
        body = r.json()
        bodies.add((r.status_code, body["detail"], body["type"]))
    assert len(bodies) == 1


def test_ra_officer_cannot_read_the_audit_ledger(
    admin_client: TestClient, alice: IssuedToken
) -> None:
    r = admin_client.get(TAIL, headers=bearer(alice.token))
    assert r.status_code == 403
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["code"] == "insufficient_role"
    assert "auditor" in r.json()["detail"]


def test_auditor_reads_the_tail_including_their_own_read(
    admin_client: TestClient, carol: IssuedToken
) -> None:
    r = admin_client.get(TAIL, params={"n": 3}, headers=bearer(carol.token))
    assert r.status_code == 200, r.text
    entries = r.json()
    assert len(entries) == 3
    last = entries[-1]
    assert last["event"] == "operator.authenticated"
    assert last["actor"] == carol.info.operator_id
    assert last["data"]["route"] == TAIL
    assert last["data"]["method"] == "GET"
    assert [e["seq"] for e in entries] == sorted(e["seq"] for e in entries)


@pytest.mark.parametrize("n", [0, 1001, -5])
def test_tail_size_out_of_range_is_422(
    admin_client: TestClient, carol: IssuedToken, n: int
) -> None:
    r = admin_client.get(TAIL, params={"n": n}, headers=bearer(carol.token))
    assert r.status_code == 422


def test_success_and_failure_audited_never_with_the_token(
    admin_client: TestClient, app_ctx: AppContext, alice: IssuedToken
) -> None:
    admin_client.get(ME, headers=bearer(alice.token))
    wrong = alice.token[:-1] + ("x" if alice.token[-1] != "x" else "y")
    admin_client.get(ME, headers=bearer(wrong))
    admin_client.get(TAIL, headers=bearer(alice.token))
    entries = app_ctx.ledger.tail(50)
    ok = [e for e in entries if e.event == "operator.authenticated"]
    failed = [e for e in entries if e.event == "operator.auth_failed"]
    assert [e.data["route"] for e in ok] == [ME]
    assert [e.data["reason"] for e in failed] == ["unknown_token", "role"]
    assert ok[0].data["source"] == "testclient"
    assert len(str(ok[0].data["request_id"])) == 16
    secret = secret_of(alice.token)
    for entry in entries:
        dumped = json.dumps(entry.to_json())
        assert secret not in dumped
        assert secret_of(wrong) not in dumped


def test_failure_limit_answers_429_even_for_a_valid_token(
    admin_client: TestClient, alice: IssuedToken, clock: FixedClock
) -> None:
    for _ in range(FAILURE_LIMIT):
        assert_invalid_token(admin_client.get(ME, headers=bearer("natid_op_nope")))
    for token in ("natid_op_nope", alice.token):
        r = admin_client.get(ME, headers=bearer(token))
        assert r.status_code == 429
        assert r.headers["content-type"] == PROBLEM
        assert r.headers["retry-after"] == "60"
        assert r.json()["code"] == "too_many_failures"
    clock.advance(dt.timedelta(seconds=61))
    assert admin_client.get(ME, headers=bearer(alice.token)).status_code == 200


def test_misspelt_role_fails_when_the_route_is_declared() -> None:
    from api.security import require_operator

    with pytest.raises(ValueError, match="ra_officer"):
        require_operator("ra_officer")


def test_openapi_documents_the_bearer_scheme(admin_client: TestClient) -> None:
    doc = admin_client.get("/openapi.json").json()
    assert doc["components"]["securitySchemes"]["OperatorToken"]["scheme"] == "bearer"
    assert {"OperatorToken": []} in doc["paths"][ME]["get"]["security"]
