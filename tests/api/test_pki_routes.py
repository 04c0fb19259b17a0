"""The PKI URLs certificates name, served over HTTP, checked with openssl.

``GET /pki/ca/{name}.crt`` must serve exactly the certificate an issued certificate's AIA
caIssuers points at, and ``POST /tsa`` must produce replies that ``openssl ts -verify`` accepts.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID
from fastapi.testclient import TestClient

from api.context import AppContext
from tests.conftest import require_command


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def test_ca_certificates_served_where_aia_points(app_ctx: AppContext, client: TestClient) -> None:
    hierarchy = app_ctx.ca().ensure_hierarchy(actor="test")
    responder = hierarchy.ocsp_responders["citizen"]
    aia = responder.extensions.get_extension_for_oid(
        ExtensionOID.AUTHORITY_INFORMATION_ACCESS
    ).value
    url = next(
        d.access_location.value
        for d in aia
        if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS
    )
    path = url.removeprefix(app_ctx.settings.base_url)
    assert path == "/pki/ca/citizen.crt"
    r = client.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/pkix-cert"
    assert x509.load_der_x509_certificate(r.content) == hierarchy.cas["citizen"]
    unknown = client.get("/pki/ca/..%2Fetc.crt")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"


def test_tsa_reply_verifies_with_openssl(
    app_ctx: AppContext, client: TestClient, tmp_path: Path
) -> None:
    openssl = require_command("openssl")
    hierarchy = app_ctx.ca().ensure_hierarchy(actor="test")
    document = tmp_path / "memo.txt"
    document.write_bytes("ឯកសារ approval memo".encode())
    query = tmp_path / "req.tsq"
    subprocess.run(
        [openssl, "ts", "-query", "-data", str(document), "-sha256", "-cert", "-out", str(query)],
        check=True,
        capture_output=True,
    )
    r = client.post(
        "/tsa", content=query.read_bytes(), headers={"Content-Type": "application/timestamp-query"}
    )
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/timestamp-reply"
    reply = tmp_path / "resp.tsr"
    reply.write_bytes(r.content)
    root = tmp_path / "root.pem"
    root.write_bytes(_pem(hierarchy.root))
    untrusted = tmp_path / "chain.pem"
    untrusted.write_bytes(b"".join(_pem(c) for c in hierarchy.cas.values() if c != hierarchy.root))
    verify = subprocess.run(
        [openssl, "ts", "-verify", "-data", str(document), "-in", str(reply),
         "-CAfile", str(root), "-untrusted", str(untrusted)],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stderr
    assert "Verification: OK" in verify.stdout

    document.write_bytes(b"a different memo")
    tampered = subprocess.run(
        [openssl, "ts", "-verify", "-data", str(document), "-in", str(reply),
         "-CAfile", str(root), "-untrusted", str(untrusted)],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert tampered.returncode != 0

    garbage = client.post(
        "/tsa", content=b"\x30\x03garbage", headers={"Content-Type": "application/timestamp-query"}
    )
    assert garbage.status_code == 200  # the protocol's own error form: a rejection
    garbage_reply = tmp_path / "garbage.tsr"
    garbage_reply.write_bytes(garbage.content)
    text = subprocess.run(
        [openssl, "ts", "-reply", "-in", str(garbage_reply), "-text"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    assert "Status: Rejected." in text
    assert "the data submitted has the wrong format" in text

    wrong_type = client.post(
        "/tsa", content=query.read_bytes(), headers={"Content-Type": "text/plain"}
    )
    assert wrong_type.status_code == 415
    assert wrong_type.json()["code"] == "unsupported_media_type"
    too_big = client.post(
        "/tsa", content=b"\x00" * 70_000, headers={"Content-Type": "application/timestamp-query"}
    )
    assert too_big.status_code == 413
