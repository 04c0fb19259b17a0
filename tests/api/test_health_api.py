"""The health credentials API over HTTP: issue (health-issuer), verify (public), revoke, the
trust list and the revocation list (SQLite and PostgreSQL).

The context's key store already holds a CA hierarchy made once per session, which
each test's database adopts, so a test does not pay for making CA keys.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient

from api.app import create_app
from api.context import AppContext, build_context
from ca.hierarchy import Hierarchy, create_hierarchy
from ca.urls import PkiUrls
from core.clock import FixedClock
from core.operators import OperatorService
from core.settings import load_settings
from hsm_adapters import SoftKeyBackend
from tests.vaccine_cert._health import TEST, VACCINATION
from vaccine_cert import read_qr_texts
from vaccine_cert.revocation import RevocationList
from vaccine_cert.trustlist import load_anchor, parse_trustlist

#: Each test builds a whole application context (its key store is opened with scrypt).
pytestmark = pytest.mark.slow

PASSPHRASE = "health api test passphrase"
NOW = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Hierarchy]:
    path = tmp_path_factory.mktemp("health-keys")
    backend = SoftKeyBackend(path, PASSPHRASE)
    try:
        return path, create_hierarchy(backend, urls=PkiUrls("http://localhost:8000"), at=NOW)
    finally:
        backend.close()


@pytest.fixture
def ctx(
    tmp_path: Path, db_url: str, clock: FixedClock, key_dir: tuple[Path, Hierarchy]
) -> Iterator[AppContext]:
    settings = load_settings(
        data_dir=tmp_path / "var",
        database_url=db_url,
        soft_key_dir=key_dir[0],
        soft_key_passphrase=PASSPHRASE,
    )
    context = build_context(settings, clock=clock)
    context.ca().adopt_hierarchy(key_dir[1], actor="test")
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def client(ctx: AppContext) -> Iterator[TestClient]:
    app = create_app(ctx)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def holder_id(ctx: AppContext) -> str:
    ctx.register.add_entity(
        {"register_no": "DEMO-MIN-MOH", "name_km": "ក្រសួងសុខាភិបាល",
         "name_en": "Ministry of Health", "kind": "ministry"}
    )  # fmt: skip
    person = ctx.register.add_person(
        {"national_id": "000555111", "name_km": "ចាន់ ធីតា", "name_latin": "Chan Thida",
         "birthdate": "1985-02-03"}
    )  # fmt: skip
    return person.id


def _token(ctx: AppContext, *roles: str) -> dict[str, str]:
    service = OperatorService(ctx.sessions, ledger=ctx.ledger, clock=ctx.clock, cache=ctx.cache)
    _operator, issued = service.add(f"op-{'-'.join(roles) or 'none'}", roles=roles, actor="test")
    return {"Authorization": f"Bearer {issued.token}"}


def test_issue_verify_revoke_over_http(client: TestClient, ctx: AppContext, holder_id: str) -> None:
    issuer = _token(ctx, "health-issuer")
    body = {"subject": holder_id, "kind": "vaccination", "record": VACCINATION}
    response = client.post("/health/v1/certificates", json=body, headers=issuer)
    assert response.status_code == 201, response.text
    issued = response.json()
    assert issued["payload"].startswith("HC1:")
    assert read_qr_texts(base64.b64decode(issued["qr_png"])) == (issued["payload"],)

    # Verification is public and shows what the officer compares with the passport.
    result = client.post("/health/v1/verify", json={"payload": issued["payload"]}).json()
    assert result["valid"] is True
    assert set(result["checks"].values()) == {"pass"}
    assert result["holder"]["fnt"] == "CHAN"
    assert result["holder"]["dob"] == "1985-02-03"
    assert result["kid"] == issued["kid"]

    revoke = f"/health/v1/certificates/{quote(issued['uvci'], safe='')}/revoke"
    assert client.post(revoke).status_code == 401
    assert client.post(revoke, headers=issuer).status_code == 200
    again = client.post(revoke, headers=issuer)
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    result = client.post("/health/v1/verify", json={"payload": issued["payload"]}).json()
    assert result["valid"] is False
    assert result["checks"]["revocation"] == "fail"

    # The published revocation list, checked offline under the published anchor.
    anchor = load_anchor(client.get("/health/trustlist/anchor").content)
    listed = client.get("/health/revocations")
    assert listed.status_code == 200
    offline = RevocationList.from_document(listed.content, anchor=anchor)
    assert len(offline) == 3
    cached = client.get("/health/revocations", headers={"If-None-Match": listed.headers["etag"]})
    assert cached.status_code == 304


def test_writes_need_the_health_issuer_role(
    client: TestClient, ctx: AppContext, holder_id: str
) -> None:
    body = {"subject": holder_id, "kind": "test", "record": TEST}
    assert client.post("/health/v1/certificates", json=body).status_code == 401
    other = _token(ctx, "auditor")
    response = client.post("/health/v1/certificates", json=body, headers=other)
    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_role"


def test_bad_input_is_a_problem_naming_the_field(
    client: TestClient, ctx: AppContext, holder_id: str
) -> None:
    issuer = _token(ctx, "health-issuer")
    bad = {"subject": holder_id, "kind": "vaccination", "record": {**VACCINATION, "sd": 0}}
    response = client.post("/health/v1/certificates", json=bad, headers=issuer)
    assert response.status_code == 400
    problem = response.json()
    assert problem["code"] == "dcc_record_invalid"
    assert "v[0].sd" in problem["detail"]
    unknown = {"subject": "3f1c2b4e-0000-4000-8000-000000000000", "kind": "test", "record": TEST}
    response = client.post("/health/v1/certificates", json=unknown, headers=issuer)
    assert response.status_code == 404
    assert "000555111" not in response.text
    garbage = client.post("/health/v1/verify", json={"payload": "HC1:NOT BASE45!"}).json()
    assert garbage["valid"] is False
    assert garbage["checks"]["decode"] == "fail"


def test_trust_list_is_signed_by_the_published_anchor(
    client: TestClient, ctx: AppContext, holder_id: str
) -> None:
    issuer = _token(ctx, "health-issuer")
    body = {"subject": holder_id, "kind": "test", "record": TEST, "qr": False}
    issued = client.post("/health/v1/certificates", json=body, headers=issuer).json()
    assert issued["qr_png"] is None
    response = client.get("/health/trustlist")
    assert response.status_code == 200
    pem = client.get("/health/trustlist/anchor").content
    anchor = serialization.load_pem_public_key(pem)
    [listed] = parse_trustlist(response.content, anchor=load_anchor(pem))
    assert listed.signer.kid_b64 == issued["kid"]
    assert anchor == load_anchor(pem)
    assert json.loads(response.content)[0]["country"] == "KH"


def test_revoke_by_hash_over_http_fails_the_revocation_check(
    client: TestClient, ctx: AppContext, holder_id: str
) -> None:
    from vaccine_cert.revocation import uci_hash

    issuer = _token(ctx, "health-issuer")
    body = {"subject": holder_id, "kind": "vaccination", "record": VACCINATION, "qr": False}
    issued = client.post("/health/v1/certificates", json=body, headers=issuer).json()
    assert client.post("/health/v1/verify", json={"payload": issued["payload"]}).json()["valid"]

    revocation = {"hash_type": "UCI", "hash": uci_hash(issued["uvci"]).hex()}
    assert client.post("/health/v1/revocations", json=revocation).status_code == 401
    auditor = _token(ctx, "auditor")
    refused = client.post("/health/v1/revocations", json=revocation, headers=auditor)
    assert refused.status_code == 403
    bad = client.post(
        "/health/v1/revocations", json={"hash_type": "UCI", "hash": "zz"}, headers=issuer
    )
    assert bad.status_code == 400
    assert bad.headers["content-type"] == "application/problem+json"

    done = client.post("/health/v1/revocations", json=revocation, headers=issuer)
    assert done.status_code == 201, done.text
    assert done.json()["kid"] == issued["kid"]  # found from the issued record
    result = client.post("/health/v1/verify", json={"payload": issued["payload"]}).json()
    assert result["valid"] is False
    assert result["checks"]["revocation"] == "fail"
    # The published list carries it, under the published anchor.
    anchor = load_anchor(client.get("/health/trustlist/anchor").content)
    offline = RevocationList.from_document(client.get("/health/revocations").content, anchor=anchor)
    assert len(offline) >= 1


def test_scope_all_is_the_own_list_when_nothing_foreign_was_imported(
    client: TestClient, ctx: AppContext, holder_id: str
) -> None:
    issuer = _token(ctx, "health-issuer")
    body = {"subject": holder_id, "kind": "test", "record": TEST, "qr": False}
    client.post("/health/v1/certificates", json=body, headers=issuer)
    own = json.loads(client.get("/health/trustlist").content)
    every = json.loads(client.get("/health/trustlist?scope=all").content)
    assert [e["kid"] for e in every] == [e["kid"] for e in own]
    assert client.get("/health/trustlist?scope=everything").status_code == 422
