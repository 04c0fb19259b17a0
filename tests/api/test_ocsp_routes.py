"""OCSP over HTTP: ``POST /pki/ocsp/{ca}`` and ``GET /pki/ocsp/{ca}/{request}``.

What a relying party sees through the URL its certificate names in AIA OCSP: good, then
revoked on the very next request - also when the revocation is made by another process whose
cache the server never hears from - the RFC 5019 §6.2 caching headers, the nonce echoed,
malformed input answered in OCSP's own form, unknown CAs as 404 problem+json, and a renewed
responder certificate picked up without a restart.

The router is mounted here on the app the fixtures build (the lead wires it in api/app.py).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.cli.ca_ocsp import build_responder_renewal
from api.context import AppContext, build_context
from api.routers import ocsp as ocsp_routes
from ca.revocation import RevocationReason
from ca.store import IssuedCertificate
from core.cache import InMemoryCache
from core.clock import FixedClock
from tests.ca._issuance import add_person

OK = ocsp.OCSPResponseStatus.SUCCESSFUL
REQUEST_TYPE = {"Content-Type": "application/ocsp-request"}


class CountingCache(InMemoryCache):
    """The in-process cache, counting writes (a write after a miss means a signature)."""

    def __init__(self, *, clock: FixedClock) -> None:
        super().__init__(clock=clock)
        self.writes = 0

    def set(self, key: str, value: bytes, *, ttl: float) -> None:
        self.writes += 1
        super().set(key, value, ttl=ttl)


def mount(ctx: AppContext) -> FastAPI:
    app = create_app(ctx)
    if not any(getattr(r, "path", "").startswith("/pki/ocsp/") for r in app.routes):
        app.include_router(ocsp_routes.router)
    return app


@pytest.fixture
def app_ctx(app_ctx: AppContext, clock: FixedClock) -> AppContext:
    """The API tests' context (tests/api/conftest.py) with a counting cache and the hierarchy."""
    app_ctx.cache = CountingCache(clock=clock)
    app_ctx.ca().ensure_hierarchy(actor="test")
    return app_ctx


