"""Signing-key rotation as relying parties experience it: a new key is in the JWKS before any
token uses it, the old one stays until its tokens have expired, then it is gone (and
destroyed in the key backend). Every step is in the audit ledger."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.orm import Session, sessionmaker

from core.audit import AuditLedger
from core.clock import FixedClock
from hsm_adapters import KeyNotFound, SoftKeyBackend
from idp.errors import RotationTooEarly, SigningKeyUnavailable
from idp.jose import JWSUse, sign_jws, verify_jws
from idp.keys import KeyState, SigningKeys

DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)


@pytest.fixture
def keys(
    session_factory: sessionmaker[Session],
    backend: SoftKeyBackend,
    ledger: AuditLedger,
    clock: FixedClock,
) -> SigningKeys:
    return SigningKeys(
        session_factory, keys=backend, ledger=ledger, clock=clock, cache_period=DAY,
        max_token_lifetime=HOUR,
    )  # fmt: skip


def _kids(keys: SigningKeys, clock: FixedClock) -> list[str]:
    return [k["kid"] for k in keys.jwks(at=clock.now())["keys"]]


def test_no_key_means_no_signing(keys: SigningKeys) -> None:
    with pytest.raises(SigningKeyUnavailable, match="natid idp keys rotate"):
        keys.signing_key()


def test_full_rotation_cycle(
    keys: SigningKeys, clock: FixedClock, backend: SoftKeyBackend, ledger: AuditLedger
) -> None:
    first = keys.ensure_active(actor="test")
    assert first.state is KeyState.ACTIVE and first.label == "idp-sig-1"
    assert keys.ensure_active().kid == first.kid  # idempotent
    signer = keys.signing_key()
    assert isinstance(signer.key, ec.EllipticCurvePrivateKey) and signer.alg == "ES256"
    old_token = sign_jws({"sub": "x"}, key=signer.key, kid=signer.kid)

    # Step 1: publish the next key; tokens are still signed by the first.
    published = keys.rotate(actor="test").published
    assert published is not None and published.state is KeyState.NEXT
    assert _kids(keys, clock) == [first.kid, published.kid]
    assert keys.signing_key().kid == first.kid

    # Too early to promote: a relying party may still hold yesterday's JWKS without it.
    clock.advance(DAY - dt.timedelta(seconds=1))
    with pytest.raises(RotationTooEarly, match="can be activated from"):
        keys.rotate(actor="test")

    # Step 2: after the cache period, the next key signs and the old one is retired.
    clock.advance(dt.timedelta(seconds=1))
    result = keys.rotate(actor="test")
    assert result.activated is not None and result.activated.kid == published.kid
    assert result.retired is not None and result.retired.kid == first.kid
    assert keys.signing_key().kid == published.kid
    # The retired key is still published, so tokens it signed still verify.
    assert verify_jws(old_token, keys=keys.jwks(at=clock.now())["keys"], use=JWSUse.ID_TOKEN)

    # Once every token it signed has expired it leaves the JWKS...
    clock.advance(HOUR)
    assert first.kid not in _kids(keys, clock)
    # ...and the next rotate removes it and destroys the private key.
    removed = keys.rotate(actor="test").removed
    assert [r.kid for r in removed] == [first.kid]
    with pytest.raises(KeyNotFound):
        backend.load(first.label)
    states = {k.kid: k.state for k in keys.list()}
    assert states[first.kid] is KeyState.REMOVED and states[published.kid] is KeyState.ACTIVE

    events = [e.event for e in ledger.tail(20) if e.event.startswith("idp.key.")]
    assert events == [
        "idp.key.published",
        "idp.key.activated",
        "idp.key.published",
        "idp.key.retired",
        "idp.key.activated",
        "idp.key.removed",
        "idp.key.published",
    ]


def test_jwks_holds_public_keys_only(keys: SigningKeys, clock: FixedClock) -> None:
    keys.ensure_active()
    keys.rotate()
    for jwk in keys.jwks(at=clock.now())["keys"]:
        assert set(jwk) == {"kty", "crv", "x", "y", "alg", "use", "kid"}
        assert jwk["use"] == "sig" and jwk["alg"] == "ES256"


def test_ps256_keys(
    session_factory: sessionmaker[Session], backend: SoftKeyBackend, ledger: AuditLedger,
    clock: FixedClock,
) -> None:  # fmt: skip
    from hsm_adapters import KeyAlgorithm

    keys = SigningKeys(
        session_factory, keys=backend, ledger=ledger, clock=clock, algorithm=KeyAlgorithm.RSA_2048
    )
    info = keys.ensure_active()
    assert info.alg == "PS256" and info.jwk["kty"] == "RSA"
    signer = keys.signing_key()
    token = sign_jws({"a": 1}, key=signer.key, kid=signer.kid)
    assert verify_jws(token, keys=keys.jwks(at=clock.now())["keys"], use=JWSUse.ID_TOKEN)


def test_second_worker_sees_the_same_active_key(
    keys: SigningKeys,
    session_factory: sessionmaker[Session],
    backend: SoftKeyBackend,
    ledger: AuditLedger,
    clock: FixedClock,
) -> None:
    first = keys.ensure_active()
    other = SigningKeys(session_factory, keys=backend, ledger=ledger, clock=clock)
    assert other.ensure_active().kid == first.kid
    assert len(keys.list()) == 1
