"""The RA REST API (``/ra/v1``) end to end: roles, issuance, look-ups, renewal, revocation.

Operators get real tokens from :class:`core.operators.OperatorService`; certificates come from
CSRs built with ``cryptography``; the issued certificate is checked with ``openssl verify``
against the chain the CA serves; the audit ledger must name the operator behind every change.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from api.context import AppContext
from ca.csr import MAX_CSR_BYTES
from core.operators import OperatorRole
from registry import Person
from tests.api._ra import PROBLEM, bearer, golden_keys, operator_token, person, ra_client, ra_ctx
from tests.ca._issuance import add_entity, add_person, ec_key, make_csr, openssl_verify

__all__ = ["golden_keys", "person", "ra_client", "ra_ctx"]  # fixtures used by this module

CERTS = "/ra/v1/certificates"


def issue_body(subject: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"profile": "citizen-auth", "subject": subject}
    if "server_key" not in extra:
        body["csr"] = make_csr(ec_key()).decode()
    return {**body, **extra}


def ledger_events(ctx: AppContext, n: int = 50) -> list[tuple[str, str | None, dict[str, Any]]]:
    return [(e.event, e.actor, e.data) for e in ctx.ledger.tail(n)]


def cert_count(ctx: AppContext) -> int:
    return len(ctx.ca().list(limit=None))


def test_roles_decide_who_may_do_what(
    ra_ctx: AppContext, ra_client: TestClient, person: Person
) -> None:
    _, officer = operator_token(ra_ctx, "ra.one", OperatorRole.RA_OFFICER)
    _, auditor = operator_token(ra_ctx, "audit.one", OperatorRole.AUDITOR)
    _, ca_op = operator_token(ra_ctx, "ca.one", OperatorRole.CA_OPERATOR)
    _, health = operator_token(ra_ctx, "health.one", OperatorRole.HEALTH_ISSUER)
    before = cert_count(ra_ctx)

    # No token: 401 with a Bearer challenge, before the body is even looked at.
    r = ra_client.post(CERTS, json=issue_body(person.id))
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith('Bearer realm="natid-admin"')
    assert r.headers["content-type"] == PROBLEM
    assert ra_client.get(CERTS).status_code == 401
    # An auditor reads but cannot issue; a health issuer can do neither.
    r = ra_client.post(CERTS, json=issue_body(person.id), headers=bearer(auditor))
    assert r.status_code == 403
    assert r.json()["code"] == "insufficient_role"
    assert ra_client.get(CERTS, headers=bearer(auditor)).status_code == 200
    assert ra_client.get(CERTS, headers=bearer(health)).status_code == 403
    assert cert_count(ra_ctx) == before

    # An RA officer and a CA operator both issue.
    for token in (officer, ca_op):
        r = ra_client.post(CERTS, json=issue_body(person.id), headers=bearer(token))
        assert r.status_code == 201, r.text
    serial = r.json()["serial"]
    # Revoking everything of a subject is for CA operators only.
    revoke_all = f"/ra/v1/subjects/{person.id}/revoke"
    r = ra_client.post(revoke_all, json={"reason": "affiliationChanged"}, headers=bearer(officer))
    assert r.status_code == 403
    r = ra_client.post(revoke_all, json={"reason": "affiliationChanged"}, headers=bearer(ca_op))
    assert r.status_code == 200, r.text
    assert serial in r.json()["revoked"]
    assert len(r.json()["revoked"]) == 2
    # An auditor cannot suspend a certificate either (the role is checked before anything).
    assert ra_client.post(f"{CERTS}/{serial}/hold", headers=bearer(auditor)).status_code == 403


def test_issue_from_a_csr_verifies_with_openssl_and_is_audited(
    ra_ctx: AppContext, ra_client: TestClient, person: Person, tmp_path: Path
) -> None:
    officer_id, officer = operator_token(ra_ctx, "ra.issue", OperatorRole.RA_OFFICER)
    key = ec_key()
    csr = make_csr(key).decode()
    r = ra_client.post(
        CERTS,
        json={"profile": "citizen-auth", "subject": person.id, "csr": csr},
        headers=bearer(officer),
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "good"
    assert body["profile"] == "citizen-auth"
    assert body["subject_id"] == person.id
    assert body["issuer"] == "citizen"
    assert body["key_label"] is None
    assert body["requested_by"] == officer_id
    assert r.headers["location"].endswith(f"{CERTS}/{body['serial']}")
    cert = x509.load_pem_x509_certificate(body["certificate"].encode())
    assert cert.public_key() == key.public_key()
    # The subject DN comes from the register, not from the CSR ("Mallory").
    assert "Mallory" not in cert.subject.rfc4514_string()

    # The Location answers with the same record.
    again = ra_client.get(r.headers["location"], headers=bearer(officer))
    assert again.status_code == 200
    assert again.json() == body

    chain = ra_ctx.ca().chain(body["issuer"])
    verified = openssl_verify(tmp_path, cert, chain)
    assert verified.returncode == 0, verified.stderr + verified.stdout

    events = ledger_events(ra_ctx)
    issued = [
        e for e in events if e[0] == "ca.certificate.issued" and e[2]["serial"] == body["serial"]
    ]
    assert issued and issued[0][1] == officer_id
    used = [e for e in events if e[0] == "operator.authenticated" and e[1] == officer_id]
    routes = {e[2]["route"] for e in used}
    assert {"/ra/v1/certificates", "/ra/v1/certificates/{serial}"} <= routes


def test_server_key_issuance_returns_a_label_never_a_key(
    ra_ctx: AppContext, ra_client: TestClient
) -> None:
    _, officer = operator_token(ra_ctx, "ra.seal", OperatorRole.RA_OFFICER)
    company = add_entity(ra_ctx.register)
    r = ra_client.post(
        CERTS,
        json={
            "profile": "eseal",
            "subject": company.id,
            "server_key": True,
            "algorithm": "ec-p384",
        },
        headers=bearer(officer),
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["key_label"]
    assert "PRIVATE KEY" not in r.text
    cert = x509.load_pem_x509_certificate(body["certificate"].encode())
    # The key stays in the key backend, under the label the response names.
    assert ra_ctx.keys.public_key(body["key_label"]) == cert.public_key()


def test_bad_requests_store_nothing_and_leak_nothing(
    ra_ctx: AppContext, ra_client: TestClient, person: Person
) -> None:
    _, officer = operator_token(ra_ctx, "ra.bad", OperatorRole.RA_OFFICER)
    auth = bearer(officer)
    before = cert_count(ra_ctx)
    log_before = ra_client.get("/pki/log/sth").json()["tree_size"]

    def post(body: Any, **kw: Any) -> Any:
        return ra_client.post(CERTS, json=body, headers=auth, **kw)

    # A garbage CSR: 400 problem+json, with a readable detail that does not echo the input.
    r = post(issue_body(person.id, csr="-----BEGIN CERTIFICATE REQUEST-----\nZZZ\n"))
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == PROBLEM
    assert "ZZZ" not in r.text
    assert r.json()["detail"]
    # Not PEM at all.
    assert post(issue_body(person.id, csr="hello")).status_code == 400
    # An unknown subject, an unknown profile, a CA-only profile.
    assert post(issue_body("no-such-person")).status_code == 404
    assert post(issue_body(person.id, profile="no-such")).status_code == 404
    assert post(issue_body(person.id, profile="root-ca")).status_code == 400
    # Schema errors are 422: both key sources, neither, an unknown field, algorithm with a CSR.
    for body in (
        issue_body(person.id, server_key=True, csr="x"),
        {"profile": "citizen-auth", "subject": person.id},
        issue_body(person.id, admin=True),
        issue_body(person.id, algorithm="ec-p256"),
    ):
        r = post(body)
        assert r.status_code == 422, body
        assert r.headers["content-type"] == PROBLEM
    # A CSR over 64 KiB, and a body over the limit: 413 before anything is parsed.
    r = post(issue_body(person.id, csr="A" * (MAX_CSR_BYTES + 1)))
    assert r.status_code == 413
    assert r.headers["content-type"] == PROBLEM
    huge = json.dumps(issue_body(person.id, csr="A" * (4 * MAX_CSR_BYTES)))
    r = ra_client.post(CERTS, content=huge, headers={**auth, "Content-Type": "application/json"})
    assert r.status_code == 413
    # Nothing was stored or logged by any of them.
    assert cert_count(ra_ctx) == before
    assert ra_client.get("/pki/log/sth").json()["tree_size"] == log_before
    assert not [e for e in ledger_events(ra_ctx) if e[0].startswith("ca.certificate.")]


def test_list_filters_and_pages_without_overlap(
    ra_ctx: AppContext, ra_client: TestClient, person: Person
) -> None:
    _, officer = operator_token(ra_ctx, "ra.list", OperatorRole.RA_OFFICER)
    _, auditor = operator_token(ra_ctx, "audit.list", OperatorRole.AUDITOR)
    serials = set()
    for _ in range(3):
        r = ra_client.post(CERTS, json=issue_body(person.id), headers=bearer(officer))
        serials.add(r.json()["serial"])
    other = add_person(ra_ctx.register)
    ra_client.post(CERTS, json=issue_body(other.id), headers=bearer(officer))

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"subject": person.id, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        r = ra_client.get(CERTS, params=params, headers=bearer(auditor))
        assert r.status_code == 200, r.text
        page = r.json()
        seen += [c["serial"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(serials)
    assert len(seen) == 3
    r = ra_client.get(
        CERTS, params={"profile": "citizen-auth", "status": "revoked"}, headers=bearer(auditor)
    )
    assert r.json() == {"items": [], "next_cursor": None}
    for bad in ({"cursor": "garbage"}, {"status": "expired"}):
        r = ra_client.get(CERTS, params=bad, headers=bearer(auditor))
        assert r.status_code == 400, bad
        assert r.headers["content-type"] == PROBLEM


def test_renew_rekey_hold_resume_revoke(
    ra_ctx: AppContext, ra_client: TestClient, person: Person
) -> None:
    officer_id, officer = operator_token(ra_ctx, "ra.life", OperatorRole.RA_OFFICER)
    auth = bearer(officer)
    first = ra_client.post(CERTS, json=issue_body(person.id), headers=auth).json()
    # Serials in paths: any case, with colons, as tools print them.
    serial = first["serial"]
    colons = ":".join(serial[i : i + 2] for i in range(0, len(serial), 2)).lower()

    r = ra_client.post(f"{CERTS}/{colons}/renew", headers=auth)
    assert r.status_code == 201, r.text
    renewed = r.json()
    assert renewed["renewed_from"] == serial
    assert r.headers["location"].endswith(renewed["serial"])
    assert (
        ra_client.get(f"{CERTS}/{serial}", headers=auth).json()["replaced_by"]
        == (renewed["serial"])
    )
    renewed_cert = x509.load_pem_x509_certificate(renewed["certificate"].encode())
    first_cert = x509.load_pem_x509_certificate(first["certificate"].encode())
    assert renewed_cert.public_key() == first_cert.public_key()

    new_key = ec_key()
    r = ra_client.post(
        f"{CERTS}/{renewed['serial']}/rekey",
        json={"csr": make_csr(new_key).decode()},
        headers=auth,
    )
    assert r.status_code == 201, r.text
    rekeyed = r.json()
    assert x509.load_pem_x509_certificate(rekeyed["certificate"].encode()).public_key() == (
        new_key.public_key()
    )
    target = rekeyed["serial"]

    r = ra_client.post(f"{CERTS}/{target.lower()}/hold", headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "on_hold"
    assert r.json()["revocation_reason"] == "certificateHold"
    r = ra_client.post(f"{CERTS}/{target}/resume", headers=auth)
    assert r.json()["status"] == "good"
    compromised = ra_ctx.clock.now() - dt.timedelta(days=2)
    r = ra_client.post(
        f"{CERTS}/{target}/revoke",
        json={"reason": "keyCompromise", "invalidity_date": compromised.isoformat()},
        headers=auth,
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "revoked"
    assert r.json()["revocation_reason"] == "keyCompromise"
    assert dt.datetime.fromisoformat(r.json()["invalidity_date"]) == compromised
    # Revocation is final; resuming a revoked certificate or revoking it again is a conflict.
    assert ra_client.post(f"{CERTS}/{target}/resume", headers=auth).status_code == 409
    r = ra_client.post(f"{CERTS}/{target}/revoke", json={"reason": "superseded"}, headers=auth)
    assert r.status_code == 409
    assert r.headers["content-type"] == PROBLEM
    # Schema errors: an unknown reason, a naive invalidity date.
    for body in (
        {"reason": "becauseISaidSo"},
        {"reason": "keyCompromise", "invalidity_date": "2026-10-01T00:00:00"},
    ):
        assert (
            ra_client.post(f"{CERTS}/{serial}/revoke", json=body, headers=auth).status_code == 422
        )
    assert ra_client.post(f"{CERTS}/not-hex/hold", headers=auth).status_code == 400
    assert ra_client.post(f"{CERTS}/0A0B0C/hold", headers=auth).status_code == 404

    changes = [e for e in ledger_events(ra_ctx, 200) if e[0].startswith("ca.certificate.")]
    assert [e[0] for e in changes] == [
        "ca.certificate.issued",
        "ca.certificate.renewed",
        "ca.certificate.rekeyed",
        "ca.certificate.held",
        "ca.certificate.resumed",
        "ca.certificate.revoked",
        # Refusals of an existing or named certificate are audited too; malformed requests
        # (422, the 400 of a serial that is not hex) are refused before any look-up.
        "ca.certificate.resume_refused",
        "ca.certificate.revoke_refused",
        "ca.certificate.hold_refused",
    ]
    assert {e[1] for e in changes} == {officer_id}


def test_subject_log_lists_every_certificate_ever_issued(
    ra_ctx: AppContext, ra_client: TestClient, person: Person
) -> None:
    _, officer = operator_token(ra_ctx, "ra.log", OperatorRole.RA_OFFICER)
    _, auditor = operator_token(ra_ctx, "audit.log", OperatorRole.AUDITOR)
    serials = [
        ra_client.post(CERTS, json=issue_body(person.id), headers=bearer(officer)).json()["serial"]
        for _ in range(2)
    ]
    ra_client.post(
        f"{CERTS}/{serials[0]}/revoke", json={"reason": "superseded"}, headers=bearer(officer)
    )
    ra_client.post(CERTS, json=issue_body(add_person(ra_ctx.register).id), headers=bearer(officer))

    r = ra_client.get(f"/ra/v1/subjects/{person.id}/log", headers=bearer(auditor))
    assert r.status_code == 200, r.text
    entries = r.json()["entries"]
    assert [e["serial"] for e in entries] == serials
    assert [e["status"] for e in entries] == ["revoked", "good"]
    assert entries[0]["leaf_index"] < entries[1]["leaf_index"]
    cert = x509.load_pem_x509_certificate(entries[1]["certificate"].encode())
    assert f"{cert.serial_number:X}".rjust(len(serials[1]), "0") == serials[1]
    # Nobody else's certificates, and nothing for an unknown subject.
    r = ra_client.get("/ra/v1/subjects/nobody/log", headers=bearer(auditor))
    assert r.json() == {"subject_id": "nobody", "entries": []}
    assert ra_client.get(f"/ra/v1/subjects/{person.id}/log").status_code == 401


def test_openapi_documents_the_ra_schemas(ra_client: TestClient) -> None:
    spec = ra_client.get("/openapi.json").json()
    assert "/ra/v1/certificates" in spec["paths"]
    assert "/ra/v1/certificates/{serial}/revoke" in spec["paths"]
    assert "/pki/log/proof/inclusion" in spec["paths"]
    schemas = spec["components"]["schemas"]
    assert schemas["IssueRequest"]["additionalProperties"] is False
    assert schemas["RevokeRequest"]["additionalProperties"] is False
    assert "keyCompromise" in json.dumps(schemas["RevocationReason"])


@pytest.fixture
def fuzz_token(ra_ctx: AppContext) -> str:
    """One RA officer for every example (hypothesis runs them in one fixture scope)."""
    return operator_token(ra_ctx, "ra.fuzz", OperatorRole.RA_OFFICER)[1]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=6,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=st.one_of(
        json_values,
        st.fixed_dictionaries(
            {"profile": st.sampled_from(["citizen-auth", "eseal", "x"]), "subject": st.text()},
            optional={
                "csr": st.text(max_size=200),
                "server_key": json_values,
                "algorithm": json_values,
                "dns_names": json_values,
            },
        ),
    ),
    cursor=st.text(max_size=40),
)
@example(body={"profile": "citizen-auth", "subject": "x", "csr": "\x00" * 10}, cursor="=")
def test_random_bodies_and_cursors_never_500_and_store_nothing(
    ra_ctx: AppContext, ra_client: TestClient, fuzz_token: str, body: Any, cursor: str
) -> None:
    token = fuzz_token
    before = cert_count(ra_ctx)
    r = ra_client.post(CERTS, json=body, headers=bearer(token))
    assert r.status_code in {400, 404, 409, 413, 422}, (body, r.status_code, r.text)
    assert r.headers["content-type"] == PROBLEM
    assert cert_count(ra_ctx) == before
    r = ra_client.get(CERTS, params={"cursor": cursor, "limit": 1}, headers=bearer(token))
    assert r.status_code in {200, 400, 422}, (cursor, r.status_code, r.text)
