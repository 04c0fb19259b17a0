"""OCSP on the wire: RFC 6960 Appendix A GET paths and hostile bytes (property tests)."""

from __future__ import annotations

import base64
import contextlib
import os
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ca.errors import MalformedOCSPRequest
from ca.ocsp import MAX_GET_PATH_CHARS, OCSPResponder, decode_get_path
from ca.revocation import RevocationStatus
from core.clock import FixedClock
from tests.ca._pki import Pki, make_pki, now_utc

PROPERTY = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


@pytest.fixture(scope="module")
def responder(pki: Pki) -> OCSPResponder:
    return OCSPResponder(
        pki.ca_cert,
        pki.responder_cert,
        pki.responder_key,
        clock=FixedClock(now_utc()),
        status_of=lambda _: RevocationStatus.good(),
        cache=None,
    )


def _request(pki: Pki, serial_hint: str) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(
        pki.leaf(serial_hint), pki.ca_cert, hashes.SHA1()
    )
    return builder.build().public_bytes(serialization.Encoding.DER)


def _request_with_all_specials(pki: Pki) -> bytes:
    """A real request whose base64 has '+', '/' and '=' padding.

    Its random nonce (16 or 17 octets: one of the two lengths is not a multiple of 3, so the
    base64 is padded) supplies the variety; a few tries find all three characters.
    """
    for n in range(500):
        builder = (
            ocsp.OCSPRequestBuilder()
            .add_certificate(pki.leaf("specials"), pki.ca_cert, hashes.SHA1())
            .add_extension(x509.OCSPNonce(os.urandom(16 + n % 2)), critical=False)
        )
        der = builder.build().public_bytes(serialization.Encoding.DER)
        text = base64.b64encode(der).decode()
        if "+" in text and "/" in text and text.endswith("="):
            return der
    raise AssertionError("no request with + / and = in 500 tries")


def test_get_request_with_plus_slash_and_padding_is_answered(
    pki: Pki, responder: OCSPResponder
) -> None:
    der = _request_with_all_specials(pki)
    text = base64.b64encode(der).decode()
    forms = {
        "as openssl and most clients send it (raw)": text,
        "fully url-encoded": quote(text, safe=""),
        "form-encoded, '+' became a space": text.replace("+", " "),
        "base64url without padding": text.replace("+", "-").replace("/", "_").rstrip("="),
        "lower-case escapes": quote(text, safe="").replace("%2B", "%2b"),
    }
    for form, path in forms.items():
        assert decode_get_path(path) == der, form
        response = ocsp.load_der_ocsp_response(responder.respond_get(path))
        assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL, form
        assert response.certificate_status is ocsp.OCSPCertStatus.GOOD, form


@pytest.mark.parametrize(
    "path", ["", "/", "%", "%zz", "!!!!", "YQ==x", "A", "a=b=", "\u17a0\u17a1", "%FF%FE"]
)
def test_get_path_that_is_not_base64_is_malformed(path: str, responder: OCSPResponder) -> None:
    with pytest.raises(MalformedOCSPRequest):
        decode_get_path(path)
    response = ocsp.load_der_ocsp_response(responder.respond_get(path))
    assert response.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_overlong_get_path_is_refused_before_decoding(responder: OCSPResponder) -> None:
    with pytest.raises(MalformedOCSPRequest, match="characters"):
        decode_get_path("A" * (MAX_GET_PATH_CHARS + 1))


@PROPERTY
@given(st.binary(min_size=1, max_size=600))
def test_get_path_round_trips_any_bytes(data: bytes) -> None:
    text = base64.b64encode(data).decode()
    assert decode_get_path(text) == data
    assert decode_get_path(quote(text, safe="")) == data
    assert decode_get_path(base64.urlsafe_b64encode(data).decode().rstrip("=")) == data


@PROPERTY
@given(st.text(max_size=300))
def test_get_path_decoder_raises_only_malformed(text: str) -> None:
    with contextlib.suppress(MalformedOCSPRequest):
        decode_get_path(text)


def _status_of(der: bytes) -> ocsp.OCSPResponseStatus:
    return ocsp.load_der_ocsp_response(der).response_status


@PROPERTY
@given(data=st.binary(max_size=2048))
def test_random_bytes_get_a_parseable_refusal(data: bytes, responder: OCSPResponder) -> None:
    assert _status_of(responder.respond(data)) in {
        ocsp.OCSPResponseStatus.MALFORMED_REQUEST,
        ocsp.OCSPResponseStatus.UNAUTHORIZED,
    }


@PROPERTY
@given(data=st.data())
def test_mutated_requests_never_raise(
    data: st.DataObject, pki: Pki, responder: OCSPResponder
) -> None:
    der = bytearray(_request(pki, "mutate"))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(der) - 1))
        der[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(der)))
    # Whatever the damage, the answer is an OCSPResponse a client can read.
    assert isinstance(_status_of(responder.respond(bytes(der[:cut]))), ocsp.OCSPResponseStatus)
