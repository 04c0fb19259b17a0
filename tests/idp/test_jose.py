"""The JOSE layer: NatID signs with keys that never leave the key backend, and what it signs
verifies with python-jose, joserfc and bare cryptography (from the published JWK alone);
what it verifies is held to a per-use allow-list that stops `none` and HMAC key confusion.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st
from jose import jws as jose_jws
from joserfc import jws as rfc_jws
from joserfc.jwk import ECKey, RSAKey

from hsm_adapters import KeyAlgorithm, KeyOperationRefused, SoftKeyBackend
from idp.errors import InvalidJWS
from idp.jose import (
    JWSUse,
    b64url_decode,
    b64url_encode,
    jwk_thumbprint,
    public_jwk,
    sign_jws,
    verify_jws,
)
from tests.idp.conftest import make_client_keys

CLAIMS = {"iss": "https://id.natid.gov.kh", "sub": "abc", "name": "សុខ ដារា", "n": 1}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forge(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    head = _b64(json.dumps(header).encode())
    body = _b64(json.dumps(claims).encode())
    return f"{head}.{body}.{_b64(signature)}"


@pytest.fixture
def es_key(backend: SoftKeyBackend) -> Any:
    return backend.generate("jose-es", KeyAlgorithm.EC_P256)


@pytest.fixture
def ps_key(backend: SoftKeyBackend) -> Any:
    return backend.generate("jose-ps", KeyAlgorithm.RSA_2048)


def test_backend_key_cannot_be_exported(es_key: Any) -> None:
    # The reason sign_jws exists: the libraries would need the private key bytes.
    with pytest.raises(KeyOperationRefused):
        es_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def test_es256_from_backend_verifies_with_python_jose_joserfc_and_cryptography(es_key: Any) -> None:
    jwk = public_jwk(es_key.public_key(), alg="ES256")
    token = sign_jws(CLAIMS, key=es_key, kid=jwk["kid"])
    header = json.loads(b64url_decode(token.split(".")[0]))
    assert header == {"alg": "ES256", "kid": jwk["kid"], "typ": "JWT"}
    # python-jose, from the JWK.
    assert json.loads(jose_jws.verify(token, jwk, algorithms=["ES256"])) == CLAIMS
    # joserfc, from the JWK.
    obj = rfc_jws.deserialize_compact(token, ECKey.import_key(jwk), algorithms=["ES256"])
    assert json.loads(obj.payload) == CLAIMS
    # Bare cryptography, rebuilding the key from x and y: R || S, 32 bytes each (RFC 7518 §3.4).
    numbers = ec.EllipticCurvePublicNumbers(
        int.from_bytes(b64url_decode(jwk["x"]), "big"),
        int.from_bytes(b64url_decode(jwk["y"]), "big"),
        ec.SECP256R1(),
    )
    head, body, sig = token.split(".")
    raw = b64url_decode(sig)
    assert len(raw) == 64
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    numbers.public_key().verify(der, f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
    # And NatID's own verifier.
    assert verify_jws(token, keys=[jwk], use=JWSUse.ID_TOKEN).claims == CLAIMS


def test_ps256_from_backend_verifies_with_joserfc_and_cryptography(ps_key: Any) -> None:
    jwk = public_jwk(ps_key.public_key(), alg="PS256")
    assert jwk["alg"] == "PS256" and jwk["kty"] == "RSA" and "d" not in jwk
    token = sign_jws(CLAIMS, key=ps_key, kid=jwk["kid"], typ="at+jwt")
    obj = rfc_jws.deserialize_compact(token, RSAKey.import_key(jwk), algorithms=["PS256"])
    assert json.loads(obj.payload) == CLAIMS
    public = rsa.RSAPublicNumbers(
        int.from_bytes(b64url_decode(jwk["e"]), "big"),
        int.from_bytes(b64url_decode(jwk["n"]), "big"),
    ).public_key()
    head, body, sig = token.split(".")
    public.verify(
        b64url_decode(sig),
        f"{head}.{body}".encode(),
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
        hashes.SHA256(),
    )
    verified = verify_jws(token, keys=[jwk], use=JWSUse.ACCESS_TOKEN, typ="at+jwt")
    assert verified.claims == CLAIMS


def test_kid_is_the_rfc7638_thumbprint(es_key: Any, ps_key: Any) -> None:
    for key, alg in ((es_key, "ES256"), (ps_key, "PS256")):
        jwk = public_jwk(key.public_key(), alg=alg)
        cls = ECKey if alg == "ES256" else RSAKey
        assert jwk["kid"] == cls.import_key(jwk).thumbprint() == jwk_thumbprint(jwk)
    # RFC 7638 §3.1's example key and thumbprint.
    example = {
        "kty": "RSA",
        "e": "AQAB",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tS"
        "oc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0"
        "_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI"
        "4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    }
    assert jwk_thumbprint(example) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_alg_none_rejected(es_key: Any) -> None:
    jwk = public_jwk(es_key.public_key(), alg="ES256")
    for alg in ("none", "None", "NONE"):
        token = _forge({"alg": alg, "kid": jwk["kid"]}, CLAIMS)
        for use in JWSUse:
            with pytest.raises(InvalidJWS, match="refused"):
                verify_jws(token, keys=[jwk], use=use)


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_hmac_keyed_with_the_public_key_rejected(ps_key: Any, alg: str) -> None:
    """The classic confusion: sign with HMAC using the *public* key as the secret."""
    jwk = public_jwk(ps_key.public_key(), alg="PS256")
    pem = ps_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    for secret in (pem, json.dumps(jwk).encode(), b64url_decode(jwk["n"])):
        head = _b64(json.dumps({"alg": alg, "kid": jwk["kid"]}).encode())
        body = _b64(json.dumps(CLAIMS).encode())
        sig = hmac.new(secret, f"{head}.{body}".encode(), digest).digest()
        token = f"{head}.{body}.{_b64(sig)}"
        for use in JWSUse:
            with pytest.raises(InvalidJWS, match="refused"):
                verify_jws(token, keys=[jwk], use=use)


def test_symmetric_keys_are_never_used(es_key: Any) -> None:
    # Even an allowed algorithm never selects an "oct" key, nor a JWK with private members.
    jwk = public_jwk(es_key.public_key(), alg="ES256")
    token = sign_jws(CLAIMS, key=es_key, kid=jwk["kid"])
    oct_key = {"kty": "oct", "k": _b64(b"x" * 32), "kid": jwk["kid"]}
    with pytest.raises(InvalidJWS, match="no trusted"):
        verify_jws(token, keys=[oct_key], use=JWSUse.ID_TOKEN)
    with pytest.raises(InvalidJWS, match="no trusted"):
        verify_jws(token, keys=[{**jwk, "d": "AAAA"}], use=JWSUse.ID_TOKEN)


def test_rs256_only_for_ordinary_client_assertions() -> None:
    rp = make_client_keys("PS256")
    jwk = rp.private.as_dict(private=False)
    token = rfc_jws.serialize_compact(
        {"alg": "RS256", "kid": rp.private.kid}, b'{"a":1}', rp.private, algorithms=["RS256"]
    )
    assert verify_jws(token, keys=[jwk], use=JWSUse.CLIENT_ASSERTION).claims == {"a": 1}
    for use in (JWSUse.CLIENT_ASSERTION_FAPI, JWSUse.ID_TOKEN, JWSUse.REQUEST_OBJECT_FAPI):
        with pytest.raises(InvalidJWS, match="'RS256' refused"):
            verify_jws(token, keys=[jwk], use=use)


def test_tampered_payload_and_wrong_key_fail(es_key: Any, backend: SoftKeyBackend) -> None:
    jwk = public_jwk(es_key.public_key(), alg="ES256")
    token = sign_jws(CLAIMS, key=es_key, kid=jwk["kid"])
    head, _, sig = token.split(".")
    tampered = f"{head}.{_b64(json.dumps({**CLAIMS, 'sub': 'other'}).encode())}.{sig}"
    with pytest.raises(InvalidJWS, match="does not verify"):
        verify_jws(tampered, keys=[jwk], use=JWSUse.ID_TOKEN)
    other = backend.generate("jose-other", KeyAlgorithm.EC_P256)
    other_jwk = {**public_jwk(other.public_key(), alg="ES256"), "kid": jwk["kid"]}
    with pytest.raises(InvalidJWS, match="does not verify"):
        verify_jws(token, keys=[other_jwk], use=JWSUse.ID_TOKEN)
    with pytest.raises(InvalidJWS, match="no trusted"):
        verify_jws(token, keys=[{**jwk, "kid": "another"}], use=JWSUse.ID_TOKEN)


@pytest.mark.parametrize(
    ("extra", "what"),
    [
        ({"crit": ["exp"]}, "critical"),
        ({"jku": "https://evil.example/jwks"}, "'jku'"),
        ({"x5u": "https://evil.example/cert"}, "'x5u'"),
        ({"jwk": {"kty": "EC"}}, "embedded"),
    ],
)
def test_header_tricks_rejected(es_key: Any, extra: dict[str, Any], what: str) -> None:
    jwk = public_jwk(es_key.public_key(), alg="ES256")
    header = {"alg": "ES256", "kid": jwk["kid"], **extra}
    head = _b64(json.dumps(header).encode())
    body = _b64(json.dumps(CLAIMS).encode())
    der = es_key.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    r, s = decode_dss_signature(der)
    token = f"{head}.{body}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
    with pytest.raises(InvalidJWS, match=what):
        verify_jws(token, keys=[jwk], use=JWSUse.ID_TOKEN)


def test_typ_is_enforced_when_asked(es_key: Any) -> None:
    jwk = public_jwk(es_key.public_key(), alg="ES256")
    id_token = sign_jws(CLAIMS, key=es_key, kid=jwk["kid"], typ="JWT")
    # An ID token cannot be replayed as an access token (RFC 9068 §4, RFC 8725 §3.11).
    with pytest.raises(InvalidJWS, match="typ"):
        verify_jws(id_token, keys=[jwk], use=JWSUse.ACCESS_TOKEN, typ="at+jwt")
    at = sign_jws(CLAIMS, key=es_key, kid=jwk["kid"], typ="at+jwt")
    assert verify_jws(at, keys=[jwk], use=JWSUse.ACCESS_TOKEN, typ="at+jwt")


def test_signature_does_not_verify_with_tampering_detected_by_cryptography(es_key: Any) -> None:
    jwk = public_jwk(es_key.public_key(), alg="ES256")
    token = sign_jws(CLAIMS, key=es_key, kid=jwk["kid"])
    head, body, sig = token.split(".")
    raw = bytearray(b64url_decode(sig))
    raw[5] ^= 1
    with pytest.raises(InvalidSignature):
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        es_key.public_key().verify(der, f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
    with pytest.raises(InvalidJWS):
        verify_jws(f"{head}.{body}.{b64url_encode(bytes(raw))}", keys=[jwk], use=JWSUse.ID_TOKEN)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300) | st.binary(max_size=300).map(lambda b: _b64(b) + "." + _b64(b) + "."))
def test_arbitrary_input_only_raises_invalid_jws(token: str) -> None:
    jwk = {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA", "kid": "k"}
    with pytest.raises(InvalidJWS):
        verify_jws(token, keys=[jwk], use=JWSUse.CLIENT_ASSERTION)
