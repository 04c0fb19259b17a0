"""The backend-key classes and PKCS#11 encodings, without any backend.

The wrappers are where hashing, pre-hashed input and RSA padding parameters are decided for
every backend, so their arithmetic is checked here exactly (RFC 8017 salt lengths, DigestInfo
bytes), and the decoders of token-supplied bytes get property tests.
"""

from __future__ import annotations

import contextlib

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given
from hypothesis import strategies as st

from hsm_adapters import (
    BackendECPrivateKey,
    BackendRSAPrivateKey,
    InvalidSigningInput,
    KeyAlgorithm,
    KeyStoreCorrupt,
    UnsupportedAlgorithm,
)
from hsm_adapters import _p11_encoding as enc
from hsm_adapters._keys import Pkcs1v15, Pss, RsaScheme

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def rsa_wrapper(seen: list[RsaScheme] | None = None) -> BackendRSAPrivateKey:
    def signer(digest: bytes, algorithm: hashes.HashAlgorithm | None, scheme: RsaScheme) -> bytes:
        if seen is not None:
            seen.append(scheme)
        assert algorithm is not None
        pad: padding.AsymmetricPadding = (
            padding.PKCS1v15()
            if isinstance(scheme, Pkcs1v15)
            else padding.PSS(padding.MGF1(scheme.mgf_algorithm), scheme.salt_length)
        )
        return RSA_KEY.sign(digest, pad, utils.Prehashed(algorithm))

    return BackendRSAPrivateKey(
        label="rsa", backend_name="test", public_key=RSA_KEY.public_key(), signer=signer
    )


def ec_wrapper() -> BackendECPrivateKey:
    def signer(digest: bytes, algorithm: hashes.HashAlgorithm, *, deterministic: bool) -> bytes:
        return EC_KEY.sign(digest, ec.ECDSA(utils.Prehashed(algorithm)))

    return BackendECPrivateKey(
        label="ec", backend_name="test", public_key=EC_KEY.public_key(), signer=signer
    )


@pytest.mark.parametrize(
    ("salt", "expected"),
    [
        (padding.PSS.MAX_LENGTH, 256 - 32 - 2),  # RFC 8017 §9.1.1: emLen - hLen - 2
        (padding.PSS.AUTO, 256 - 32 - 2),  # AUTO signs with the maximum, as OpenSSL does
        (padding.PSS.DIGEST_LENGTH, 32),
        (0, 0),
        (20, 20),
    ],
)
def test_pss_salt_length_is_resolved_to_the_exact_number(salt: object, expected: int) -> None:
    seen: list[RsaScheme] = []
    key = rsa_wrapper(seen)
    pss = padding.PSS(padding.MGF1(hashes.SHA256()), salt)  # type: ignore[arg-type]
    signature = key.sign(b"data", pss, hashes.SHA256())
    assert seen[-1] == Pss(mgf_algorithm=hashes.SHA256(), salt_length=expected)
    # Verification with the explicit number only passes if exactly that salt was used.
    exact = padding.PSS(padding.MGF1(hashes.SHA256()), expected)
    RSA_KEY.public_key().verify(signature, b"data", exact, hashes.SHA256())


def test_pss_salt_longer_than_the_key_allows_is_refused() -> None:
    pss = padding.PSS(padding.MGF1(hashes.SHA256()), 300)
    with pytest.raises(InvalidSigningInput, match="at most 222"):
        rsa_wrapper().sign(b"data", pss, hashes.SHA256())


def test_prehashed_digest_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(InvalidSigningInput, match="32 bytes"):
        ec_wrapper().sign(b"short", ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    with pytest.raises(InvalidSigningInput, match="48 bytes"):
        rsa_wrapper().sign(b"x" * 32, padding.PKCS1v15(), utils.Prehashed(hashes.SHA384()))


def test_signature_schemes_a_signing_key_must_not_offer_are_refused() -> None:
    with pytest.raises(UnsupportedAlgorithm):
        ec_wrapper().sign(b"data", object())  # type: ignore[arg-type]
    oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
    with pytest.raises(UnsupportedAlgorithm):
        rsa_wrapper().sign(b"data", oaep, hashes.SHA256())
    with pytest.raises(UnsupportedAlgorithm):
        rsa_wrapper().sign(
            b"data", padding.PSS(padding.MGF1(hashes.SHA256()), 0), utils.NoDigestInfo()
        )


def test_wrappers_are_the_cryptography_types_the_builders_expect() -> None:
    assert isinstance(ec_wrapper(), ec.EllipticCurvePrivateKey)
    assert isinstance(rsa_wrapper(), rsa.RSAPrivateKey)
    assert ec_wrapper().curve.name == "secp256r1"
    assert rsa_wrapper().key_size == 2048


def test_digest_info_is_the_rfc_8017_encoding() -> None:
    # RFC 8017 §9.2, note 1: the DER prefixes for SHA-256 and SHA-384.
    sha256_prefix = bytes.fromhex("3031300d060960864801650304020105000420")
    sha384_prefix = bytes.fromhex("3041300d060960864801650304020205000430")
    assert enc.digest_info(hashes.SHA256(), b"\x00" * 32) == sha256_prefix + b"\x00" * 32
    assert enc.digest_info(hashes.SHA384(), b"\x01" * 48) == sha384_prefix + b"\x01" * 48
    with pytest.raises(UnsupportedAlgorithm):
        enc.digest_info(hashes.MD5(), b"\x00" * 16)


def test_digest_info_is_what_rsa_pkcs1_verification_accepts() -> None:
    for h in (hashes.SHA1(), hashes.SHA224(), hashes.SHA256(), hashes.SHA384(), hashes.SHA512()):
        digest = hashes.Hash(h)
        digest.update(b"data")
        raw = RSA_KEY.sign(
            enc.digest_info(h, digest.finalize()), padding.PKCS1v15(), utils.NoDigestInfo()
        )
        RSA_KEY.public_key().verify(raw, b"data", padding.PKCS1v15(), h)


def test_ec_point_attribute_accepted_wrapped_or_bare() -> None:
    point = EC_KEY.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    wrapped = b"\x04" + bytes([len(point)]) + point
    for value in (point, wrapped):
        assert enc.public_ec(KeyAlgorithm.EC_P256, value, "test") == EC_KEY.public_key()


@given(raw=st.binary(max_size=200))
def test_token_supplied_ec_point_bytes_decode_or_raise_key_store_corrupt(raw: bytes) -> None:
    for decode in (
        lambda: enc.public_ec(KeyAlgorithm.EC_P256, raw, "test"),
        lambda: enc.public_ec(KeyAlgorithm.EC_P384, raw, "test"),
        lambda: enc.public_ed25519(raw, "test"),
    ):
        with contextlib.suppress(KeyStoreCorrupt):
            decode()


@given(raw=st.binary(max_size=200))
def test_token_supplied_ecdsa_signature_bytes_encode_or_raise_key_store_corrupt(
    raw: bytes,
) -> None:
    try:
        der = enc.ecdsa_raw_to_der(raw)
    except KeyStoreCorrupt:
        assert len(raw) % 2 or not raw
        return
    half = len(raw) // 2
    assert decode_dss_signature(der) == (
        int.from_bytes(raw[:half], "big"),
        int.from_bytes(raw[half:], "big"),
    )
