"""``SigningKeys.signing_key()`` hands out one ``SigningKey`` while the active key and its
backend object stay the same, and a new one as soon as either changes (rotation, a key loaded
again), so the reuse can never sign with a key that is no longer active."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session, sessionmaker

from core.audit import AuditLedger
from core.clock import FixedClock
from hsm_adapters import SoftKeyBackend
from idp.jose import JWSUse, sign_jws, verify_jws
from idp.keys import SigningKey, SigningKeys

DAY = dt.timedelta(days=1)


def test_signing_key_reused_until_rotation(
    session_factory: sessionmaker[Session],
    backend: SoftKeyBackend,
    ledger: AuditLedger,
    clock: FixedClock,
) -> None:
    keys = SigningKeys(
        session_factory, keys=backend, ledger=ledger, clock=clock, cache_period=DAY
    )  # fmt: skip
    first = keys.ensure_active(actor="test")
    a = keys.signing_key()
    b = keys.signing_key()
    assert a == SigningKey(kid=first.kid, alg="ES256", key=a.key)
    assert b is a
    token = sign_jws({"sub": "x"}, key=b.key, kid=b.kid)
    assert verify_jws(token, keys=[first.jwk], use=JWSUse.ID_TOKEN).claims == {"sub": "x"}

    # A key object loaded again (another backend object): a new SigningKey with it.
    keys._loaded.clear()
    c = keys.signing_key()
    assert c.kid == first.kid and c.key is keys._loaded[first.label]
    assert keys.signing_key() is c
    # A new snapshot of the key table (other entry objects): a new, equal SigningKey.
    keys._snapshot = None
    d = keys.signing_key()
    assert d == c and d is not c

    keys.rotate(actor="test")  # publish next
    assert keys.signing_key().kid == first.kid
    clock.advance(DAY + dt.timedelta(seconds=1))
    result = keys.rotate(actor="test")  # activate next
    assert result.activated is not None
    after = keys.signing_key()
    assert after.kid == result.activated.kid != first.kid
    assert after.key is keys._loaded[result.activated.label]
