"""``idp.jose``'s encoding fast paths agree with the standard library calls they replace, and
ES256 tokens signed through the soft key backend verify with the expected header and claims."""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from hsm_adapters import KeyAlgorithm, SoftKeyBackend
from idp import jose
from idp.jose import JWSUse, b64url_decode, b64url_encode, public_jwk, sign_jws, verify_jws


def _reference_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize(
    "value",
    [
        {},
        {"iss": "https://id.example", "exp": 1_790_000_000, "iat": 1.5, "ok": True, "n": None},
        {"name#km": "សុខ ដារា", "quote": 'a"b\\c\n\u2028', "emoji": "\U0001f600"},
        {"amr": ["pwd", "otp"], "cnf": {"jkt": "abc"}, "nested": [{"a": [1, 2, {"b": []}]}]},
        {"nan": math.nan, "inf": math.inf, "neg": -math.inf, "big": 10**30},
        {1: "int key", 2.5: "float key", False: "bool key", None: "none key"},
    ],
)
def test_json_bytes_equals_json_dumps(value: dict[Any, Any]) -> None:
    assert jose._json_bytes(value) == _reference_json(value)


def test_json_bytes_errors_unchanged() -> None:
    with pytest.raises(TypeError) as ours:
        jose._json_bytes({"x": object()})
    with pytest.raises(TypeError) as reference:
        _reference_json({"x": object()})
    assert str(ours.value) == str(reference.value)
    circular: dict[str, Any] = {}
    circular["self"] = circular
    with pytest.raises(ValueError, match="Circular reference detected"):
        jose._json_bytes(circular)
    # A failed encoding leaves nothing behind for the next one.
    shared: list[int] = [1]
    assert jose._json_bytes({"a": shared, "b": shared}) == b'{"a":[1],"b":[1]}'
    with pytest.raises(TypeError):
        jose._json_bytes({"k": (1, 2)}.keys())  # type: ignore[arg-type]


@pytest.mark.parametrize("size", range(0, 70))
def test_b64url_encode_equals_base64(size: int) -> None:
    data = bytes((i * 37 + 11) % 256 for i in range(size))
    expected = base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
    for given in (data, bytearray(data), memoryview(data)):
        assert b64url_encode(given) == expected  # type: ignore[arg-type]
    assert b64url_decode(expected) == data


def test_b64url_encode_refuses_text() -> None:
    with pytest.raises(TypeError):
        b64url_encode("text")  # type: ignore[arg-type]


def test_es256_through_the_soft_backend(tmp_path: Path) -> None:
    backend = SoftKeyBackend(tmp_path / "keys", "pass phrase", scrypt_n=2**14)
    key = backend.generate("idp-sig-1", KeyAlgorithm.EC_P256)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    jwk = public_jwk(key.public_key(), alg="ES256")
    claims = {"iss": "https://id.example", "sub": "s", "aud": "c", "exp": 2_000_000_000}
    for typ, use in (("at+jwt", JWSUse.ACCESS_TOKEN), ("JWT", JWSUse.ID_TOKEN)):
        token = sign_jws(claims, key=key, kid=jwk["kid"], typ=typ)
        header_b64, payload_b64, signature_b64 = token.split(".")
        assert json.loads(b64url_decode(header_b64)) == {
            "alg": "ES256",
            "kid": jwk["kid"],
            "typ": typ,
        }
        assert b64url_decode(payload_b64) == _reference_json(claims)
        verified = verify_jws(token, keys=[jwk], use=use)
        assert verified.claims == claims
        # RFC 7518 §3.4: R || S, 32 bytes each; verify independently with cryptography.
        raw = b64url_decode(signature_b64)
        assert len(raw) == 64
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        key.public_key().verify(
            der, f"{header_b64}.{payload_b64}".encode("ascii"), ec.ECDSA(hashes.SHA256())
        )