@pytest.fixture
def client(app_ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(mount(app_ctx), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def cert(app_ctx: AppContext, client: TestClient) -> IssuedCertificate:
    person = add_person(app_ctx.register)
    return app_ctx.ca().issue_with_server_key("citizen-auth", person.id, actor="test")


def der_request(
    ctx: AppContext, cert: IssuedCertificate, *, nonce: bytes | None = None, sha256: bool = False
) -> bytes:
    issuer = ctx.ca().hierarchy().cas[cert.issuer]
    algorithm = hashes.SHA256() if sha256 else hashes.SHA1()
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert.certificate, issuer, algorithm)
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def ocsp_path(cert: IssuedCertificate) -> str:
    """The path of the AIA OCSP URL the certificate itself names."""
    aia = cert.certificate.extensions.get_extension_for_oid(
        ExtensionOID.AUTHORITY_INFORMATION_ACCESS
    ).value
    url = next(
        d.access_location.value
        for d in aia
        if d.access_method == AuthorityInformationAccessOID.OCSP
    )
    return "/" + url.split("/", 3)[3]  # fmt: skip


def post(client: TestClient, path: str, body: bytes) -> ocsp.OCSPResponse:
    r = client.post(path, content=body, headers=REQUEST_TYPE)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/ocsp-response"
    return ocsp.load_der_ocsp_response(r.content)


def get(client: TestClient, path: str, body: bytes) -> ocsp.OCSPResponse:
    r = client.get(f"{path}/{quote(base64.b64encode(body).decode(), safe='')}")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/ocsp-response"
    return ocsp.load_der_ocsp_response(r.content)


def test_good_by_post_and_get_at_the_url_the_certificate_names(
    app_ctx: AppContext, client: TestClient, cert: IssuedCertificate, clock: FixedClock
) -> None:
    path = ocsp_path(cert)
    assert path == "/pki/ocsp/citizen"
    body = der_request(app_ctx, cert)
    by_post = post(client, path, body)
    assert by_post.response_status is OK
    assert by_post.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert by_post.serial_number == cert.certificate.serial_number
    responder = app_ctx.ca().hierarchy().ocsp_responders["citizen"]
    assert by_post.certificates == [responder]
    # GET answers the same pre-signed bytes, also for a SHA-256 CertID.
    by_get = get(client, path, body)
    assert by_get.public_bytes(serialization.Encoding.DER) == by_post.public_bytes(
        serialization.Encoding.DER
    )
    sha256 = get(client, path, der_request(app_ctx, cert, sha256=True))
    assert sha256.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert isinstance(sha256.hash_algorithm, hashes.SHA256)


def test_rfc5019_cache_headers_on_a_presigned_response(
    app_ctx: AppContext, client: TestClient, cert: IssuedCertificate, clock: FixedClock
) -> None:
    r = client.post(ocsp_path(cert), content=der_request(app_ctx, cert), headers=REQUEST_TYPE)
    response = ocsp.load_der_ocsp_response(r.content)
    assert r.headers["cache-control"] == "max-age=60, public, no-transform, must-revalidate"
    assert parsedate_to_datetime(r.headers["last-modified"]) == response.this_update_utc
    assert parsedate_to_datetime(r.headers["expires"]) == response.next_update_utc
    assert r.headers["etag"].strip('"') == hashlib.sha256(r.content).hexdigest()


def test_nonce_is_echoed_and_the_response_is_not_cacheable(
    app_ctx: AppContext, client: TestClient, cert: IssuedCertificate
) -> None:
    nonce = os.urandom(16)
    r = client.post(
        ocsp_path(cert), content=der_request(app_ctx, cert, nonce=nonce), headers=REQUEST_TYPE
    )
    response = ocsp.load_der_ocsp_response(r.content)
    assert response.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
    assert r.headers["cache-control"] == "no-store"
    assert "etag" not in r.headers


def test_wrong_content_type_is_415_problem(
    app_ctx: AppContext, client: TestClient, cert: IssuedCertificate
) -> None:
    r = client.post(
        "/pki/ocsp/citizen",
        content=der_request(app_ctx, cert),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 415
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "unsupported_media_type"


def test_garbage_is_an_ocsp_malformed_request_not_an_http_error(client: TestClient) -> None:
    bodies = {
        "empty": b"",
        "truncated": b"\x30\x03\x02\x01",
        "garbage": b"not an OCSP request",
        "oversized": b"\x30\x82\x24\x00" + b"\x00" * 9216,
    }
    for name, body in bodies.items():
        response = post(client, "/pki/ocsp/citizen", body)
        assert response.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST, name
    for path in ["%%%", "AAAA", "", "not base64 at all!", "A" * 12000]:
        r = client.get(f"/pki/ocsp/citizen/{path}")
        assert r.status_code == 200, path
        response = ocsp.load_der_ocsp_response(r.content)
        assert response.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST, path
        assert r.headers["cache-control"] == "no-store"


def test_get_path_with_slash_and_plus_in_the_base64_is_decoded(
    app_ctx: AppContext, client: TestClient
) -> None:
    # Find a certificate whose request's base64 holds '/' and '+', sent unescaped except '/'
    # escaped once and once not (RFC 6960 §A.1 clients differ on this).
    person = add_person(app_ctx.register)
    for _ in range(40):
        cert = app_ctx.ca().issue_with_server_key("citizen-auth", person.id, actor="test")
        text = base64.b64encode(der_request(app_ctx, cert)).decode()
        if "/" in text and "+" in text:
            break
    else:
        pytest.fail("no request with both '/' and '+' in 40 tries")
    for encoded in (text, quote(text, safe="+"), quote(text, safe="")):
        r = client.get(f"/pki/ocsp/citizen/{encoded}")
        response = ocsp.load_der_ocsp_response(r.content)
        assert response.response_status is OK, encoded
        assert response.certificate_status is ocsp.OCSPCertStatus.GOOD


def test_unknown_ca_is_404_problem_and_root_points_at_its_crl(
    app_ctx: AppContext, client: TestClient, cert: IssuedCertificate
) -> None:
    body = der_request(app_ctx, cert)
    r = client.post("/pki/ocsp/nosuch", content=body, headers=REQUEST_TYPE)
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "unknown_ocsp_responder"
    root = client.get("/pki/ocsp/root/" + base64.b64encode(body).decode())
    assert root.status_code == 404
    assert "/pki/crl/root.crl" in root.json()["detail"]


def test_certificate_of_another_ca_is_unauthorized(
    app_ctx: AppContext, client: TestClient, cert: IssuedCertificate
) -> None:
    response = post(client, "/pki/ocsp/government", der_request(app_ctx, cert))
    assert response.response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED


def test_revocation_by_another_process_is_visible_on_the_next_request(
    app_ctx: AppContext,
    client: TestClient,
    cert: IssuedCertificate,
    clock: FixedClock,
) -> None:
    path = ocsp_path(cert)
    body = der_request(app_ctx, cert)
    assert post(client, path, body).certificate_status is ocsp.OCSPCertStatus.GOOD
    assert get(client, path, body).certificate_status is ocsp.OCSPCertStatus.GOOD  # cached
    # `natid ca revoke` in another process: its own engine, sessions, cache and CA service.
    other = build_context(app_ctx.settings, clock=clock, migrate=False)
    try:
        assert other.cache is not app_ctx.cache and other.engine is not app_ctx.engine
        other.ca().revoke(cert.serial_hex, reason=RevocationReason.KEY_COMPROMISE, actor="op")
    finally:
        other.close()
    for ask in (post, get):
        response = ask(client, path, body)
        assert response.certificate_status is ocsp.OCSPCertStatus.REVOKED
        assert response.revocation_reason is x509.ReasonFlags.key_compromise
        assert response.revocation_time_utc is not None


def test_revocation_in_this_process_is_presigned_before_the_next_request(
    app_ctx: AppContext, client: TestClient, cert: IssuedCertificate
) -> None:
    cache = app_ctx.cache
    assert isinstance(cache, CountingCache)
    path = ocsp_path(cert)
    body = der_request(app_ctx, cert)
    post(client, path, body)  # builds the responders and registers the status listener
    app_ctx.ca().revoke(cert.serial_hex, reason=RevocationReason.SUPERSEDED, actor="op")
    writes = cache.writes
    for ask in (post, get):
        response = ask(client, path, body)
        assert response.certificate_status is ocsp.OCSPCertStatus.REVOKED
        assert response.revocation_reason is x509.ReasonFlags.superseded
    sha256 = post(client, path, der_request(app_ctx, cert, sha256=True))
    assert sha256.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert cache.writes == writes  # every answer came pre-signed: nothing signed on request


def test_renewed_responder_certificate_is_picked_up_within_a_minute(
    app_ctx: AppContext, client: TestClient, cert: IssuedCertificate, clock: FixedClock
) -> None:
    path = ocsp_path(cert)
    body = der_request(app_ctx, cert)
    old = app_ctx.ca().hierarchy().ocsp_responders["citizen"]
    clock.advance(dt.timedelta(days=61))  # 29 days left of the responders' 90
    assert post(client, path, body).certificates == [old]
    renewed = build_responder_renewal(app_ctx).renew_ocsp_responders(
        before=dt.timedelta(days=30), actor="test"
    )
    assert {r.issuer for r in renewed} == {"citizen", "entity", "government", "health"}
    new = app_ctx.ca().hierarchy().ocsp_responders["citizen"]
    assert new != old
    assert new.not_valid_after_utc > old.not_valid_after_utc + dt.timedelta(days=60)
    assert post(client, path, body).certificates == [old]  # not re-read yet
    clock.advance(dt.timedelta(seconds=61))
    response = post(client, path, body)
    assert response.certificates == [new]
    assert response.certificate_status is ocsp.OCSPCertStatus.GOOD
    public_key = new.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(response.signature, response.tbs_response_bytes, ec.ECDSA(hashes.SHA256()))


# --- the fast path (api/ocsp_fastpath.py) ----------------------------------------------------


@pytest.fixture
def fast_answers(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts the answers given by the fast path (ahead of FastAPI's routing)."""
    import api.ocsp_fastpath as fastpath

    seen: list[str] = []
    real = fastpath._answer

    async def counting(*args: object, **kwargs: object) -> object:
        seen.append(type(args[2]).__name__)
        return await real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(fastpath, "_answer", counting)
    return seen


def test_fast_path_serves_the_routes_bytes_and_headers(
    app_ctx: AppContext, client: TestClient, cert: IssuedCertificate, fast_answers: list[str]
) -> None:
    path = ocsp_path(cert)
    body = der_request(app_ctx, cert)
    first = client.post(path, content=body, headers=REQUEST_TYPE)  # builds the responders
    assert fast_answers == []
    second = client.post(path, content=body, headers=REQUEST_TYPE)
    by_get = client.get(f"{path}/{quote(base64.b64encode(body).decode(), safe='')}")
    assert fast_answers == ["bytes", "str"]  # the POST body, then the GET path
    for r in (second, by_get):
        assert r.status_code == 200
        assert r.content == first.content
        for name in ("content-type", "cache-control", "last-modified", "expires", "etag"):
            assert r.headers[name] == first.headers[name], name
        assert r.headers["content-length"] == str(len(first.content))
        assert len(r.headers["x-request-id"]) == 16


def test_fast_path_echoes_a_sane_request_id_and_replaces_a_hostile_one(
    app_ctx: AppContext, client: TestClient, cert: IssuedCertificate, fast_answers: list[str]
) -> None:
    path = ocsp_path(cert)
    body = der_request(app_ctx, cert)
    post(client, path, body)
    sane = client.post(path, content=body, headers=REQUEST_TYPE | {"X-Request-ID": "abc-123.XYZ"})
    assert sane.headers["x-request-id"] == "abc-123.XYZ"
    hostile = client.post(
        path, content=body, headers=REQUEST_TYPE | {"X-Request-ID": "evil\tvalue; drop"}
    )
    assert hostile.headers["x-request-id"] != "evil\tvalue; drop"
    assert int(hostile.headers["x-request-id"], 16) >= 0
    assert len(fast_answers) == 2


def test_fast_path_requests_are_counted_in_metrics(
    app_ctx: AppContext, client: TestClient, cert: IssuedCertificate, fast_answers: list[str]
) -> None:
    path = ocsp_path(cert)
    body = der_request(app_ctx, cert)
    for _ in range(3):
        post(client, path, body)
    get(client, path, body)
    assert len(fast_answers) == 3
    metrics = client.get("/metrics").text
    assert 'natid_http_requests_total{method="POST",route="/pki/ocsp/{ca}",status="200"} 3.0' in (
        metrics
    )
    get_route = 'route="/pki/ocsp/{ca}/{ocsp_request:path}",status="200"} 1.0'
    assert get_route in metrics
    assert (
        'natid_http_request_duration_seconds_count{method="POST",route="/pki/ocsp/{ca}"} 3.0'
        in (metrics)
    )


def test_errors_stay_problem_json_once_the_fast_path_is_active(
    app_ctx: AppContext, client: TestClient, cert: IssuedCertificate, fast_answers: list[str]
) -> None:
    body = der_request(app_ctx, cert)
    post(client, ocsp_path(cert), body)
    wrong_type = client.post(
        "/pki/ocsp/citizen", content=body, headers={"Content-Type": "text/plain"}
    )
    assert wrong_type.status_code == 415
    assert wrong_type.json()["code"] == "unsupported_media_type"
    unknown = client.post("/pki/ocsp/nosuch", content=body, headers=REQUEST_TYPE)
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert unknown.json()["request_id"] == unknown.headers["x-request-id"]
    root = client.get("/pki/ocsp/root/" + base64.b64encode(body).decode())
    assert root.status_code == 404
    assert fast_answers == []  # all of these went on to FastAPI


def test_revocation_by_another_process_is_visible_through_the_fast_path(
    app_ctx: AppContext,
    client: TestClient,
    cert: IssuedCertificate,
    clock: FixedClock,
    fast_answers: list[str],
) -> None:
    path = ocsp_path(cert)
    body = der_request(app_ctx, cert)
    for _ in range(2):
        assert post(client, path, body).certificate_status is ocsp.OCSPCertStatus.GOOD
    assert len(fast_answers) == 1  # the second answer came from this process's copy
    other = build_context(app_ctx.settings, clock=clock, migrate=False)
    try:
        other.ca().revoke(cert.serial_hex, reason=RevocationReason.CA_COMPROMISE, actor="op")
    finally:
        other.close()
    response = post(client, path, body)
    assert response.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert response.revocation_reason is x509.ReasonFlags.ca_compromise
    assert len(fast_answers) == 2


def test_due_reread_of_responders_is_left_to_one_request(
    app_ctx: AppContext,
    client: TestClient,
    cert: IssuedCertificate,
    clock: FixedClock,
    fast_answers: list[str],
) -> None:
    path = ocsp_path(cert)
    body = der_request(app_ctx, cert)
    post(client, path, body)  # builds the responders through the route
    responders = client.app.state.ocsp  # type: ignore[attr-defined]
    clock.advance(dt.timedelta(seconds=61))  # the re-read of responder certificates is due
    with responders._lock:  # another request is running it: the current responder answers
        assert post(client, path, body).certificate_status is ocsp.OCSPCertStatus.GOOD
    assert len(fast_answers) == 1
    post(client, path, body)  # nobody runs it: this request goes to the route, which does
    assert len(fast_answers) == 1
    post(client, path, body)
    assert len(fast_answers) == 2
