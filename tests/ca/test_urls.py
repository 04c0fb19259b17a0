"""The PKI URL scheme certificates name (ca/urls.py)."""

from __future__ import annotations

import pytest
from cryptography import x509

from ca.errors import InvalidPkiConfiguration
from ca.profiles import ProfileName
from ca.urls import PkiUrls, base_url_named_by
from tests.ca.conftest import BASE_URL


def test_url_scheme_under_the_base_url() -> None:
    urls = PkiUrls("https://id.gov.kh/natid/")
    assert urls.base == "https://id.gov.kh/natid"
    assert urls.ca_issuers("citizen") == "https://id.gov.kh/natid/pki/ca/citizen.crt"
    assert urls.ocsp("citizen") == "https://id.gov.kh/natid/pki/ocsp/citizen"
    assert urls.crl("citizen") == "https://id.gov.kh/natid/pki/crl/citizen.crl"
    assert urls.delta_crl("citizen") == "https://id.gov.kh/natid/pki/crl/citizen-delta.crl"


def test_default_development_base_url_is_accepted() -> None:
    assert PkiUrls("http://localhost:8000").crl("root") == "http://localhost:8000/pki/crl/root.crl"


@pytest.mark.parametrize(
    "base",
    [
        "ftp://pki.gov.kh",
        "pki.gov.kh",
        "http://",
        "http://user:pw@pki.gov.kh",
        "http://pki.gov.kh/?x=1",
        "http://pki.gov.kh/#frag",
        "http://pki.gov.kh:99999",
        "http://pki.gov.kh/a b",
        "http://pki.gov.kh/\u1780",
    ],
)
def test_malformed_base_url_rejected(base: str) -> None:
    with pytest.raises(InvalidPkiConfiguration):
        PkiUrls(base)


@pytest.mark.parametrize("ca_name", ["../root", "Citizen", "citizen.crt", "", "a" * 33, "ci/ti"])
def test_path_traversal_in_ca_name_rejected(ca_name: str) -> None:
    with pytest.raises(InvalidPkiConfiguration):
        PkiUrls("http://pki.gov.kh").ca_issuers(ca_name)


def test_the_base_url_is_read_back_from_what_a_certificate_names(
    issued: dict[str, tuple[x509.Certificate, str]],
) -> None:
    # The issuing CA names the root's CRL and certificate; an end entity its CA's OCSP too.
    for profile in (ProfileName.ISSUING_CA, ProfileName.CITIZEN_AUTH, ProfileName.OCSP_RESPONDER):
        cert, issuer = issued[profile]
        assert base_url_named_by(cert, issuer) == BASE_URL
    root, _ = issued[ProfileName.ROOT_CA]
    assert base_url_named_by(root, "root") is None  # a root names no issuer's URLs
    cert, _ = issued[ProfileName.CITIZEN_AUTH]
    assert base_url_named_by(cert, "entity") is None  # another CA's URLs are not its own
