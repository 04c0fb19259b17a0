"""``GET /pki/crl/{ca}.crl`` and ``{ca}-delta.crl``: the URLs certificates name, serving the
current CRL (DER, ``application/pkix-crl``) with cache headers bounded by nextUpdate.

The router is mounted here on the application under test until the lead wires it in
``api.app`` (then the mount below is skipped).
"""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from fastapi.testclient import TestClient

from api.app import create_app
from api.context import AppContext
from ca.revocation import RevocationReason
from ca.store import IssuedCertificate
from core.clock import FixedClock
from tests.ca._issuance import add_person, ec_key, make_csr
from tests.conftest import require_command

# Each test makes a development hierarchy in a soft key store (seconds): CI runs these.
pytestmark = pytest.mark.slow


@pytest.fixture
def crl_client(app_ctx: AppContext) -> Iterator[TestClient]:
    app = create_app(app_ctx)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def _issue(ctx: AppContext) -> IssuedCertificate:
    ctx.ca().ensure_hierarchy(actor="test")
    person = add_person(ctx.register)
    return ctx.ca().issue_from_csr("citizen-auth", person.id, make_csr(ec_key()), actor="test")


def _path(ctx: AppContext, url: str) -> str:
    assert url.startswith(ctx.settings.base_url)
    return url.removeprefix(ctx.settings.base_url)


def _urls(ctx: AppContext, cert: x509.Certificate) -> tuple[str, str]:
    """The paths of the CRL distribution point and the freshest (delta) CRL the cert names."""
    dp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    fresh = cert.extensions.get_extension_for_class(x509.FreshestCRL).value
    full_name = dp[0].full_name
    fresh_name = fresh[0].full_name
    assert full_name is not None
    assert fresh_name is not None
    return _path(ctx, full_name[0].value), _path(ctx, fresh_name[0].value)


def test_the_crls_a_certificate_names_are_served_and_list_its_revocation(
    app_ctx: AppContext, crl_client: TestClient, tmp_path: Path
) -> None:
    cert = _issue(app_ctx)
    full_path, delta_path = _urls(app_ctx, cert.certificate)
    assert (full_path, delta_path) == ("/pki/crl/citizen.crl", "/pki/crl/citizen-delta.crl")
    before = crl_client.get(full_path)
    assert before.status_code == 200
    assert before.headers["content-type"] == "application/pkix-crl"
    assert len(x509.load_der_x509_crl(before.content)) == 0

    app_ctx.ca().revoke(cert.serial_hex, reason=RevocationReason.KEY_COMPROMISE, actor="test")
    # NATID_CRL_FULL_MIN_INTERVAL_SECONDS defaults to 0: the full CRL lists it at once, for
    # relying parties that never read delta CRLs.
    full_r = crl_client.get(full_path)
    assert full_r.status_code == 200
    full = x509.load_der_x509_crl(full_r.content)
    revoked = full.get_revoked_certificate_by_serial_number(cert.certificate.serial_number)
    assert revoked is not None
    issuer = app_ctx.ca().hierarchy().cas["citizen"]
    assert full.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
    full_number = full.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    before_number = (
        x509.load_der_x509_crl(before.content)
        .extensions.get_extension_for_class(x509.CRLNumber)
        .value.crl_number
    )
    assert full_number > before_number
    # The delta is based on that new full CRL (so it lists nothing new) and is numbered after it.
    delta = x509.load_der_x509_crl(crl_client.get(delta_path).content)
    assert delta.extensions.get_extension_for_class(x509.DeltaCRLIndicator).value.crl_number == (
        full_number
    )
    assert delta.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number > full_number
    assert delta.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]

    openssl = require_command("openssl")
    (tmp_path / "full.crl").write_bytes(full_r.content)
    text = subprocess.run(
        [openssl, "crl", "-inform", "DER", "-in", str(tmp_path / "full.crl"), "-noout", "-text"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert f"Serial Number: {cert.serial_hex}" in text
    assert "Key Compromise" in text


def test_cache_headers_are_bounded_by_next_update_and_etags_revalidate(
    app_ctx: AppContext, crl_client: TestClient, clock: FixedClock
) -> None:
    _issue(app_ctx)
    r = crl_client.get("/pki/crl/citizen-delta.crl")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "public, max-age=300, no-transform"
    assert r.headers["last-modified"] == "Sun, 01 Nov 2026 09:00:00 GMT"
    assert r.headers["expires"] == "Mon, 02 Nov 2026 09:00:00 GMT"
    again = crl_client.get(
        "/pki/crl/citizen-delta.crl", headers={"If-None-Match": r.headers["etag"]}
    )
    assert again.status_code == 304
    assert again.content == b""
    # Root CRL: no delta; its full CRL is served (no IDP: it covers the issuing CAs).
    root = crl_client.get("/pki/crl/root.crl")
    assert root.status_code == 200
    assert x509.load_der_x509_crl(root.content).next_update_utc == clock.now() + dt.timedelta(
        days=30
    )


def test_wrong_names_get_404_problem_details(app_ctx: AppContext, crl_client: TestClient) -> None:
    app_ctx.ca().ensure_hierarchy(actor="test")
    for path in (
        "/pki/crl/mars.crl",  # no such CA
        "/pki/crl/mars-delta.crl",
        "/pki/crl/root-delta.crl",  # the root publishes no delta
        "/pki/crl/citizen.pem",
        "/pki/crl/Citizen.crl",
        "/pki/crl/citizen-delta-delta.crl",
        "/pki/crl/..%2Fetc.crl",  # never reaches the route
    ):
        r = crl_client.get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] in {"unknown_crl", "not_found"}
