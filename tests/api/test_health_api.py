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
from vaccine_cert.service import TRUSTLIST_KEY_LABEL
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


def _altered(payload: str) -> str:
    """The credential with another date of birth and its original signature: a forgery."""
    import zlib

    import cbor2

    from vaccine_cert.base45 import b45decode, b45encode

    cose = cbor2.loads(zlib.decompress(b45decode(payload[4:])))
    protected, unprotected, body, signature = cose.value
    claims = cbor2.loads(body)
    claims[-260][1]["dob"] = "1999-09-09"
    forged = cbor2.CBORTag(18, [protected, unprotected, cbor2.dumps(claims), signature])
    return "HC1:" + b45encode(zlib.compress(cbor2.dumps(forged), 9))


def test_verify_answer_names_no_holder_when_the_signature_fails(
    client: TestClient, ctx: AppContext, holder_id: str
) -> None:
    issued = ctx.health().issue(holder_id, "vaccination", VACCINATION, actor="test")
    result = client.post("/health/v1/verify", json={"payload": _altered(issued.payload)}).json()
    assert result["valid"] is False
    assert result["checks"]["signature"] == "fail"
    assert result["holder"] is None
    assert [(f["check"], f["code"]) for f in result["findings"]] == [
        ("signature", "signature_invalid")
    ]
    for personal in ("CHAN", "Chan", "Thida", "1985-02-03", "1999-09-09"):
        assert personal not in json.dumps(result)
    # Revoked but authentic: the holder is shown, and the answer is still NOT VALID.
    ctx.health().revoke(issued.uvci, actor="test")
    result = client.post("/health/v1/verify", json={"payload": issued.payload}).json()
    assert (result["valid"], result["checks"]["revocation"]) == (False, "fail")
    assert result["holder"]["dob"] == "1985-02-03"


def test_verify_answer_names_a_revoked_signer(
    client: TestClient, ctx: AppContext, holder_id: str, clock: FixedClock
) -> None:
    from ca.revocation import RevocationReason

    issued = ctx.health().issue(holder_id, "test", TEST, actor="test")
    (signer,) = ctx.health().signers()
    clock.advance(dt.timedelta(hours=1))
    ctx.ca().revoke(signer.serial, reason=RevocationReason.KEY_COMPROMISE, actor="test")
    result = client.post("/health/v1/verify", json={"payload": issued.payload}).json()
    assert result["valid"] is False
    assert result["checks"]["signature"] == "fail"
    assert result["holder"] is None
    when = clock.now().replace(microsecond=0).isoformat()
    assert result["findings"] == [
        {
            "check": "signature",
            "code": "signer_revoked",
            "message": f"the signer's certificate (kid {issued.kid}) was revoked on {when} "
            "(keyCompromise); the credentials it signed are no longer valid",
            "details": {"kid": issued.kid, "revoked_at": when, "reason": "keyCompromise"},
        }
    ]
    assert result["reasons"] == ["signature: " + result["findings"][0]["message"]]


def test_openapi_documents_the_verify_answer(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/health/v1/verify"]["post"]
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/VerificationOut"}
    schema = spec["components"]["schemas"]["VerificationOut"]
    holder = schema["properties"]["holder"]
    assert {"type": "null"} in holder["anyOf"]
    assert holder["description"].startswith("Null unless the signature verified")
    assert "findings" in schema["required"]


def test_lists_before_any_anchor_exists_are_503_and_make_no_key(
    tmp_path: Path, db_url: str, clock: FixedClock
) -> None:
    """An anonymous GET must not create a key in the backend (an HSM, in production): before
    `natid health signer ensure` (or the first issuance) there is no list to publish."""
    keys = tmp_path / "keys"
    settings = load_settings(
        data_dir=tmp_path / "var",
        database_url=db_url,
        soft_key_dir=keys,
        soft_key_passphrase=PASSPHRASE,
    )
    context = build_context(settings, clock=clock)
    try:
        with TestClient(create_app(context), raise_server_exceptions=False) as c:
            for path in ("/health/trustlist", "/health/trustlist/anchor", "/health/revocations"):
                response = c.get(path)
                assert response.status_code == 503, path
                assert response.headers["content-type"] == "application/problem+json"
                problem = response.json()
                assert problem["code"] == "health_signer_unavailable"
                assert "natid health signer ensure" in problem["detail"]
        assert TRUSTLIST_KEY_LABEL not in {k.label for k in context.keys.list()}
        assert not [e for e in context.ledger.tail(50) if e.event.startswith("health.")]
    finally:
        context.close()
