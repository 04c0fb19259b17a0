"""The key-object and header caches of :mod:`idp.jose`: a cached library key object is only ever
used for the identical JWK, so another key published under the same ``kid`` (a rotation that
reuses it, or a forger's key) is never checked against a stale entry; and the cached signing
header is byte for byte what the JSON of ``alg``, ``kid`` and ``typ`` encodes to."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from idp.errors import InvalidJWS
from idp.jose import JWSUse, b64url_encode, public_jwk, sign_jws, unverified_header, verify_jws

CLAIMS = {"iss": "https://id.natid.gov.kh", "sub": "abc", "name#km": "សុខ ដារា", "n": 1}
USE = JWSUse.ACCESS_TOKEN


def _key(alg: str) -> Any:
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _compact(value: dict[str, Any]) -> str:
    raw = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return b64url_encode(raw)


@pytest.mark.parametrize("alg", ["ES256", "PS256"])
def test_another_key_under_a_cached_kid_is_refused(alg: str) -> None:
    genuine, forger = _key(alg), _key(alg)
    trusted = public_jwk(genuine.public_key(), alg=alg)
    kid = trusted["kid"]
    token = sign_jws(CLAIMS, key=genuine, kid=kid)
    assert verify_jws(token, keys=[trusted], use=USE).claims == CLAIMS  # now cached
    forged = sign_jws(CLAIMS, key=forger, kid=kid)
    with pytest.raises(InvalidJWS, match="does not verify"):
        verify_jws(forged, keys=[trusted], use=USE)
    # The refusal did not disturb the genuine key's entry.
    assert verify_jws(token, keys=[trusted], use=USE).claims == CLAIMS


@pytest.mark.parametrize("alg", ["ES256", "PS256"])
def test_a_key_replaced_under_the_same_kid_is_not_served_from_the_old_entry(alg: str) -> None:
    old, new = _key(alg), _key(alg)
    old_jwk = public_jwk(old.public_key(), alg=alg)
    kid = old_jwk["kid"]
    new_jwk = {**public_jwk(new.public_key(), alg=alg), "kid": kid}
    old_token = sign_jws(CLAIMS, key=old, kid=kid)
    new_token = sign_jws(CLAIMS, key=new, kid=kid)
    assert verify_jws(old_token, keys=[old_jwk], use=USE).claims == CLAIMS
    # The trusted set now holds the replacement: the old key's tokens stop verifying at once,
    # the new key's verify, and the old entry no longer vouches for the new key's tokens.
    with pytest.raises(InvalidJWS, match="does not verify"):
        verify_jws(old_token, keys=[new_jwk], use=USE)
    assert verify_jws(new_token, keys=[new_jwk], use=USE).claims == CLAIMS
    with pytest.raises(InvalidJWS, match="does not verify"):
        verify_jws(new_token, keys=[old_jwk], use=USE)


def test_member_order_and_uncacheable_members_verify_the_same() -> None:
    key, other = _key("ES256"), _key("ES256")
    jwk = public_jwk(key.public_key(), alg="ES256")
    token = sign_jws(CLAIMS, key=key, kid=jwk["kid"])
    forged = sign_jws(CLAIMS, key=other, kid=jwk["kid"])
    reordered = dict(reversed(list(jwk.items())))
    with_list = {**jwk, "key_ops": ["verify"]}  # not all strings: built afresh each time
    for keys in ([jwk], [reordered], [with_list]):
        assert verify_jws(token, keys=keys, use=USE).claims == CLAIMS
        with pytest.raises(InvalidJWS, match="does not verify"):
            verify_jws(forged, keys=keys, use=USE)


def test_a_jwk_that_is_not_a_key_is_refused_every_time() -> None:
    key = _key("ES256")
    jwk = public_jwk(key.public_key(), alg="ES256")
    token = sign_jws(CLAIMS, key=key, kid=jwk["kid"])
    # Not a point on P-256: a failed build is never cached as a usable key.
    broken = {**jwk, "x": b64url_encode(b"\x01" * 32)}
    for _ in range(2):
        with pytest.raises(InvalidJWS, match="does not verify"):
            verify_jws(token, keys=[broken], use=USE)
    assert verify_jws(token, keys=[jwk], use=USE).claims == CLAIMS


def test_signed_headers_and_payloads_are_the_exact_compact_json() -> None:
    key = _key("ES256")
    for kid, typ in [("k1", "JWT"), ("k2", "at+jwt"), ("k1", "at+jwt"), ("k1", "JWT")]:
        token = sign_jws(CLAIMS, key=key, kid=kid, typ=typ)
        header_b64, payload_b64, _ = token.split(".")
        assert unverified_header(token) == {"alg": "ES256", "kid": kid, "typ": typ}
        assert header_b64 == _compact({"alg": "ES256", "kid": kid, "typ": typ})
        # UTF-8, not \\u escapes: the payload bytes are what they were before the caches.
        assert payload_b64 == _compact(CLAIMS)
        padded = payload_b64 + "=" * (-len(payload_b64) % 4)
        assert "សុខ".encode() in base64.urlsafe_b64decode(padded)


def test_a_trusted_jwk_is_verified_as_itself_never_as_a_set_of_nested_keys() -> None:
    # A registered JWK carrying a "keys" member: python-jose, handed the JWK as a mapping, took
    # it for a JWK Set and checked the signature against the nested keys, which had passed none
    # of the key checks. Handing it the picked key's object verifies under that key alone.
    picked, nested = _key("ES256"), _key("ES256")
    jwk = public_jwk(picked.public_key(), alg="ES256")
    trusted = {**jwk, "keys": [public_jwk(nested.public_key(), alg="ES256")]}
    by_nested = sign_jws(CLAIMS, key=nested, kid=jwk["kid"])
    with pytest.raises(InvalidJWS, match="does not verify"):
        verify_jws(by_nested, keys=[trusted], use=JWSUse.CLIENT_ASSERTION)
    by_picked = sign_jws(CLAIMS, key=picked, kid=jwk["kid"])
    assert verify_jws(by_picked, keys=[trusted], use=JWSUse.CLIENT_ASSERTION).claims == CLAIMS
