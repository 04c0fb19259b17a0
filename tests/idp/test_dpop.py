"""DPoP proof verification and server nonces (RFC 9449 §4.3, §8, §11.1), with proofs made by
joserfc the way a relying-party library makes them."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest

from core.cache import InMemoryCache
from core.clock import FixedClock
from idp.dpop import MAX_AGE, NONCE_PERIOD, DPoPVerifier, access_token_hash, normalize_htu
from idp.errors import InvalidDPoPProof, UseDPoPNonce
from tests.api.idp_token._rp import RPKey, dpop_proof, make_rp_key

URL = "https://id.natid.gov.kh/token"
SECRET = b"0123456789abcdef0123456789abcdef"


@pytest.fixture
def verifier(cache: InMemoryCache) -> DPoPVerifier:
    return DPoPVerifier(cache, secret=SECRET)


@pytest.fixture
def key() -> RPKey:
    return make_rp_key("ES256", kid="dpop")


def _verify(verifier: DPoPVerifier, proof: str | None, at: dt.datetime, **kw: Any) -> Any:
    kw.setdefault("method", "POST")
    kw.setdefault("url", URL)
    return verifier.verify(proof, at=at, **kw)


def _proof(verifier: DPoPVerifier, key: RPKey, at: dt.datetime, **kw: Any) -> str:
    kw.setdefault("method", "POST")
    kw.setdefault("url", URL)
    kw.setdefault("nonce", verifier.new_nonce(at=at))
    return dpop_proof(key, **{"at": at, **kw})


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_valid_proof_gives_the_rfc7638_thumbprint(
    verifier: DPoPVerifier, key: RPKey, clock: FixedClock
) -> None:
    at = clock.now()
    proof = _verify(verifier, _proof(verifier, key, at), at)
    expected = key.private.thumbprint()  # joserfc's own RFC 7638 implementation
    assert proof.jkt == expected
    assert "d" not in proof.jwk


def test_ps256_proof_accepted(verifier: DPoPVerifier, clock: FixedClock) -> None:
    rsa_key = make_rp_key("PS256")
    at = clock.now()
    assert _verify(verifier, _proof(verifier, rsa_key, at), at).jkt == rsa_key.jkt


def test_no_proof_gives_none(verifier: DPoPVerifier, clock: FixedClock) -> None:
    assert _verify(verifier, None, clock.now()) is None


def test_missing_nonce_is_answered_with_a_fresh_nonce_that_then_works(
    verifier: DPoPVerifier, key: RPKey, clock: FixedClock
) -> None:
    at = clock.now()
    with pytest.raises(UseDPoPNonce) as raised:
        _verify(verifier, _proof(verifier, key, at, nonce=None), at)
    nonce = raised.value.nonce
    assert _verify(verifier, _proof(verifier, key, at, nonce=nonce), at) is not None


def test_nonce_optional_when_not_required(
    verifier: DPoPVerifier, key: RPKey, clock: FixedClock
) -> None:
    at = clock.now()
    assert _verify(verifier, _proof(verifier, key, at, nonce=None), at, require_nonce=False)


def test_previous_bucket_nonce_accepted_older_refused(
    verifier: DPoPVerifier, key: RPKey, clock: FixedClock
) -> None:
    old_nonce = verifier.new_nonce(at=clock.now())
    clock.advance(NONCE_PERIOD)
    at = clock.now()
    assert _verify(verifier, _proof(verifier, key, at, nonce=old_nonce), at)
    clock.advance(NONCE_PERIOD)
    at = clock.now()
    with pytest.raises(UseDPoPNonce):
        _verify(verifier, _proof(verifier, key, at, nonce=old_nonce), at)


def test_nonce_of_another_server_secret_refused(
    cache: InMemoryCache, key: RPKey, clock: FixedClock
) -> None:
    at = clock.now()
    other = DPoPVerifier(cache, secret=b"another secret of at least 16 b")
    mine = DPoPVerifier(cache, secret=SECRET)
    with pytest.raises(UseDPoPNonce):
        _verify(mine, _proof(other, key, at), at)


def test_replayed_jti_refused(verifier: DPoPVerifier, key: RPKey, clock: FixedClock) -> None:
    at = clock.now()
    proof = _proof(verifier, key, at)
    _verify(verifier, proof, at)
    with pytest.raises(InvalidDPoPProof, match="replay"):
        _verify(verifier, proof, at + dt.timedelta(seconds=5))


def test_jti_longer_than_256_refused(verifier: DPoPVerifier, key: RPKey, clock: FixedClock) -> None:
    at = clock.now()
    with pytest.raises(InvalidDPoPProof, match="jti"):
        _verify(verifier, _proof(verifier, key, at, jti="j" * 257), at)


@pytest.mark.parametrize("missing", ["jti", "htm", "htu", "iat"])
def test_required_claim_missing_refused(
    verifier: DPoPVerifier, key: RPKey, clock: FixedClock, missing: str
) -> None:
    at = clock.now()
    with pytest.raises(InvalidDPoPProof):
        _verify(verifier, _proof(verifier, key, at, drop=(missing,)), at)


def test_wrong_htm_refused_and_case_matters(
    verifier: DPoPVerifier, key: RPKey, clock: FixedClock
) -> None:
    at = clock.now()
    with pytest.raises(InvalidDPoPProof, match="htm"):
        _verify(verifier, _proof(verifier, key, at, method="GET"), at)
    with pytest.raises(InvalidDPoPProof, match="htm"):
        _verify(verifier, _proof(verifier, key, at, method="post"), at)


def test_wrong_htu_refused(verifier: DPoPVerifier, key: RPKey, clock: FixedClock) -> None:
    at = clock.now()
    for url in (
        "https://id.natid.gov.kh/userinfo",
        "https://evil.example/token",
        "http://id.natid.gov.kh/token",
    ):
        with pytest.raises(InvalidDPoPProof, match="htu"):
            _verify(verifier, _proof(verifier, key, at, url=url), at)


def test_htu_compared_without_query_fragment_and_normalised(
    verifier: DPoPVerifier, key: RPKey, clock: FixedClock
) -> None:
    at = clock.now()
    for url in (
        "https://id.natid.gov.kh/token?x=1#frag",
        "HTTPS://ID.NATID.GOV.KH/token",
        "https://id.natid.gov.kh:443/token",
        "https://id.natid.gov.kh/%74oken",
    ):
        assert _verify(verifier, _proof(verifier, key, at, url=url), at), url
    assert normalize_htu("https://id.natid.gov.kh") == "https://id.natid.gov.kh/"


def test_ensure_dpopproof_with_iat_10seconds_before_succeeds(
    verifier: DPoPVerifier, key: RPKey, clock: FixedClock
) -> None:
    """Mirrors the FAPI 2.0 plan test
    ``fapi2-security-profile-final-ensure-dpopproof-with-iat-10seconds-before-succeeds``."""
    at = clock.now()
    proof = _proof(verifier, key, at - dt.timedelta(seconds=10), nonce=verifier.new_nonce(at=at))
    assert _verify(verifier, proof, at)


def test_ensure_dpopproof_with_iat_10seconds_after_succeeds(
    verifier: DPoPVerifier, key: RPKey, clock: FixedClock
) -> None:
    """Mirrors the FAPI 2.0 plan test
    ``fapi2-security-profile-final-ensure-dpopproof-with-iat-10seconds-after-succeeds``."""
    at = clock.now()
    proof = _proof(verifier, key, at + dt.timedelta(seconds=10), nonce=verifier.new_nonce(at=at))
    assert _verify(verifier, proof, at)


def test_proof_61_seconds_old_refused(
    verifier: DPoPVerifier, key: RPKey, clock: FixedClock
) -> None:
    at = clock.now()
    assert dt.timedelta(seconds=60) == MAX_AGE
    proof = _proof(verifier, key, at - dt.timedelta(seconds=61), nonce=verifier.new_nonce(at=at))
    with pytest.raises(InvalidDPoPProof, match="older"):
        _verify(verifier, proof, at)


def test_proof_from_far_future_refused(
    verifier: DPoPVerifier, key: RPKey, clock: FixedClock
) -> None:
    at = clock.now()
    proof = _proof(verifier, key, at + dt.timedelta(seconds=60), nonce=verifier.new_nonce(at=at))
    with pytest.raises(InvalidDPoPProof, match="future"):
        _verify(verifier, proof, at)


def test_check_dpop_proof_nbf_exp(verifier: DPoPVerifier, key: RPKey, clock: FixedClock) -> None:
    """Mirrors the FAPI 2.0 plan test
    ``fapi2-security-profile-final-check-dpop-proof-nbf-exp`` (honoured if present)."""
    at = clock.now()
    now = int(at.timestamp())
    assert _verify(verifier, _proof(verifier, key, at, nbf=now - 5, exp=now + 60), at)
    with pytest.raises(InvalidDPoPProof, match="exp"):
        _verify(verifier, _proof(verifier, key, at, exp=now - 1), at)
    with pytest.raises(InvalidDPoPProof, match="nbf"):
        _verify(verifier, _proof(verifier, key, at, nbf=now + 120), at)


def test_ath_required_and_checked_with_an_access_token(
    verifier: DPoPVerifier, key: RPKey, clock: FixedClock
) -> None:
    at = clock.now()
    with pytest.raises(InvalidDPoPProof, match="ath"):
        _verify(verifier, _proof(verifier, key, at), at, access_token="token-a")
    with pytest.raises(InvalidDPoPProof, match="ath"):
        _verify(
            verifier, _proof(verifier, key, at, access_token="token-b"), at, access_token="token-a"
        )
    proof = _proof(verifier, key, at, access_token="token-a")
    assert _verify(verifier, proof, at, access_token="token-a")
    assert (
        access_token_hash("token-a")
        == json.loads(base64.urlsafe_b64decode(proof.split(".")[1] + "=="))["ath"]
    )


def test_wrong_typ_refused(verifier: DPoPVerifier, key: RPKey, clock: FixedClock) -> None:
    at = clock.now()
    with pytest.raises(InvalidDPoPProof, match="typ"):
        _verify(verifier, _proof(verifier, key, at, header={"typ": "JWT"}), at)


def test_private_key_in_jwk_header_refused(
    verifier: DPoPVerifier, key: RPKey, clock: FixedClock
) -> None:
    at = clock.now()
    private = dict(key.private.as_dict(private=True))
    with pytest.raises(InvalidDPoPProof, match="private"):
        _verify(verifier, _proof(verifier, key, at, header={"jwk": private}), at)


def test_symmetric_jwk_refused(verifier: DPoPVerifier, key: RPKey, clock: FixedClock) -> None:
    at = clock.now()
    with pytest.raises(InvalidDPoPProof):
        _verify(
            verifier, _proof(verifier, key, at, header={"jwk": {"kty": "oct", "k": "AAAA"}}), at
        )


def test_proof_signed_by_another_key_than_its_jwk_refused(
    verifier: DPoPVerifier, key: RPKey, clock: FixedClock
) -> None:
    at = clock.now()
    other = make_rp_key("ES256")
    with pytest.raises(InvalidDPoPProof, match="not valid"):
        _verify(verifier, _proof(verifier, key, at, header={"jwk": other.public}), at)


def test_alg_none_refused(verifier: DPoPVerifier, key: RPKey, clock: FixedClock) -> None:
    at = clock.now()
    header = {"typ": "dpop+jwt", "alg": "none", "jwk": key.public}
    claims = {"jti": "x", "htm": "POST", "htu": URL, "iat": int(at.timestamp())}
    with pytest.raises(InvalidDPoPProof):
        _verify(verifier, f"{_b64(header)}.{_b64(claims)}.", at)


def test_rs256_proof_refused(verifier: DPoPVerifier, clock: FixedClock) -> None:
    at = clock.now()
    rsa_key = make_rp_key("PS256")
    rsa_key.alg = "RS256"
    with pytest.raises(InvalidDPoPProof, match="RS256"):
        _verify(verifier, _proof(verifier, rsa_key, at), at)


def test_garbage_refused(verifier: DPoPVerifier, clock: FixedClock) -> None:
    for value in ("", "abc", "a.b.c", "x" * 20000):
        with pytest.raises(InvalidDPoPProof):
            _verify(verifier, value, clock.now())


def test_short_secret_refused(cache: InMemoryCache) -> None:
    with pytest.raises(ValueError):
        DPoPVerifier(cache, secret=b"short")
