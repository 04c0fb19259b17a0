"""Asking the OCSP responder a certificate names (AIA OCSP) about it, over HTTP."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID
from fastapi.testclient import TestClient

from api.context import AppContext
from ca.store import IssuedCertificate


def ocsp_answer(client: TestClient, ctx: AppContext, cert: IssuedCertificate) -> ocsp.OCSPResponse:
    issuer = ctx.ca().hierarchy().cas[cert.issuer]
    body = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(cert.certificate, issuer, hashes.SHA256())
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    aia = cert.certificate.extensions.get_extension_for_oid(
        ExtensionOID.AUTHORITY_INFORMATION_ACCESS
    ).value
    url = next(
        d.access_location.value
        for d in aia
        if d.access_method == AuthorityInformationAccessOID.OCSP
    )
    path = "/" + url.split("/", 3)[3]
    r = client.post(path, content=body, headers={"Content-Type": "application/ocsp-request"})
    assert r.status_code == 200, r.text
    answer = ocsp.load_der_ocsp_response(r.content)
    assert answer.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert answer.serial_number == cert.certificate.serial_number
    return answer
